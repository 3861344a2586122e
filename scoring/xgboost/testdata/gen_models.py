#!/usr/bin/python3
"""Generates the small XGBoost test models of scoring/xgboost/testdata and
their golden predictions, with Debian's python3-xgboost 1.7.4 (numpy only).

    cd scoring/xgboost/testdata && /usr/bin/python3 gen_models.py

Every model NAME gets NAME.json (and NAME.ubj where noted) and NAME_test.csv:
row_id, the model's features (float32 values printed round-trip, "nan" =
missing), then margin_K (Booster.predict(output_margin=True)) and pred_K
(Booster.predict) for each output K, as float32 printed round-trip. The
predictions are XGBoost 1.7.4's own, on DMatrix(rows, missing=NaN) built
from exactly the float32 values in the CSV. Training is seeded, so a rerun
writes the same files (gen_models.log records the summary).

What each model covers:
  cat_reg        reg:squarederror, categorical splits: partition-based
                 (a 70-category feature, lists beyond one 64-bit word) and
                 one-hot (a 5-category feature), plus numeric features;
                 colsample_bytree leaves some trees numeric-only. The rows
                 hold valid codes, NaN, negatives (-1, -0.5, -0), non-integral
                 codes (2.5, 3.999), codes past the last category (70, 1000,
                 16777215, 16777216, 3e7), and split thresholds.
  cat_binary     binary:logistic with categorical splits (JSON and UBJSON).
  dart_binary    binary:logistic, dart booster (weight_drop < 1).
  dart_multi     multi:softprob, 3 classes, dart booster.
  linear_reg     reg:squarederror, gblinear, NaN inputs.
  linear_binary  binary:logistic, gblinear.
  linear_multi   multi:softprob, 3 classes, gblinear.
  linear_targets reg:squarederror, 2 targets, gblinear.
  hinge          binary:hinge.
  rank_pairwise, rank_ndcg, rank_map   ranking objectives (margin output).
  aft            survival:aft (exp in double precision) and
  cox            survival:cox (expf): 1000 rows plus every row of 20000
                 candidates on which expf and exp in double differ.
  multi_target   reg:squarederror with 3 targets (one tree per target and
                 round), as XGBoost >= 1.6 trains a 2-D label.
  multi_label    binary:logistic with 2 targets (multi-label).
Files that are not models streamscore reads, for its refusal messages:
  legacy.model   the deprecated binary format (save_model to a non-JSON name)
  dump.txt, dump.json   Booster.dump_model text and JSON dumps
"""
import ctypes
import json
import os

import numpy as np
import xgboost as xgb

assert xgb.__version__ == "1.7.4", xgb.__version__
HERE = os.path.dirname(os.path.abspath(__file__))
LOG = []
libm = ctypes.CDLL("libm.so.6")
libm.expf.restype = ctypes.c_float
libm.expf.argtypes = [ctypes.c_float]


def f32(v):
    """A float32 printed as the shortest decimal of its exact (double) value,
    so that float32(ParseFloat(s, 64)) is v again; "nan" for NaN."""
    v = np.float32(v)
    if np.isnan(v):
        return "nan"
    return repr(float(v))


def dmatrix(X, feature_types=None, feature_names=None):
    kw = {}
    if feature_types is not None:
        kw = {"feature_types": feature_types, "enable_categorical": True}
    return xgb.DMatrix(X.astype(np.float32), missing=np.nan, feature_names=feature_names, **kw)


def write(name, b, X, feature_names, feature_types=None, ubj=False):
    X = X.astype(np.float32)
    b.save_model(os.path.join(HERE, name + ".json"))
    if ubj:
        b.save_model(os.path.join(HERE, name + ".ubj"))
    d = dmatrix(X, feature_types, feature_names)
    margin = b.predict(d, output_margin=True)
    pred = b.predict(d)
    n = X.shape[0]
    margin = margin.reshape(n, -1)
    pred = pred.reshape(n, -1)
    k = margin.shape[1]
    with open(os.path.join(HERE, name + "_test.csv"), "w") as f:
        cols = ["row_id"] + feature_names + [f"margin_{j}" for j in range(k)] + [f"pred_{j}" for j in range(k)]
        f.write(",".join(cols) + "\n")
        for i in range(n):
            cells = [str(i)] + [f32(v) for v in X[i]] + [f32(v) for v in margin[i]] + [f32(v) for v in pred[i]]
            f.write(",".join(cells) + "\n")
    m = json.loads(b.save_raw("json"))
    gb = m["learner"]["gradient_booster"]
    model = gb.get("model") or gb["gbtree"]["model"]
    trees = model.get("trees", [])
    cat_trees = sum(1 for t in trees if 1 in t.get("split_type", []))
    LOG.append(f"{name}: {m['learner']['objective']['name']} {gb['name']}, {len(trees)} trees ({cat_trees} with categorical splits), "
               f"{n} rows x {k} outputs")
    return margin, pred


def thresholds(b, nfeat):
    m = json.loads(b.save_raw("json"))
    gb = m["learner"]["gradient_booster"]
    model = gb.get("model") or gb["gbtree"]["model"]
    th = [[] for _ in range(nfeat)]
    for t in model.get("trees", []):
        st = t.get("split_type") or [0] * len(t["left_children"])
        for l, fi, c, s in zip(t["left_children"], t["split_indices"], t["split_conditions"], st):
            if l != -1 and s == 0:
                th[fi].append(c)
    return th


def numeric_rows(rng, n, nfeat, th, scale=1.0):
    """Random values with 10% NaN, 30% exactly a split threshold, 10% one
    float32 ulp beside one."""
    X = (rng.normal(size=(n, nfeat)) * scale).astype(np.float32)
    for j in range(nfeat):
        for i in range(n):
            r = rng.random()
            if r < 0.1:
                X[i, j] = np.nan
            elif r < 0.4 and th[j]:
                X[i, j] = np.float32(th[j][rng.integers(len(th[j]))])
            elif r < 0.5 and th[j]:
                s = np.float32(th[j][rng.integers(len(th[j]))])
                X[i, j] = np.nextafter(s, np.float32(np.inf) if rng.random() < 0.5 else np.float32(-np.inf))
    return X


TRICKY_CODES = [np.nan, -1.0, -0.5, -0.0, 2.5, 3.999, 1e-30, -1e-30, 70.0, 1000.0, 16777215.0, 16777216.0, 3e7]


def cat_column(rng, n, ncat):
    c = rng.integers(0, ncat, n).astype(np.float32)
    tricky = rng.random(n) < 0.25
    c[tricky] = rng.choice(np.array(TRICKY_CODES, dtype=np.float32), tricky.sum())
    return c


def gen_categorical():
    rng = np.random.default_rng(11)
    n = 3000
    c70 = rng.integers(0, 70, n).astype(np.float32)
    c5 = rng.integers(0, 5, n).astype(np.float32)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    eff70 = rng.normal(size=70)
    y = eff70[c70.astype(int)] + np.where(c5 == 3, 1.5, 0.0) + x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.1, size=n)
    c70[rng.random(n) < 0.05] = np.nan
    X = np.stack([c70, c5, x[:, 0], x[:, 1]], 1)
    names = ["merchant", "channel", "amount", "age"]
    types = ["c", "c", "q", "q"]
    d = xgb.DMatrix(X, label=y, feature_names=names, feature_types=types, enable_categorical=True, missing=np.nan)
    b = xgb.train({"tree_method": "hist", "max_cat_to_onehot": 6, "max_depth": 4, "eta": 0.3, "colsample_bytree": 0.5,
                   "seed": 1}, d, 24)
    th = thresholds(b, 4)
    m = 2000
    Xt = np.stack([cat_column(rng, m, 70), cat_column(rng, m, 5)], 1)
    Xt = np.concatenate([Xt, numeric_rows(rng, m, 2, th[2:])], 1)
    write("cat_reg", b, Xt, names, types, ubj=True)

    yb = (y > np.median(y)).astype(np.float32)
    d = xgb.DMatrix(X, label=yb, feature_names=names, feature_types=types, enable_categorical=True, missing=np.nan)
    b = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_cat_to_onehot": 1, "max_depth": 3,
                   "eta": 0.3, "seed": 2}, d, 16)
    write("cat_binary", b, Xt[:500], names, types, ubj=True)


def gen_dart():
    rng = np.random.default_rng(21)
    n = 2000
    X = rng.normal(size=(n, 5)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) > 0).astype(np.float32)
    d = xgb.DMatrix(X, label=y, missing=np.nan)
    p = {"booster": "dart", "objective": "binary:logistic", "rate_drop": 0.3, "skip_drop": 0.0, "max_depth": 4,
         "eta": 0.3, "seed": 3}
    b = xgb.train(p, d, 30)
    w = json.loads(b.save_raw("json"))["learner"]["gradient_booster"]["weight_drop"]
    assert min(w) < 1, "dart weights all 1"
    names = [f"f{i}" for i in range(5)]
    write("dart_binary", b, numeric_rows(rng, 1000, 5, thresholds(b, 5)), names)

    y3 = (np.nan_to_num(X[:, 0]) > 0.5).astype(int) + (np.nan_to_num(X[:, 3]) > 0).astype(int)
    d = xgb.DMatrix(X, label=y3, missing=np.nan)
    p = {"booster": "dart", "objective": "multi:softprob", "num_class": 3, "rate_drop": 0.2, "skip_drop": 0.0,
         "normalize_type": "forest", "max_depth": 3, "eta": 0.3, "seed": 4}
    b = xgb.train(p, d, 15)
    write("dart_multi", b, numeric_rows(rng, 1000, 5, thresholds(b, 5)), names)


def gen_linear():
    rng = np.random.default_rng(31)
    n = 2000
    X = (rng.normal(size=(n, 6)) * [1, 10, 0.1, 100, 1, 1]).astype(np.float32)
    y = X @ np.array([0.5, -0.02, 3.0, 0.001, 0.0, 1.0]) + rng.normal(scale=0.1, size=n)
    X[rng.random(X.shape) < 0.1] = np.nan
    names = [f"f{i}" for i in range(6)]
    Xt = (rng.normal(size=(1000, 6)) * [1, 10, 0.1, 100, 1, 1]).astype(np.float32)
    Xt[rng.random(Xt.shape) < 0.15] = np.nan
    Xt[0] = np.nan  # every input missing: bias + base only
    Xt[1] = 0.0
    Xt[2] = -0.0
    d = xgb.DMatrix(X, label=y, missing=np.nan)
    b = xgb.train({"booster": "gblinear", "objective": "reg:squarederror", "eta": 0.5, "lambda": 0.1, "seed": 5, "nthread": 1}, d, 20)
    write("linear_reg", b, Xt, names)
    d = xgb.DMatrix(X, label=(y > 0).astype(np.float32), missing=np.nan)
    b = xgb.train({"booster": "gblinear", "objective": "binary:logistic", "eta": 0.5, "seed": 6, "nthread": 1}, d, 20)
    write("linear_binary", b, Xt, names)
    d = xgb.DMatrix(X, label=np.digitize(y, [-0.5, 0.5]), missing=np.nan)
    b = xgb.train({"booster": "gblinear", "objective": "multi:softprob", "num_class": 3, "eta": 0.5, "seed": 7, "nthread": 1}, d, 20)
    write("linear_multi", b, Xt, names)
    Y = np.stack([y, X[:, 0] * 2 - np.nan_to_num(X[:, 2])], 1)
    d = xgb.DMatrix(X, label=np.nan_to_num(Y), missing=np.nan)
    b = xgb.train({"booster": "gblinear", "objective": "reg:squarederror", "eta": 0.5, "seed": 8, "nthread": 1}, d, 20)
    write("linear_targets", b, Xt, names)


def expf_differs(m):
    return np.array([libm.expf(float(v)) for v in m], dtype=np.float32) != np.exp(m.astype(np.float64)).astype(np.float32)


exp64_differs = expf_differs


def link_rows(b, X, name, differs):
    """The first 1000 of X, then every further row on which the two
    candidate links (expf, exp in double) differ: the golden then tells
    them apart."""
    m = b.predict(dmatrix(X), output_margin=True)
    d = differs(m)
    keep = np.zeros(len(X), dtype=bool)
    keep[:1000] = True
    keep |= d
    LOG.append(f"  {name}: expf and exp in double differ on {d.sum()} of {len(X)} candidate rows; kept the first 1000 and those")
    return X[keep]


def gen_objectives():
    rng = np.random.default_rng(41)
    n = 2000
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    z = np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) * 0.5
    names = [f"f{i}" for i in range(4)]

    def rows(b, m=1500):
        return numeric_rows(rng, m, 4, thresholds(b, 4))

    d = xgb.DMatrix(X, label=(z > 0).astype(np.float32), missing=np.nan)
    b = xgb.train({"objective": "binary:hinge", "max_depth": 3, "seed": 8}, d, 10)
    write("hinge", b, rows(b), names)

    rel = np.clip(np.round(z + 1), 0, 3).astype(np.float32)
    for obj in ["rank:pairwise", "rank:ndcg", "rank:map"]:
        lab = rel if obj != "rank:map" else (rel > 1).astype(np.float32)
        d = xgb.DMatrix(X, label=lab, missing=np.nan)
        d.set_group([20] * (n // 20))
        b = xgb.train({"objective": obj, "max_depth": 3, "eta": 0.3, "seed": 9}, d, 10)
        write(obj.replace(":", "_"), b, rows(b), names)

    t = np.exp(z * 0.5 + rng.normal(size=n) * 0.3) + 0.1
    lo, hi = t.copy(), t.copy()
    hi[rng.random(n) < 0.3] = np.inf
    d = xgb.DMatrix(X, missing=np.nan)
    d.set_float_info("label_lower_bound", lo)
    d.set_float_info("label_upper_bound", hi)
    b = xgb.train({"objective": "survival:aft", "aft_loss_distribution": "normal", "max_depth": 4, "eta": 0.3,
                   "seed": 10}, d, 20)
    write("aft", b, link_rows(b, rows(b, 20000), "aft", expf_differs), names)

    yc = t.copy()
    yc[rng.random(n) < 0.3] *= -1
    d = xgb.DMatrix(X, label=yc, missing=np.nan)
    b = xgb.train({"objective": "survival:cox", "max_depth": 4, "eta": 0.3, "seed": 11}, d, 20)
    write("cox", b, link_rows(b, rows(b, 20000), "cox", exp64_differs), names)


def gen_multi_target():
    rng = np.random.default_rng(51)
    n = 2000
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    x = np.nan_to_num(X)
    Y = np.stack([x[:, 0] + x[:, 1], x[:, 2] * 2 - x[:, 0], np.abs(x[:, 3])], 1)
    names = [f"f{i}" for i in range(4)]
    d = xgb.DMatrix(X, label=Y, missing=np.nan)
    b = xgb.train({"tree_method": "hist", "max_depth": 3, "eta": 0.3, "seed": 12}, d, 8)
    write("multi_target", b, numeric_rows(rng, 1000, 4, thresholds(b, 4)), names, ubj=True)
    Yb = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0], 1).astype(np.float32)
    d = xgb.DMatrix(X, label=Yb, missing=np.nan)
    b = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_depth": 3, "eta": 0.3, "seed": 13}, d, 8)
    write("multi_label", b, numeric_rows(rng, 1000, 4, thresholds(b, 4)), names)


def gen_not_models():
    rng = np.random.default_rng(61)
    X = rng.normal(size=(100, 3)).astype(np.float32)
    d = xgb.DMatrix(X, label=(X[:, 0] > 0).astype(np.float32))
    b = xgb.train({"objective": "binary:logistic", "max_depth": 2, "seed": 14}, d, 2)
    b.save_model(os.path.join(HERE, "legacy.model"))
    b.dump_model(os.path.join(HERE, "dump.txt"))
    b.dump_model(os.path.join(HERE, "dump.json"), dump_format="json")
    LOG.append("legacy.model, dump.txt, dump.json: binary:logistic, 2 trees")


if __name__ == "__main__":
    gen_not_models()
    gen_categorical()
    gen_dart()
    gen_linear()
    gen_objectives()
    gen_multi_target()
    with open(os.path.join(HERE, "gen_models.log"), "w") as f:
        f.write(f"XGBoost {xgb.__version__}, numpy {np.__version__}\n")
        f.write("\n".join(LOG) + "\n")
    print("\n".join(LOG))

#!/usr/bin/python3
"""Writes XGBoost 1.7.4's own feature contributions (pred_contribs) for the
test models of scoring/xgboost/testdata, with Debian's python3-xgboost.

    cd scoring/xgboost/testdata && /usr/bin/python3 gen_contribs.py

For every (model, rows) pair below it writes ROWS_contribs.csv (ROWS the
rows file without .csv): row (the row's position in the rows file), then
per output group g: margin_g (Booster.predict(output_margin=True)),
contrib_g_<feature> for each feature and contrib_g_bias
(Booster.predict(pred_contribs=True)), float32 printed round-trip. The
rows are the feature columns of the rows file as float32 ("nan" =
missing), scored on DMatrix(rows, missing=NaN) with the model's feature
names and types, as gen_models.py does; those files hold NaN inputs,
values equal to split conditions and their float32 neighbours.

It writes rows for the bundled models of models/ (fraud, takeover):
bundled_NAME_test.csv, row_id then the features, 1000 rows drawn as
gen_models.py draws them (NaN, split conditions, their neighbours).

It also trains one model of its own, shap_deep (reg:squarederror, 16
features, depth 14: paths with more distinct features than the served
algorithm tabulates, which then takes the classic one), and writes
shap_deep.json and shap_deep_test.csv as gen_models.py writes its models;
and shap_cancel (pseudo-Huber regression at learning rate 1: contributions
that cancel, some over 10 times their margin), JSON and UBJSON.
Training is seeded; gen_contribs.log records the summary.
"""
import csv
import json
import os

import numpy as np
import xgboost as xgb

from gen_models import f32, numeric_rows, thresholds

assert xgb.__version__ == "1.7.4", xgb.__version__
HERE = os.path.dirname(os.path.abspath(__file__))
LOG = []

# model -> rows files (relative to testdata)
PAIRS = [
    ("xgb_fraud", ["xgb_fraud_test.csv", "xgb_fraud_boundary.csv"]),
    ("xgb_reg", ["xgb_reg_test.csv"]),
    ("xgb_multi", ["xgb_multi_test.csv"]),
    ("cat_reg", ["cat_reg_test.csv"]),
    ("cat_binary", ["cat_binary_test.csv"]),
    ("dart_binary", ["dart_binary_test.csv"]),
    ("dart_multi", ["dart_multi_test.csv"]),
    ("linear_reg", ["linear_reg_test.csv"]),
    ("linear_binary", ["linear_binary_test.csv"]),
    ("linear_multi", ["linear_multi_test.csv"]),
    ("linear_targets", ["linear_targets_test.csv"]),
    ("multi_target", ["multi_target_test.csv"]),
    ("multi_label", ["multi_label_test.csv"]),
    ("hinge", ["hinge_test.csv"]),
    ("cox", ["cox_test.csv"]),
    ("shap_deep", ["shap_deep_test.csv"]),
    ("shap_cancel", ["shap_cancel_test.csv"]),
    # the bundled models (models/), on rows of their own (gen_bundled_rows)
    ("../../../models/fraud", ["bundled_fraud_test.csv"]),
    ("../../../models/takeover", ["bundled_takeover_test.csv"]),
]


def read_rows(path, names):
    with open(path) as f:
        rd = csv.DictReader(f)
        return np.array([[float(r[n]) for n in names] for r in rd], dtype=np.float64).astype(np.float32)


def gen_deep():
    rng = np.random.default_rng(71)
    n, nf = 3000, 16
    X = rng.normal(size=(n, nf)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    x = np.nan_to_num(X)
    y = np.sin(x).sum(1) + np.prod(np.tanh(x[:, :6]), 1) * 3 + rng.normal(scale=0.1, size=n)
    names = [f"f{i}" for i in range(nf)]
    d = xgb.DMatrix(X, label=y, missing=np.nan, feature_names=names)
    b = xgb.train({"max_depth": 14, "eta": 0.3, "min_child_weight": 4, "seed": 15, "nthread": 1}, d, 4)
    Xt = write_own(b, "shap_deep", rng, names)
    m = json.loads(b.save_raw("json"))
    trees = m["learner"]["gradient_booster"]["model"]["trees"]
    most = 0
    for t in trees:
        def walk(i, feats):
            nonlocal most
            if t["left_children"][i] == -1:
                most = max(most, len(set(feats)))
                return
            f = t["split_indices"][i]
            walk(t["left_children"][i], feats + [f])
            walk(t["right_children"][i], feats + [f])
        walk(0, [])
    LOG.append(f"shap_deep: reg:squarederror gbtree, {len(trees)} trees, at most {most} distinct features on a path, {len(Xt)} rows")


def write_own(b, name, rng, names, ubj=False):
    """Saves a model trained here (NAME.json, and NAME.ubj when ubj) and
    writes NAME_test.csv: 1000 rows drawn as gen_models.py draws them, with
    the model's margin and prediction. Returns the rows."""
    b.save_model(os.path.join(HERE, name + ".json"))
    if ubj:
        b.save_model(os.path.join(HERE, name + ".ubj"))
    Xt = numeric_rows(rng, 1000, len(names), thresholds(b, len(names)))
    dt = xgb.DMatrix(Xt, missing=np.nan, feature_names=names)
    margin = b.predict(dt, output_margin=True).reshape(len(Xt), -1)
    pred = b.predict(dt).reshape(len(Xt), -1)
    with open(os.path.join(HERE, name + "_test.csv"), "w") as f:
        f.write(",".join(["row_id"] + names + ["margin_0", "pred_0"]) + "\n")
        for i in range(len(Xt)):
            f.write(",".join([str(i)] + [f32(v) for v in Xt[i]] + [f32(margin[i, 0]), f32(pred[i, 0])]) + "\n")
    return Xt


def gen_cancel():
    """shap_cancel: a pseudo-Huber regression at learning rate 1 whose
    trees' leaves are large and cancel, so that some rows' contributions are
    more than 10 times their margin (and 1): closer to XGBoost's float32
    rounding than its tolerance allows the served tables to be."""
    rng = np.random.default_rng(3)
    n, nf = 3000, 3
    X = rng.normal(size=(n, nf)).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    x = np.nan_to_num(X)
    y = x[:, 0] + 0.5 * x[:, -1] ** 2 + rng.normal(scale=0.3, size=n)
    names = [f"f{i}" for i in range(nf)]
    d = xgb.DMatrix(X, label=y, missing=np.nan, feature_names=names)
    b = xgb.train({"objective": "reg:pseudohubererror", "eta": 1.0, "max_depth": 4, "tree_method": "exact",
                   "seed": 3, "nthread": 1}, d, 20)
    Xt = write_own(b, "shap_cancel", rng, names, ubj=True)
    dt = xgb.DMatrix(Xt, missing=np.nan, feature_names=names)
    c = b.predict(dt, pred_contribs=True)[:, :-1]
    m = b.predict(dt, output_margin=True)
    big = int((np.abs(c).max(1) > 10.5 * np.maximum(1, np.abs(m))).sum())
    LOG.append(f"shap_cancel: reg:pseudohubererror gbtree, 20 trees, {len(Xt)} rows, {big} with a contribution over 10.5 x max(1, |margin|)")


def gen_bundled_rows():
    rng = np.random.default_rng(81)
    for name in ["fraud", "takeover"]:
        b = xgb.Booster(model_file=os.path.join(HERE, "../../../models", name + ".json"))
        names = b.feature_names
        X = numeric_rows(rng, 1000, len(names), thresholds(b, len(names)), scale=10.0)
        with open(os.path.join(HERE, f"bundled_{name}_test.csv"), "w") as f:
            f.write(",".join(["row_id"] + names) + "\n")
            for i in range(len(X)):
                f.write(",".join([str(i)] + [f32(v) for v in X[i]]) + "\n")


def write_contribs(name, rows_file):
    b = xgb.Booster(model_file=os.path.join(HERE, name + ".json"))
    names = b.feature_names or [f"f{i}" for i in range(b.num_features())]
    X = read_rows(os.path.join(HERE, rows_file), names)
    kw = {}
    if b.feature_types and "c" in b.feature_types:
        kw = {"feature_types": b.feature_types, "enable_categorical": True}
    d = xgb.DMatrix(X, missing=np.nan, feature_names=names, **kw)
    n = X.shape[0]
    margin = b.predict(d, output_margin=True).reshape(n, -1)
    contribs = b.predict(d, pred_contribs=True).reshape(n, margin.shape[1], len(names) + 1)
    groups = margin.shape[1]
    out = rows_file[: -len(".csv")] + "_contribs.csv"
    cols = ["row"]
    for g in range(groups):
        cols += [f"margin_{g}"] + [f"contrib_{g}_{f}" for f in names] + [f"contrib_{g}_bias"]
    with open(os.path.join(HERE, out), "w") as f:
        f.write(",".join(cols) + "\n")
        for i in range(n):
            cells = [str(i)]
            for g in range(groups):
                cells += [f32(margin[i, g])] + [f32(v) for v in contribs[i, g]]
            f.write(",".join(cells) + "\n")
    gap = np.abs(contribs.sum(-1) - margin).max()
    LOG.append(f"{out}: {os.path.basename(name)}, {n} rows x {groups} groups x {len(names) + 1}; max |sum - margin| {gap:.3g}")


if __name__ == "__main__":
    gen_deep()
    gen_cancel()
    gen_bundled_rows()
    for name, files in PAIRS:
        for rows_file in files:
            write_contribs(name, rows_file)
    with open(os.path.join(HERE, "gen_contribs.log"), "w") as f:
        f.write(f"XGBoost {xgb.__version__}, numpy {np.__version__}\n")
        f.write("\n".join(LOG) + "\n")
    print("\n".join(LOG))

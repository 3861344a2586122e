#!/usr/bin/python3
"""Cross-checks streamscore against Debian's XGBoost 1.7.4 on external models
that the shared reference set (../shared/reference/external) scores without
reference rows: XGBoost 3.4.1 categorical, multi-target, quantile and
expectile models, a gblinear model, a 1.4 categorical model.

    crosscheck_external.py EXTERNAL_DIR STREAMSCORE MODEL_ID...

The models are read from EXTERNAL_DIR/models and never copied anywhere but a
temporary folder. XGBoost 1.7.4 ignores the vector base_score that 3.1+
writes and has neither reg:quantileerror nor reg:expectileerror, so each
model is scored through a temporary copy that both sides read the same way:
  * base_score: a scalar (the common value when all outputs share one, else
    0.5 for logistic objectives and 0 otherwise) -- the vector case itself
    is checked by the set's stored predictions of the 3.1.1/3.4.1 models;
  * the stored category names ("cats") removed, so that the rows carry the
    category codes to both (streamscore would otherwise map names to codes);
  * reg:quantileerror / reg:expectileerror with one alpha: XGBoost 1.7.4 is
    given reg:squarederror, whose transform is the same identity.
Rows: 3000 per model, seeded: 10% missing; categorical features a valid
code, or 20% of the time one past the last category, -1, -0.5, 2.5 or 1e6;
numeric features a split threshold or a value around the thresholds.
Prints one line per model: "ID: N of M rows equal".
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import xgboost as xgb


def tree_facts(model, nfeat):
    th = [[] for _ in range(nfeat)]
    top = [0] * nfeat
    for t in model.get("trees", []):
        st = t.get("split_type") or [0] * len(t["left_children"])
        for l, f, c, s in zip(t["left_children"], t["split_indices"], t["split_conditions"], st):
            if l != -1 and s == 0:
                th[f].append(c)
        for nid, beg, size in zip(t.get("categories_nodes", []), t.get("categories_segments", []), t.get("categories_sizes", [])):
            f = t["split_indices"][nid]
            for c in t["categories"][beg:beg + size]:
                top[f] = max(top[f], c)
    return th, top


def rows(rng, n, types, th, top):
    X = np.zeros((n, len(types)), dtype=np.float32)
    for j, typ in enumerate(types):
        for i in range(n):
            r = rng.random()
            if r < 0.1:
                X[i, j] = np.nan
            elif typ == "c":
                if r < 0.3:
                    X[i, j] = rng.choice([top[j] + 1, -1, -0.5, 2.5, 1e6])
                else:
                    X[i, j] = rng.integers(0, top[j] + 1)
            elif th[j] and r < 0.5:
                X[i, j] = th[j][rng.integers(len(th[j]))]
            elif th[j]:
                X[i, j] = rng.uniform(min(th[j]) - 1, max(th[j]) + 1)
            else:
                X[i, j] = rng.normal()
    return X


def check(ext, ss, mid, tmp, rng):
    m = json.load(open(os.path.join(ext, "models", mid)))
    L = m["learner"]
    lmp = L["learner_model_param"]
    obj = L["objective"]["name"]
    bs = lmp["base_score"].strip("[]").split(",")
    if len(set(bs)) == 1:
        lmp["base_score"] = bs[0]
    else:
        lmp["base_score"] = "5E-1" if "logistic" in obj else "0E0"
    gb = L["gradient_booster"]
    model = gb.get("model") or gb["gbtree"]["model"]
    model.pop("cats", None)
    nfeat = int(lmp["num_feature"])
    types = ["c" if t == "c" else "q" for t in (L.get("feature_types") or ["q"] * nfeat)]
    names = L.get("feature_names") or [f"f{i}" for i in range(nfeat)]
    path = os.path.join(tmp, mid)
    json.dump(m, open(path, "w"))  # what streamscore scores
    if obj in ("reg:quantileerror", "reg:expectileerror"):
        L["objective"] = {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}}
    ref = os.path.join(tmp, "ref-" + mid)
    json.dump(m, open(ref, "w"))  # what XGBoost 1.7.4 scores
    b = xgb.Booster(model_file=ref)
    th, top = tree_facts(model, nfeat)
    n = 3000
    X = rows(rng, n, types, th, top)
    kw = {"feature_types": types, "enable_categorical": True} if "c" in types else {}
    want = b.predict(xgb.DMatrix(X, missing=np.nan, feature_names=names, **kw)).reshape(n, -1)
    inp, out = os.path.join(tmp, "in.csv"), os.path.join(tmp, "out.csv")
    with open(inp, "w") as f:
        f.write(",".join(["row_id"] + names) + "\n")
        for i in range(n):
            f.write(",".join([str(i)] + ["" if np.isnan(v) else repr(float(v)) for v in X[i]]) + "\n")
    r = subprocess.run([ss, "score", "--model", path, "--input", inp, "--output", out], capture_output=True, text=True)
    if r.returncode:
        return f"{mid}: streamscore failed: {r.stderr.strip()}"
    got = list(csv.DictReader(open(out)))
    k = want.shape[1]
    cols = ["score"] if k == 1 else [f"target_{j}" for j in range(k)]
    equal = sum(all(np.float32(float(g[c])) == want[i, j] for j, c in enumerate(cols)) for i, g in enumerate(got))
    return f"{mid}: {equal} of {n} rows equal"


def main():
    ext, ss, ids = sys.argv[1], sys.argv[2], sys.argv[3:]
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        for mid in ids:
            print(check(ext, ss, mid, tmp, rng), flush=True)


if __name__ == "__main__":
    main()

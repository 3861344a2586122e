#!/usr/bin/env python3
"""Train a bundled binary XGBoost model on loadgen's labelled training file.

    go run ./cmd/loadgen --training-file /tmp/fraud-train.csv --count 200000
    python3 models/train.py /tmp/fraud-train.csv models/fraud.json

    go run ./cmd/loadgen --training-file /tmp/takeover-train.csv --count 200000 \
        --kind activity --features models/takeover.features.yaml
    python3 models/train.py /tmp/takeover-train.csv models/takeover.json

Needs Debian's python3-xgboost (1.7.4 when these models were trained) and
numpy. The CSV's columns are the features of the model's features file,
computed by streamscore's own feature code, then the label, so the model
is trained on exactly what it is served. Prints the hold-out AUC.
"""
import sys

import numpy as np
import xgboost as xgb


def auc(y, p):
    """Area under the ROC curve via the rank-sum (ties get average ranks)."""
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sp = p[order]
    i = 0
    while i < len(sp):
        j = i
        while j + 1 < len(sp) and sp[j + 1] == sp[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def main(src, dst):
    with open(src) as f:
        header = f.readline().strip().split(",")
    data = np.genfromtxt(src, delimiter=",", skip_header=1, dtype=np.float64)
    features, X, y = header[:-1], data[:, :-1], data[:, -1]
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(y))
    cut = int(0.8 * len(y))
    tr, te = idx[:cut], idx[cut:]
    dtrain = xgb.DMatrix(X[tr], label=y[tr], feature_names=features, missing=np.nan)
    dtest = xgb.DMatrix(X[te], label=y[te], feature_names=features, missing=np.nan)
    params = {
        "objective": "binary:logistic",
        "eval_metric": "auc",
        "max_depth": 5,
        "eta": 0.15,
        "subsample": 0.8,
        "colsample_bytree": 0.9,
        "tree_method": "hist",
        "base_score": float(y[tr].mean()),
        "seed": 7,
        "nthread": 1,
    }
    booster = xgb.train(params, dtrain, num_boost_round=80)
    p = booster.predict(dtest)
    print(f"xgboost {xgb.__version__}: {len(tr)} training rows, {len(te)} hold-out rows, "
          f"positive rate {y.mean():.4f}")
    print(f"hold-out AUC {auc(y[te], p):.4f}")
    booster.save_model(dst)
    print(f"saved {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

#!/usr/bin/env python3
"""Train a bundled binary XGBoost model on loadgen's labelled training file.

    go run ./cmd/loadgen --training-file /tmp/fraud-train.csv --count 300000 --seed 1
    /usr/bin/python3 models/train.py /tmp/fraud-train.csv models/fraud.json \\
        --features models/fraud.features.yaml --golden models/testdata/fraud_golden.csv

    go run ./cmd/loadgen --training-file /tmp/takeover-train.csv --count 200000 \\
        --kind activity --features models/takeover.features.yaml
    /usr/bin/python3 models/train.py /tmp/takeover-train.csv models/takeover.json

Needs Debian's python3-xgboost (1.7.4 when these models were trained),
numpy and, for --features, python3-yaml. The CSV's columns are the features
of the model's features file, computed by streamscore's own serving code
(loadgen scores a synthetic log of both kinds with `streamscore score`'s
code, aggregates included), then the label, so the model is trained on
exactly what it is served. An empty cell (or nan) is a missing value.

The rows are in event-time order: the first 80% train, the last 20% are
the hold-out (a later period, as the model will meet). Prints the hold-out
AUC. With --features, the features file's aggregate features (those with
`aggregate:`) are known, and a baseline model without them is trained on
the same rows with the same hyper-parameters, so the AUC of the history
can be read off; the model saved is the one with every feature.
"""
import argparse

import numpy as np
import xgboost as xgb

PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "max_depth": 5,
    "eta": 0.15,
    "subsample": 0.8,
    "colsample_bytree": 0.9,
    "tree_method": "hist",
    "seed": 7,
    "nthread": 1,
}
ROUNDS = 80


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


def aggregate_features(path):
    """The names of a features file's aggregate features."""
    import yaml

    with open(path) as f:
        doc = yaml.safe_load(f)
    return [f["name"] for f in doc["features"] if isinstance(f, dict) and "aggregate" in f]


def fit(X, y, features, tr, te):
    params = dict(PARAMS, base_score=float(y[tr].mean()))
    dtrain = xgb.DMatrix(X[tr], label=y[tr], feature_names=features, missing=np.nan)
    dtest = xgb.DMatrix(X[te], label=y[te], feature_names=features, missing=np.nan)
    booster = xgb.train(params, dtrain, num_boost_round=ROUNDS)
    return booster, auc(y[te], booster.predict(dtest))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train", help="loadgen --training-file CSV")
    ap.add_argument("model", help="where to save the model (XGBoost JSON)")
    ap.add_argument("--features", help="the features file: also train a baseline without its aggregates")
    ap.add_argument("--golden", help="write the first 2000 hold-out rows and XGBoost's own predictions of them to this CSV")
    a = ap.parse_args()
    with open(a.train) as f:
        header = f.readline().strip().split(",")
    data = np.genfromtxt(a.train, delimiter=",", skip_header=1, dtype=np.float64)
    features, X, y = header[:-1], data[:, :-1], data[:, -1]
    cut = int(0.8 * len(y))
    tr, te = np.arange(cut), np.arange(cut, len(y))
    print(f"xgboost {xgb.__version__}: {len(tr)} training rows, {len(te)} hold-out rows (the last 20% in time), "
          f"positive rate {y.mean():.4f}")
    booster, full = fit(X, y, features, tr, te)
    print(f"hold-out AUC {full:.4f} ({len(features)} features)")
    if a.features:
        aggs = set(aggregate_features(a.features))
        keep = [i for i, n in enumerate(features) if n not in aggs]
        if len(keep) < len(features):
            _, base = fit(X[:, keep], y, [features[i] for i in keep], tr, te)
            print(f"hold-out AUC {base:.4f} without the {len(features) - len(keep)} aggregate features "
                  f"({len(keep)} features of the event alone; same rows, same hyper-parameters)")
    booster.save_model(a.model)
    print(f"saved {a.model}")
    if a.golden:
        rows = te[:2000]
        pred = booster.predict(xgb.DMatrix(X[rows], feature_names=features, missing=np.nan))
        with open(a.golden, "w") as f:
            f.write(",".join(features + ["label", "xgboost"]) + "\n")
            for r, p in zip(rows, pred):
                cells = ["" if np.isnan(v) else repr(float(np.float32(v))) for v in X[r]]
                f.write(",".join(cells + [str(int(y[r])), repr(float(p))]) + "\n")
        print(f"wrote {a.golden}: {len(rows)} hold-out rows with XGBoost's predictions")


if __name__ == "__main__":
    main()

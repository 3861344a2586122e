#!/usr/bin/env python3
"""Time XGBoost's own pred_contribs (exact TreeSHAP) on a model, one thread.

    python3 bench/xgb_contribs.py MODEL.json ROWS.csv [--rows 20000] [--repeat 3]

The rows of the CSV (feature columns named after the model's features,
'nan' = missing) are tiled to --rows and explained with
Booster.predict(DMatrix, pred_contribs=True), nthread=1; the DMatrix is
built once, outside the timing. Prints the median rows/s as
'xgboost_contribs_rows_per_s N' and the best (fastest repeat) as
'xgboost_contribs_rows_per_s_best N'. Needs Debian's python3-xgboost and
numpy.
"""
import argparse
import csv
import statistics
import time

import numpy as np
import xgboost as xgb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("rows")
    ap.add_argument("--rows", dest="n", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    booster = xgb.Booster(model_file=a.model)
    booster.set_param({"nthread": 1})
    names = booster.feature_names
    with open(a.rows) as f:
        rd = csv.DictReader(f)
        base = np.array([[float(r[n]) for n in names] for r in rd], dtype=np.float32)
    X = np.tile(base, (a.n // len(base) + 1, 1))[: a.n]
    d = xgb.DMatrix(X, missing=np.nan, feature_names=names, nthread=1)
    booster.predict(xgb.DMatrix(X[:100], missing=np.nan, feature_names=names), pred_contribs=True)  # warm up
    contribs = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        booster.predict(d, pred_contribs=True)
        contribs.append(time.perf_counter() - t0)
    print(f"xgboost {xgb.__version__}, {a.n} rows, median of {a.repeat}")
    print(f"xgboost_contribs_rows_per_s {a.n / statistics.median(contribs):.0f}")
    print(f"xgboost_contribs_rows_per_s_best {a.n / min(contribs):.0f}")


if __name__ == "__main__":
    main()

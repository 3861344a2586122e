#!/usr/bin/env python3
"""Time XGBoost's own predictor on the reference fraud model, one thread.

    python3 bench/xgb_inplace.py MODEL.json ROWS.csv [--rows 1000000] [--repeat 5]

The rows of the reference CSV (feature columns named after the model's
features, 'nan' = missing) are tiled to --rows and scored with
inplace_predict on a float32 array, nthread=1; prints the median rows/s as
'xgboost_inplace_rows_per_s N'. Needs Debian's python3-xgboost and numpy.
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
    ap.add_argument("--rows", dest="n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    booster = xgb.Booster(model_file=a.model)
    booster.set_param({"nthread": 1})
    names = booster.feature_names
    with open(a.rows) as f:
        rd = csv.DictReader(f)
        base = np.array([[float(r[n]) for n in names] for r in rd], dtype=np.float32)
    X = np.tile(base, (a.n // len(base) + 1, 1))[: a.n]
    booster.inplace_predict(X[:1000])  # warm up
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        booster.inplace_predict(X)
        times.append(time.perf_counter() - t0)
    print(f"xgboost {xgb.__version__}, {a.n} rows, median of {a.repeat}")
    print(f"xgboost_inplace_rows_per_s {a.n / statistics.median(times):.0f}")


if __name__ == "__main__":
    main()

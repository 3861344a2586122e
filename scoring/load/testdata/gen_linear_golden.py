#!/usr/bin/python3
"""Writes churn.linear_test.csv, the golden predictions of churn.linear.json
for the conformance suite (conformance_test.go), with Debian's
python3-sklearn: scikit-learn's own LogisticRegression.predict_proba with
the file's coefficients and intercept, after a SimpleImputer that fills a
missing input with the file's "missing" value, as streamscore-linear does.

    cd scoring/load/testdata && /usr/bin/python3 gen_linear_golden.py

Rows: ordinary values, missing values, large magnitudes (probabilities
near 0 and 1) and zeros. The inputs are float32 (what the Model interface
takes), printed round-trip; expected_prob is float64, printed round-trip.
Seeded: a rerun writes the same file.
"""
import csv
import json
import os

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

HERE = os.path.dirname(os.path.abspath(__file__))
spec = json.load(open(os.path.join(HERE, "churn.linear.json")))
names = spec["features"]
fill = [spec["missing"][n] for n in names]
assert len(set(fill)) == 1, "one fill value for SimpleImputer"

clf = LogisticRegression()
clf.classes_ = np.array([0, 1])
clf.coef_ = np.array([spec["coefficients"]], dtype=np.float64)
clf.intercept_ = np.array([spec["intercept"]], dtype=np.float64)
imp = SimpleImputer(strategy="constant", fill_value=fill[0], keep_empty_features=True)

rng = np.random.default_rng(16)
n = len(names)
rows = [rng.normal(scale=2.0, size=n) for _ in range(400)]
rows += [rng.normal(scale=30.0, size=n) for _ in range(50)]  # saturating
rows += [np.zeros(n)]
X = np.array(rows, dtype=np.float32)
X[rng.random(size=X.shape) < 0.1] = np.nan
X[-1, :] = np.nan  # every input missing
X64 = X.astype(np.float64)  # the exact float32 values
imp.fit(X64)
pipe = make_pipeline(imp, clf)
prob = pipe.predict_proba(X64)[:, 1]


def f32(v):
    return "nan" if np.isnan(v) else repr(float(np.float32(v)))


with open(os.path.join(HERE, "churn.linear_test.csv"), "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["row"] + names + ["expected_prob"])
    for i, (x, p) in enumerate(zip(X, prob)):
        w.writerow([i] + [f32(v) for v in x] + [repr(float(p))])
print("wrote", len(X), "rows")

#!/usr/bin/python3
"""Writes the small XGBoost models that seed FuzzParse (fuzz_test.go), with
Debian's python3-xgboost 1.7.4:

    cd scoring/xgboost/testdata && /usr/bin/python3 gen_fuzz_seeds.py

Small on purpose (a fuzzer mutates every byte): fuzz_tree.json and
fuzz_tree.ubj are binary:logistic, 2 trees of depth 2 over 3 features
trained with missing values (so default directions vary); fuzz_multi.ubj
is multi:softprob with 3 classes, one round of depth 2. Seeded: a rerun
writes the same files.
"""
import os

import numpy as np
import xgboost as xgb

assert xgb.__version__ == "1.7.4", xgb.__version__
HERE = os.path.dirname(os.path.abspath(__file__))

rng = np.random.default_rng(16)
X = rng.normal(size=(400, 3)).astype(np.float32)
X[rng.random(size=X.shape) < 0.15] = np.nan
y = ((np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * 0.5) > 0).astype(int)

d = xgb.DMatrix(X, label=y, missing=np.nan)
b = xgb.train({"objective": "binary:logistic", "max_depth": 2, "seed": 1, "nthread": 1}, d, num_boost_round=2)
b.save_model(os.path.join(HERE, "fuzz_tree.json"))
b.save_model(os.path.join(HERE, "fuzz_tree.ubj"))

y3 = np.digitize(np.nan_to_num(X[:, 0]), [-0.5, 0.5])
d3 = xgb.DMatrix(X, label=y3, missing=np.nan)
b3 = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "seed": 1, "nthread": 1}, d3, num_boost_round=1)
b3.save_model(os.path.join(HERE, "fuzz_multi.ubj"))
for name in ("fuzz_tree.json", "fuzz_tree.ubj", "fuzz_multi.ubj"):
    print(name, os.path.getsize(os.path.join(HERE, name)), "bytes")

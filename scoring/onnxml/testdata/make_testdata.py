#!/usr/bin/env python3
"""Builds the small ONNX models of scoring/onnxml's tests with the onnx
package (Debian's python3-onnx 1.12: /usr/bin/python3 make_testdata.py, run
in this directory) and computes their expected outputs with a brute-force
reference written here from the operators' definitions. The weights are
chosen so that every sum is exact in any order (powers of two) or is summed
here in the evaluator's order (tree order, float64), so the expected values
do not depend on a library's rounding.

  encoders_pipeline.onnx/.csv  string inputs (OneHotEncoder, LabelEncoder),
                               Imputer, Cast, Reshape, Concat, then a
                               TreeEnsembleRegressor
  tree_ensemble_v5.onnx/.csv   ai.onnx.ml opset-5 TreeEnsemble, two targets,
                               double input of open width [N, ?]
"""
import csv
import math
import random

import numpy as np
import onnx
from onnx import TensorProto, helper

ML = "ai.onnx.ml"


def encoders_pipeline():
    cities = ["paris", "london", "rome"]
    plans = ["basic", "pro", "team"]
    nodes = [
        helper.make_node("OneHotEncoder", ["city"], ["city_oh"], domain=ML, cats_strings=cities, zeros=1),
        helper.make_node("LabelEncoder", ["plan"], ["plan_code"], domain=ML,
                         keys_strings=plans, values_int64s=[0, 1, 2], default_int64=-1),
        helper.make_node("Cast", ["plan_code"], ["plan_f"], to=TensorProto.FLOAT),
        helper.make_node("Imputer", ["age"], ["age_i"], domain=ML,
                         imputed_value_floats=[40.0], replaced_value_float=float("nan")),
        helper.make_node("Reshape", ["city_oh", "shape"], ["city_2d"]),
        helper.make_node("Concat", ["age_i", "plan_f", "city_2d"], ["X"], axis=1),
    ]
    # X = [age, plan code, paris, london, rome]
    # tree 0: age <= 30 ? (plan <= 0.5 ? 1 : 2) : (paris > 0.5 ? 4 : 8)
    # tree 1: plan < -0.5 ? 16 : (london >= 0.5 ? 32 : 64)
    # tree 2: rome == 1 ? 128 : 0.25
    tree = dict(
        nodes_treeids=[0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2],
        nodes_nodeids=[0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 0, 1, 2],
        nodes_featureids=[0, 1, 2, 0, 0, 0, 0, 1, 0, 3, 0, 0, 4, 0, 0],
        nodes_modes=["BRANCH_LEQ", "BRANCH_LEQ", "BRANCH_GT", "LEAF", "LEAF", "LEAF", "LEAF",
                     "BRANCH_LT", "LEAF", "BRANCH_GTE", "LEAF", "LEAF", "BRANCH_EQ", "LEAF", "LEAF"],
        nodes_values=[30, 0.5, 0.5, 0, 0, 0, 0, -0.5, 0, 0.5, 0, 0, 1, 0, 0],
        nodes_truenodeids=[1, 3, 5, 0, 0, 0, 0, 1, 0, 3, 0, 0, 1, 0, 0],
        nodes_falsenodeids=[2, 4, 6, 0, 0, 0, 0, 2, 0, 4, 0, 0, 2, 0, 0],
        target_treeids=[0, 0, 0, 0, 1, 1, 1, 2, 2],
        target_nodeids=[3, 4, 5, 6, 1, 3, 4, 1, 2],
        target_ids=[0] * 9,
        target_weights=[1, 2, 4, 8, 16, 32, 64, 128, 0.25],
    )
    nodes.append(helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, n_targets=1, **tree))
    graph = helper.make_graph(
        nodes, "encoders_pipeline",
        [helper.make_tensor_value_info("city", TensorProto.STRING, [None, 1]),
         helper.make_tensor_value_info("plan", TensorProto.STRING, [None, 1]),
         helper.make_tensor_value_info("age", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 3])])
    model = helper.make_model(graph, producer_name="streamscore make_testdata.py",
                              opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(ML, 2)])
    onnx.checker.check_model(model)
    onnx.save(model, "encoders_pipeline.onnx")

    def expected(city, plan, age):
        x = [40.0 if age is None else age, float(plans.index(plan)) if plan in plans else -1.0]
        x += [1.0 if city == c else 0.0 for c in cities]
        y = (1 if x[1] <= 0.5 else 2) if x[0] <= 30 else (4 if x[2] > 0.5 else 8)
        y += 16 if x[1] < -0.5 else (32 if x[3] >= 0.5 else 64)
        y += 128 if x[4] == 1 else 0.25
        return y

    rng = random.Random(7)
    with open("encoders_pipeline.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row_id", "city", "plan", "age", "expected"])
        for r in range(300):
            city = rng.choice(cities + ["berlin", None])
            plan = rng.choice(plans + ["free", None])
            age = rng.choice([None, rng.randint(18, 70), 30, 30.5])
            w.writerow([r, city or "", plan or "", "" if age is None else age, expected(city, plan, age)])


def tree_ensemble_v5():
    # interior nodes (mode, feature, split, missing→true, true child, false child); L = leaf index
    N, L = 0, 1
    interior = [
        (0, 0, 0.5, 0, (N, 1), (L, 0)),   # 0: x0 <= 0.5
        (1, 1, 2.0, 1, (L, 1), (L, 2)),   # 1: x1 < 2 (NaN → true)
        (2, 2, -1.0, 0, (L, 3), (N, 3)),  # 2: x2 >= -1
        (4, 0, 1.0, 0, (L, 4), (N, 4)),   # 3: x0 == 1
        (5, 1, 3.0, 1, (L, 5), (L, 6)),   # 4: x1 != 3 (NaN → true)
        (0, 0, 0.0, 0, (L, 5), (L, 5)),   # 5: a one-leaf tree (leaf 5 = its own index)
        (3, 2, 0.25, 0, (L, 2), (L, 7)),  # 6: x2 > 0.25
    ]
    roots = [0, 2, 5, 6]
    leaf_target = [0, 1, 0, 1, 0, 1, 0, 1]
    leaf_weight = [0.1, -0.2, 0.3, 1.5, -2.25, 0.7, 1e-3, 3.0]
    node = helper.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain=ML, n_targets=2, aggregate_function=1, post_transform=0,
        tree_roots=roots,
        nodes_modes=helper.make_tensor("nodes_modes", TensorProto.UINT8, [len(interior)], [n[0] for n in interior]),
        nodes_featureids=[n[1] for n in interior],
        nodes_splits=helper.make_tensor("nodes_splits", TensorProto.DOUBLE, [len(interior)], [n[2] for n in interior]),
        nodes_missing_value_tracks_true=[n[3] for n in interior],
        nodes_truenodeids=[n[4][1] for n in interior], nodes_trueleafs=[n[4][0] for n in interior],
        nodes_falsenodeids=[n[5][1] for n in interior], nodes_falseleafs=[n[5][0] for n in interior],
        leaf_targetids=leaf_target,
        leaf_weights=helper.make_tensor("leaf_weights", TensorProto.DOUBLE, [len(leaf_weight)], leaf_weight))
    graph = helper.make_graph(
        [node], "tree_ensemble_v5",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, None])],
        [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, [None, 2])])
    model = helper.make_model(graph, producer_name="streamscore make_testdata.py",
                              opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(ML, 5)])
    onnx.save(model, "tree_ensemble_v5.onnx")  # onnx 1.12's checker predates TreeEnsemble

    def test(mode, x, split, missing):
        if math.isnan(x):
            if missing:
                return True
        return [x <= split, x < split, x >= split, x > split, x == split, x != split][mode]

    def walk(i, x):
        kind, idx = N, i
        while kind == N:
            mode, f, split, missing, t, fl = interior[idx]
            kind, idx = t if test(mode, x[f], split, missing) else fl
        return idx

    def expected(x):
        y = [0.0, 0.0]
        for r in roots:
            leaf = r if interior[r][4] == interior[r][5] == (L, r) else walk(r, x)
            y[leaf_target[leaf]] += leaf_weight[leaf]  # float64, tree order
        return [repr(float(np.float32(v))) for v in y]

    rng = random.Random(11)
    special = [float("nan"), 0.5, 2.0, -1.0, 1.0, 3.0, 0.25, 0.0]
    with open("tree_ensemble_v5.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row_id", "x0", "x1", "x2", "expected_0", "expected_1"])
        for r in range(300):
            x = [rng.choice(special) if rng.random() < 0.5 else rng.uniform(-3, 4) for _ in range(3)]
            w.writerow([r] + ["" if math.isnan(v) else repr(v) for v in x] + expected(x))


if __name__ == "__main__":
    encoders_pipeline()
    tree_ensemble_v5()

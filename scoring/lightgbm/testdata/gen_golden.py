#!/usr/bin/python3
"""Write golden_binary.txt, a LightGBM v4 text model (binary, sigmoid:1,
numerical splits of every missing type and default direction, categorical
bitsets of one and two words, single-leaf trees), and golden_binary.csv:
random rows (float32-exact values, NaN, zeros, values on thresholds, tiny,
negative and fractional categories) with the probability an evaluator
written here, directly from LightGBM's rules, computes for them. Standard
library only; math.exp is the C library's exp, as LightGBM's std::exp.

The evaluator is independent of the Go package (another language, another
reading of the rules): scoring/load's conformance suite checks the Go
evaluator against this file.

    /usr/bin/python3 gen_golden.py   # deterministic
"""
import math
import random
import struct

K_ZERO = struct.unpack("f", struct.pack("f", 1e-35))[0]  # 1e-35f widened to double


def f32(v):
    return struct.unpack("f", struct.pack("f", v))[0]


rng = random.Random(42)
NF = 6
CAT = {4, 5}  # categorical features


def make_tree():
    """A random tree as LightGBM's arrays (children: >= 0 split, < 0 ~leaf)."""
    split_feature, threshold, decision_type, left, right, leaves = [], [], [], [], [], []
    bitsets = []

    def build(depth):
        if depth == 4 or (depth > 0 and rng.random() < 0.25):
            leaves.append(round(rng.gauss(0, 0.5), 6))
            return ~(len(leaves) - 1)
        i = len(split_feature)
        for lst in (split_feature, threshold, decision_type, left, right):
            lst.append(None)
        f = rng.randrange(NF)
        split_feature[i] = f
        if f in CAT:
            words = [rng.getrandbits(32) for _ in range(rng.choice([1, 2]))]
            threshold[i] = len(bitsets)
            bitsets.append(words)
            decision_type[i] = 1 | rng.randrange(3) << 2
        else:
            threshold[i] = rng.randrange(-8, 9) / 4  # a grid the rows hit exactly
            decision_type[i] = rng.randrange(2) << 1 | (f % 3) << 2  # feature f: missing type f mod 3
        left[i] = build(depth + 1)
        right[i] = build(depth + 1)
        return i

    root = build(0)
    if root < 0:
        return dict(leaves=leaves)
    return dict(split_feature=split_feature, threshold=threshold, decision_type=decision_type,
                left=left, right=right, leaves=leaves, bitsets=bitsets)


trees = [make_tree() for _ in range(40)] + [dict(leaves=[0.125])]


def g(v):
    return repr(float(v))


def counts(tr):
    """Training-row counts that add up as LightGBM's do (each split the sum
    of its children, never 0), some leaves empty; drawn without the random
    stream, so the trees and rows stay as they were."""
    nl = len(tr["leaves"])
    leaf = [(i * 5 + 2) % 9 for i in range(nl)]
    internal = [0] * (nl - 1)

    def total(c):
        if c < 0:
            return leaf[~c]
        s = total(tr["left"][c]) + total(tr["right"][c])
        if s == 0:  # both children are empty leaves
            leaf[~tr["left"][c]] = s = 1
        internal[c] = s
        return s

    if nl > 1:
        total(0)
    return leaf, internal


def write_model(path):
    out = ["tree", "version=v4", "num_class=1", "num_tree_per_iteration=1", "label_index=0",
           "max_feature_idx=%d" % (NF - 1), "objective=binary sigmoid:1",
           "feature_names=" + " ".join("x%d" % i for i in range(NF)),
           "feature_infos=" + " ".join("[-3:3]" for _ in range(NF)), ""]
    for t, tr in enumerate(trees):
        nl = len(tr["leaves"])
        out.append("Tree=%d" % t)
        out.append("num_leaves=%d" % nl)
        bitsets = tr.get("bitsets", [])
        out.append("num_cat=%d" % len(bitsets))
        j = lambda xs: " ".join(str(x) for x in xs)
        out.append("split_feature=" + j(tr.get("split_feature", [])))
        out.append("split_gain=" + j([1] * (nl - 1)))
        out.append("threshold=" + j(g(x) for x in tr.get("threshold", [])))
        out.append("decision_type=" + j(tr.get("decision_type", [])))
        out.append("left_child=" + j(tr.get("left", [])))
        out.append("right_child=" + j(tr.get("right", [])))
        out.append("leaf_value=" + j(g(x) for x in tr["leaves"]))
        leaf_count, internal_count = counts(tr)
        out.append("leaf_weight=" + j([1] * nl))
        out.append("leaf_count=" + j(leaf_count))
        out.append("internal_value=" + j([0] * (nl - 1)))
        out.append("internal_weight=" + j([0] * (nl - 1)))
        out.append("internal_count=" + j(internal_count))
        if bitsets:
            bounds = [0]
            for b in bitsets:
                bounds.append(bounds[-1] + len(b))
            out.append("cat_boundaries=" + j(bounds))
            out.append("cat_threshold=" + j(w for b in bitsets for w in b))
        out.append("is_linear=0")
        out.append("shrinkage=1")
        out.append("")
        out.append("")
    out += ["end of trees", "", "parameters:", "[boosting: gbdt]", "[objective: binary]",
            "[categorical_feature: 4,5]", "end of parameters", "", "pandas_categorical:null", ""]
    open(path, "w").write("\n".join(out))


def decide(tr, node, x):
    f = tr["split_feature"][node]
    v = x[f]
    dt = tr["decision_type"][node]
    if dt & 1 and tr["bitsets"]:  # categorical
        if math.isnan(v) or math.isinf(v):
            return tr["right"][node]
        t = math.trunc(v)
        if t < -2**31 or t > 2**31 - 1 or t < 0:  # out of the int range: INT_MIN on x86
            return tr["right"][node]
        words = tr["bitsets"][int(tr["threshold"][node])]
        if t // 32 >= len(words) or not (words[t // 32] >> (t % 32)) & 1:
            return tr["right"][node]
        return tr["left"][node]
    missing = (dt >> 2) & 3
    if math.isnan(v) and missing != 2:
        v = 0.0
    if (missing == 1 and -K_ZERO <= v <= K_ZERO) or (missing == 2 and math.isnan(v)):
        return tr["left"][node] if dt & 2 else tr["right"][node]
    return tr["left"][node] if v <= tr["threshold"][node] else tr["right"][node]


def predict(x):
    x = [v if math.isnan(v) or abs(v) > K_ZERO else 0.0 for v in x]  # the dense row drops |x| <= kZeroThreshold
    s = 0.0
    for tr in trees:
        if len(tr["leaves"]) == 1:
            s += tr["leaves"][0]
            continue
        node = 0
        while node >= 0:
            node = decide(tr, node, x)
        s += tr["leaves"][~node]
    return 1.0 / (1.0 + math.exp(-1.0 * s))


def value(f):
    r = rng.random()
    if r < 0.08:
        return math.nan
    if r < 0.14:
        return rng.choice([0.0, -0.0, f32(1e-36), -f32(1e-36), math.inf, -math.inf])
    if f in CAT:
        return rng.choice([rng.randrange(70), rng.randrange(70) + 0.5, -1.0, -0.5, 31.0, 32.0, 63.0, 64.0, 3e9])
    if r < 0.5:
        return rng.randrange(-8, 9) / 4  # on a threshold
    return f32(rng.gauss(0, 1.5))


write_model("golden_binary.txt")
with open("golden_binary.csv", "w") as out:
    out.write(",".join("x%d" % i for i in range(NF)) + ",expected_prob\n")
    for _ in range(600):
        x = [f32(value(f)) for f in range(NF)]
        out.write(",".join(repr(v) for v in x) + "," + repr(predict(x)) + "\n")

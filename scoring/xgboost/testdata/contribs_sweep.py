#!/usr/bin/python3
"""Checks `streamscore score --contributions` against Debian's XGBoost 1.7.4
pred_contribs on models trained at random, one per seed:

    contribs_sweep.py STREAMSCORE FIRST_SEED COUNT [DIR]

Each seed draws an objective (13 of them), booster (gbtree, dart), depth
(1-12), features (1-40), rows, NaN share, rounding of the inputs, and
sometimes base_score, num_parallel_tree or lossguide growth; trains on
random data; saves the model as JSON or UBJSON in DIR (default a temporary
directory); scores 300 training rows plus rows set to split conditions;
and compares every contribution with XGBoost's within 1e-5 x max(1,
|margin|) and the top-3 features (at most 0.1% of rows may differ). One
line per seed, OK or BAD with the worst |diff| / tolerance; last line the
number of BAD seeds.
"""
import csv, json, os, random, subprocess, sys, tempfile
import numpy as np, xgboost as xgb
BIN = sys.argv[1]; seed0 = int(sys.argv[2]); n = int(sys.argv[3])
D = sys.argv[4] if len(sys.argv) > 4 else tempfile.mkdtemp()
def top3(c):
    idx = [i for i in range(len(c)) if c[i] != 0 and not np.isnan(c[i])]
    idx.sort(key=lambda i: (-abs(float(c[i])), i)); return tuple(idx[:3])
bad = 0
for s in range(seed0, seed0 + n):
    rng = np.random.default_rng(s); R = random.Random(s)
    nf = R.choice([1, 3, 8, 20, 40]); rows = R.choice([200, 1000, 3000])
    X = rng.normal(size=(rows, nf)).astype(np.float32)
    if R.random() < 0.5: X = np.round(X, R.choice([0, 1, 2])).astype(np.float32)
    X[rng.random(X.shape) < R.choice([0, 0.1, 0.4])] = np.nan
    obj = R.choice(["binary:logistic", "reg:squarederror", "multi:softprob", "multi:softmax", "reg:logistic", "count:poisson", "reg:gamma", "reg:tweedie", "binary:logitraw", "reg:pseudohubererror", "reg:absoluteerror", "binary:hinge", "rank:pairwise"])
    w = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, -1]) ** 2 + rng.normal(size=rows) * 0.3
    p = {"objective": obj, "max_depth": R.choice([1, 2, 4, 6, 8, 12]), "eta": R.choice([0.05, 0.3, 1.0]),
         "subsample": R.choice([1.0, 0.7]), "colsample_bytree": R.choice([1.0, 0.5]), "min_child_weight": R.choice([0, 1, 5]),
         "tree_method": R.choice(["hist", "exact", "approx"]), "nthread": 1, "seed": s}
    if R.random() < 0.3: p["base_score"] = R.choice([0.2, 0.7, 3.0]) if obj not in ("binary:logistic", "reg:logistic") else R.choice([0.2, 0.7])
    if R.random() < 0.2: p["num_parallel_tree"] = 3
    if R.random() < 0.15: p["booster"] = "dart"; p["rate_drop"] = 0.2
    if R.random() < 0.1: p["max_leaves"] = 7; p["grow_policy"] = "lossguide"; p["tree_method"] = "hist"
    if obj.startswith("multi"):
        k = R.choice([3, 5]); y = np.digitize(w, np.quantile(w, np.linspace(0, 1, k + 1)[1:-1])); p["num_class"] = k
    elif obj in ("binary:logistic", "reg:logistic", "binary:logitraw", "binary:hinge", "rank:pairwise"): y = (w > np.median(w)).astype(float)
    elif obj in ("count:poisson", "reg:gamma", "reg:tweedie"): y = np.exp(w / 3)
    else: y = w
    if obj.startswith("reg:gamma"): y = y + 0.01
    d = xgb.DMatrix(X, label=y, feature_names=[f"f{i}" for i in range(nf)])
    if obj == "rank:pairwise": d.set_group([rows // 10] * 10)
    try:
        b = xgb.train(p, d, num_boost_round=R.choice([1, 10, 60]))
    except Exception as e:
        print(s, "train failed", e); continue
    ext = R.choice(["json", "ubj"]); mp = os.path.join(D, f"m{s}.{ext}"); b.save_model(mp)
    # test rows: training rows plus rows set at split thresholds
    T = X[:300].copy()
    dump = b.get_dump(dump_format="json")
    th = []
    def walk(nd):
        if "split" in nd: th.append((int(nd["split"][1:]), nd["split_condition"])); [walk(c) for c in nd["children"]]
    for t in dump[:20]: walk(json.loads(t))
    for i, (f, v) in enumerate(th[:200]):
        r = T[i % len(T)].copy(); r[f] = np.float32(v); T = np.vstack([T, r])
    tp = os.path.join(D, f"t{s}.csv")
    with open(tp, "w") as f:
        wr = csv.writer(f); wr.writerow([f"f{i}" for i in range(nf)])
        for r in T: wr.writerow(["" if np.isnan(v) else repr(float(v)) for v in r])
    op = os.path.join(D, f"o{s}.csv")
    r = subprocess.run([BIN, "score", "--model", mp, "--input", tp, "--output", op, "--contributions"], capture_output=True, text=True)
    if r.returncode != 0:
        print(s, obj, p.get("booster", "gbtree"), "streamscore failed:", r.stderr.strip()[:300]); bad += 1; continue
    bb = xgb.Booster(); bb.load_model(mp); bb.set_param({"nthread": 1})
    dt = xgb.DMatrix(T, feature_names=[f"f{i}" for i in range(nf)])
    C = bb.predict(dt, pred_contribs=True); M = bb.predict(dt, output_margin=True)
    with open(op) as f: out = list(csv.DictReader(f))
    G = C.shape[1] if C.ndim == 3 else 1
    names = [f"f{i}" for i in range(nf)] + ["bias"]
    worst = 0; topbad = 0
    for i, row in enumerate(out):
        for g in range(G):
            c = C[i, g] if C.ndim == 3 else C[i]
            m = float(M[i, g] if M.ndim == 2 else M[i])
            pre = f"contrib_{g}_" if G > 1 else "contrib_"
            ours = np.array([float(row[pre + nme]) for nme in names])
            worst = max(worst, float(np.max(np.abs(ours - c))) / (1e-5 * max(1, abs(m))))
            if top3(ours[:-1]) != top3(c[:-1]): topbad += 1
    ok = worst <= 1 and topbad <= 0.001 * len(out) * G
    if not ok: bad += 1
    print(s, obj, p.get("booster", "gbtree"), "depth", p["max_depth"], "nf", nf, ext, "rows", len(out), "worst/tol %.3f" % worst, "top3 mismatches", topbad, "OK" if ok else "BAD")
print("bad:", bad)

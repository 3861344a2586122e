#!/usr/bin/python3
"""Checks `streamscore score --contributions` against Debian's XGBoost 1.7.4
pred_contribs on the XGBoost models of the shared reference set
(../shared/reference/external), read in place.

    contribs_external.py EXTERNAL_DIR STREAMSCORE [--only SUBSTRING]

For every XGBoost JSON or UBJSON model of the set, and every distinct input
file of its checks (3000 rows drawn as crosscheck_external.py draws them
when it has none): streamscore writes the contributions
(contrib_<feature>, contrib_bias; contrib_<k>_... per class or target) to a
temporary file; XGBoost 1.7.4 loads the same model file and computes
Booster.predict(pred_contribs=True) and the margin on the same float32
values (empty cell = missing); see prepare() for the copies made of models
XGBoost 1.7.4 would otherwise read differently. Per model and input it prints the rows, how
many have every contribution within 1e-5 x max(1, |margin|) of XGBoost's,
how many have the same top-3 features (largest |contribution|, ties to the
lower index, zeros left out), and the worst |diff| / tolerance. A model that
XGBoost 1.7.4 cannot load, or reads differently from the version that saved
it (its margin is not the sum of streamscore's contributions: a 3.x vector
base_score, say), is listed as not comparable, with the reason. Last line:
"N of M comparable (model, input) pairs agree" (all rows in tolerance, top-3
on >= 99.9% of rows).
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import xgboost as xgb

from crosscheck_external import rows, tree_facts

assert xgb.__version__ == "1.7.4", xgb.__version__


def top3(c):
    idx = [i for i in range(len(c)) if c[i] != 0 and not np.isnan(c[i])]
    idx.sort(key=lambda i: (-abs(float(c[i])), i))
    return tuple(idx[:3])


def read_inputs(path, names):
    with open(path) as f:
        rd = csv.DictReader(f)
        rows = []
        for r in rd:
            rows.append([float(r[n]) if r.get(n, "") not in ("", None) else np.nan for n in names])
    return np.array(rows, dtype=np.float64).astype(np.float32)


def prepare(ext, entry, tmp):
    """The model file both sides read, and the one XGBoost 1.7.4 reads: the
    set's file itself, or (as crosscheck_external.py does) a temporary copy
    with a scalar base_score for a 3.1+ per-output vector (the common value
    when all outputs share one, else 0.5 for logistic objectives and 0:
    only the bias column depends on it), without stored category names (the
    rows carry codes), and for XGBoost 1.7.4 reg:squarederror in place of
    reg:quantileerror / reg:expectileerror (one alpha: the same identity)."""
    model = os.path.join(ext, entry["model"])
    if not model.endswith(".json"):
        return model, model, ""
    with open(model) as f:
        m = json.load(f)
    if not isinstance(m, dict) or "learner" not in m:
        return model, model, ""  # not a saved model (a dump): both refuse it
    L = m["learner"]
    lmp = L["learner_model_param"]
    obj = L["objective"]["name"]
    gb = L["gradient_booster"]
    inner = gb.get("model") or gb.get("gbtree", {}).get("model", {})
    notes = []
    if lmp["base_score"].startswith("["):
        bs = lmp["base_score"].strip("[]").split(",")
        lmp["base_score"] = bs[0] if len(set(bs)) == 1 else ("5E-1" if "logistic" in obj else "0E0")
        notes.append("scalar base_score")
    cats = inner.pop("cats", None)
    if cats and any(cats.get("enc") or []):
        notes.append("category names removed")
    if not notes and obj not in ("reg:quantileerror", "reg:expectileerror"):
        return model, model, ""
    both = os.path.join(tmp, "both-" + entry["id"])
    with open(both, "w") as f:
        json.dump(m, f)
    ref = both
    if obj in ("reg:quantileerror", "reg:expectileerror"):
        L["objective"] = {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}}
        ref = os.path.join(tmp, "ref-" + entry["id"])
        with open(ref, "w") as f:
            json.dump(m, f)
        notes.append("reg:squarederror for XGBoost 1.7.4")
    return both, ref, " (" + ", ".join(notes) + ")"


def generated_rows(path, b, tmp, rng):
    """3000 rows as crosscheck_external.py draws them, for a model the set
    has no rows for."""
    m = json.loads(b.save_raw("json"))
    L = m["learner"]
    gb = L["gradient_booster"]
    model = gb.get("model") or gb.get("gbtree", {}).get("model", {})
    nfeat = int(L["learner_model_param"]["num_feature"])
    types = ["c" if t == "c" else "q" for t in (b.feature_types or ["q"] * nfeat)]
    names = b.feature_names or [f"f{i}" for i in range(nfeat)]
    th, top = tree_facts(model, nfeat)
    X = rows(rng, 3000, types, th, top)
    inp = os.path.join(tmp, "rows.csv")
    with open(inp, "w") as f:
        f.write(",".join(["row_id"] + names) + "\n")
        for i in range(len(X)):
            f.write(",".join([str(i)] + ["" if np.isnan(v) else repr(float(v)) for v in X[i]]) + "\n")
    return inp


def check(bin_, model, ref_model, inp, tmp):
    try:
        b = xgb.Booster(model_file=ref_model)
    except xgb.core.XGBoostError as e:
        return None, "XGBoost 1.7.4 cannot load it: " + str(e).splitlines()[0][:120]
    names = b.feature_names or [f"f{i}" for i in range(b.num_features())]
    X = read_inputs(inp, names)
    kw = {}
    if b.feature_types and "c" in b.feature_types:
        kw = {"feature_types": b.feature_types, "enable_categorical": True}
    d = xgb.DMatrix(X, missing=np.nan, feature_names=b.feature_names, **kw)
    n, nf = X.shape
    margin = b.predict(d, output_margin=True).reshape(n, -1)
    groups = margin.shape[1]
    ref = b.predict(d, pred_contribs=True).reshape(n, groups, nf + 1)
    out = os.path.join(tmp, "out.csv")
    p = subprocess.run([bin_, "score", "--model", model, "--input", inp, "--output", out, "--contributions"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None, "streamscore does not score it: " + p.stderr.strip()[-200:]
    with open(out) as f:
        got_rows = list(csv.DictReader(f))
    with open(out + ".rejects") as f:
        rejected = sum(1 for _ in f)
    if rejected or len(got_rows) != n:
        return False, f"streamscore wrote {len(got_rows)} rows and rejected {rejected} of {n}"
    got = np.zeros_like(ref, dtype=np.float64)
    for i, r in enumerate(got_rows):
        for g in range(groups):
            p = "contrib_" if groups == 1 else f"contrib_{g}_"
            for j, name in enumerate(names + ["bias"]):
                got[i, g, j] = float(r[p + name])
    # Read the same way? streamscore's contributions sum to its margin.
    if np.any(np.abs(got.sum(-1) - margin) > 1e-4 * np.maximum(1, np.abs(margin))):
        return None, "XGBoost 1.7.4 reads this model differently from streamscore (margins differ)"
    tol = 1e-5 * np.maximum(1, np.abs(margin))[:, :, None]
    diff = np.abs(got - ref) / tol
    within = int(np.all(diff <= 1, axis=(1, 2)).sum())
    same = sum(all(top3(got[i, g, :nf]) == top3(ref[i, g, :nf]) for g in range(groups)) for i in range(n))
    ok = within == n and same >= 0.999 * n
    return ok, f"{n} rows x {groups} groups: {within} within tolerance, top-3 same on {same}, worst {diff.max():.3f} of the tolerance"


def main():
    ext, bin_ = sys.argv[1], sys.argv[2]
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    with open(os.path.join(ext, "manifest.xgboost.json")) as f:
        manifest = json.load(f)
    agree = comparable = 0
    rng = np.random.default_rng(7)
    for entry in manifest:
        if only not in entry["id"] or not entry["model"].endswith((".json", ".ubj")):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            model, ref_model, note = prepare(ext, entry, tmp)
            inputs = sorted({os.path.join(ext, c["input"]) for c in entry.get("checks", [])})
            if not inputs:
                try:
                    inputs = [generated_rows(model, xgb.Booster(model_file=ref_model), tmp, rng)]
                    note += " (3000 generated rows)"
                except xgb.core.XGBoostError as e:
                    print(f"{entry['id']}: not comparable: XGBoost 1.7.4 cannot load it: {str(e).splitlines()[0][:120]}")
                    continue
            for inp in inputs:
                ok, msg = check(bin_, model, ref_model, inp, tmp)
                tag = {True: "agrees", False: "DIFFERS", None: "not comparable"}[ok]
                print(f"{entry['id']} ({os.path.basename(inp)}){note}: {tag}: {msg}", flush=True)
                if ok is not None:
                    comparable += 1
                    agree += ok
    print(f"{agree} of {comparable} comparable (model, input) pairs agree")
    sys.exit(0 if agree == comparable else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Speed of streamscore's feature contributions (exact TreeSHAP) against
# XGBoost's own pred_contribs, measured in the same run on the same
# machine, one core each, on the fraud test model (200 trees, depth 6):
#   go test -bench BenchmarkExplainFraud  (the 5,000 rows of xgb_fraud_test.csv)
#     row      one Explain call per row (as the stream explains one event)
#     batch    one call for all the rows (as ExplainResults and score do)
#     classic  XGBoost's own algorithm in Go (the tests' reference)
#   go test -bench BenchmarkPredictFraud  (plain scoring, for scale)
#   XGBoost 1.7.4 Booster.predict(pred_contribs=True), nthread=1 (the same
#     rows tiled to 10,000)
# The two alternate for ROUNDS rounds (default 3) so that drift of a noisy
# machine hits both; prints every figure, the medians and their ratios.
# Needs Debian's python3-xgboost; the interpreter is $PYTHON, default
# /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."
td=scoring/xgboost/testdata
export OMP_NUM_THREADS=1
go test -c -o /tmp/xgboost.shap.test ./scoring/xgboost >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
metric() { # benchmark name → the median of its rows/s figures
  awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=1;i<=NF;i++) if ($(i+1)=="rows/s") print $i}' | median
}
xs=() rs=() bs=() cs=() ps=()
for round in $(seq "${ROUNDS:-3}"); do
  x=$("${PYTHON:-/usr/bin/python3}" bench/xgb_contribs.py "$td/xgb_fraud.json" "$td/xgb_fraud_test.csv" --rows 10000 --repeat 3 |
      awk '/^xgboost_contribs_rows_per_s/ {print $2}')
  out=$(cd scoring/xgboost && /tmp/xgboost.shap.test -test.run '^$' -test.bench '^Benchmark(ExplainFraud|PredictFraud)$' \
        -test.benchtime 3x -test.count 3)
  r=$(metric BenchmarkExplainFraud/row <<<"$out")
  b=$(metric BenchmarkExplainFraud/batch <<<"$out")
  c=$(metric BenchmarkExplainFraud/classic <<<"$out")
  p=$(metric BenchmarkPredictFraud <<<"$out")
  echo "round $round: xgboost pred_contribs $x rows/s; streamscore row $r, batch $b, classic $c rows/s; predict $p rows/s"
  xs+=("$x") rs+=("$r") bs+=("$b") cs+=("$c") ps+=("$p")
done
xm=$(printf '%s\n' "${xs[@]}" | median)
rm=$(printf '%s\n' "${rs[@]}" | median)
bm=$(printf '%s\n' "${bs[@]}" | median)
cm=$(printf '%s\n' "${cs[@]}" | median)
pm=$(printf '%s\n' "${ps[@]}" | median)
echo "median: xgboost pred_contribs $xm rows/s; streamscore row $rm, batch $bm, classic $cm rows/s; predict $pm rows/s"
awk -v x="$xm" -v r="$rm" -v b="$bm" -v c="$cm" -v p="$pm" 'BEGIN {
  printf "ratio streamscore/xgboost: row %.1fx, batch %.1fx, classic %.2fx\n", r/x, b/x, c/x
  printf "explaining a row costs %.0f plain predictions (row), %.0f (batch)\n", p/r, p/b
}'

#!/usr/bin/env bash
# Speed of streamscore's XGBoost evaluator against XGBoost's own predictor,
# measured in the same run on the same machine, one core each:
#   go test -bench BenchmarkPredictFraud  (the 5,000 rows of xgb_fraud_test.csv)
#   XGBoost 1.7.4 inplace_predict, nthread=1 (the same rows tiled to 1M)
# The two alternate for ROUNDS rounds (default 3) so that drift of a noisy
# machine hits both; prints every figure, the medians and their ratio.
# Needs Debian's python3-xgboost; the interpreter is $PYTHON, default
# /usr/bin/python3 (Debian's, not a pyenv one).
set -euo pipefail
cd "$(dirname "$0")/.."
td=scoring/xgboost/testdata
export OMP_NUM_THREADS=1
go test -c -o /tmp/xgboost.bench.test ./scoring/xgboost >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
xs=() gs=()
for round in $(seq "${ROUNDS:-3}"); do
  x=$("${PYTHON:-/usr/bin/python3}" bench/xgb_inplace.py "$td/xgb_fraud.json" "$td/xgb_fraud_test.csv" --repeat 5 |
      awk '/^xgboost_inplace_rows_per_s/ {print $2}')
  g=$(cd scoring/xgboost && /tmp/xgboost.bench.test -test.run '^$' -test.bench '^BenchmarkPredictFraud$' -test.benchtime 2s -test.count 3 |
      awk '/^BenchmarkPredictFraud/ {for (i=1;i<=NF;i++) if ($(i+1)=="rows/s") print $i}' | median)
  echo "round $round: xgboost inplace_predict $x rows/s, streamscore $g rows/s"
  xs+=("$x") gs+=("$g")
done
xm=$(printf '%s\n' "${xs[@]}" | median)
gm=$(printf '%s\n' "${gs[@]}" | median)
echo "median: xgboost $xm rows/s, streamscore $gm rows/s"
awk -v g="$gm" -v x="$xm" 'BEGIN {printf "ratio streamscore/xgboost %.2f\n", g/x}'

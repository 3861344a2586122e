#!/usr/bin/env bash
# Speed of streamscore's XGBoost evaluator against XGBoost's own predictor,
# measured in the same run on the same machine, one core each:
#   go test -bench BenchmarkPredictFraud  (rows of xgb_fraud_test.csv)
#   XGBoost inplace_predict, nthread=1    (the same rows tiled to 1M)
# Prints both figures and the ratio. Needs Debian's python3-xgboost; the
# interpreter is $PYTHON, default /usr/bin/python3 (Debian's, not a pyenv one).
set -euo pipefail
cd "$(dirname "$0")/.."
td=scoring/xgboost/testdata
export OMP_NUM_THREADS=1
py=$("${PYTHON:-/usr/bin/python3}" bench/xgb_inplace.py "$td/xgb_fraud.json" "$td/xgb_fraud_test.csv" --repeat "${REPEAT:-5}")
echo "$py"
xgb=$(echo "$py" | awk '/^xgboost_inplace_rows_per_s/ {print $2}')
go_out=$(go test ./scoring/xgboost -run '^$' -bench '^BenchmarkPredictFraud$' -benchtime "${BENCHTIME:-3s}" -count "${COUNT:-5}")
echo "$go_out" | grep '^Benchmark'
gors=$(echo "$go_out" | awk '/^BenchmarkPredictFraud/ {for (i=1;i<=NF;i++) if ($(i+1)=="rows/s") print $i}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "streamscore_rows_per_s $gors (median)"
awk -v g="$gors" -v x="$xgb" 'BEGIN {printf "ratio streamscore/xgboost %.2f\n", g/x}'

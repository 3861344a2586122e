#!/usr/bin/env bash
# Speed of streamscore's feature contributions (exact TreeSHAP) against
# XGBoost's own pred_contribs, measured in the same run on the same
# machine, one core each, on the fraud test model (200 trees, depth 6):
#   go test -bench BenchmarkExplainFraud  (the 5,000 rows of xgb_fraud_test.csv)
#     row       one Explain call per row (as the stream explains one event)
#     batch500  one call per 500 rows
#     batch     one call for all the rows (as ExplainResults and score do)
#     classic   XGBoost's own algorithm in Go (the tests' reference; run
#               once, at the end)
#   go test -bench BenchmarkPredictFraud  (plain scoring, for scale)
#   XGBoost 1.7.4 Booster.predict(pred_contribs=True), nthread=1, on the
#     same 5,000 rows
# The two sides alternate for ROUNDS rounds (default 3), one run of each
# per round, so that drift of a noisy machine hits both. Prints every
# figure, each side's best and median, the ratios of the bests and of the
# medians, and the lowest per-row ratio of a round (its Go run against its
# XGBoost run). Needs Debian's python3-xgboost; the interpreter is $PYTHON,
# default /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."
td=scoring/xgboost/testdata
export OMP_NUM_THREADS=1
go test -c -o /tmp/xgboost.shap.test ./scoring/xgboost >/dev/null
rate() { # benchmark name → its rows/s figure
  awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=1;i<=NF;i++) if ($(i+1)=="rows/s") print $i}'
}
gobench() { # regexp benchtime → the benchmark output
  (cd scoring/xgboost && /tmp/xgboost.shap.test -test.run '^$' -test.bench "$1" -test.benchtime "$2")
}
rounds=${ROUNDS:-3}
: >/tmp/shap_compare.$$
for round in $(seq "$rounds"); do
  x=$("${PYTHON:-/usr/bin/python3}" bench/xgb_contribs.py "$td/xgb_fraud.json" "$td/xgb_fraud_test.csv" --rows 5000 --repeat 1 |
      awk '/^xgboost_contribs_rows_per_s / {print $2}')
  out=$(gobench '^BenchmarkExplainFraud$/^(row|batch500|batch)$' 1x; gobench '^BenchmarkPredictFraud$' 50x)
  r=$(rate BenchmarkExplainFraud/row <<<"$out")
  b5=$(rate BenchmarkExplainFraud/batch500 <<<"$out")
  b=$(rate BenchmarkExplainFraud/batch <<<"$out")
  p=$(rate BenchmarkPredictFraud <<<"$out")
  echo "round $round: xgboost pred_contribs $x rows/s; streamscore row $r, batch500 $b5, batch $b rows/s; predict $p rows/s"
  echo "$x $r $b5 $b $p" >>/tmp/shap_compare.$$
done
c=$(gobench '^BenchmarkExplainFraud$/^classic$' 1x | rate BenchmarkExplainFraud/classic)
echo "classic (XGBoost's algorithm in Go, once): $c rows/s"
awk -v c="$c" '
  function best(k,   i, m) { m = v[1, k]; for (i = 2; i <= NR; i++) if (v[i, k] > m) m = v[i, k]; return m }
  function median(k,   i, j, t, a) {
    for (i = 1; i <= NR; i++) a[i] = v[i, k]
    for (i = 2; i <= NR; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return a[int((NR + 1) / 2)]
  }
  { for (k = 1; k <= 5; k++) v[NR, k] = $k; q = $2 / $1; if (NR == 1 || q < low) low = q }
  END {
    split("xgboost row batch500 batch predict", name, " ")
    for (k = 1; k <= 5; k++) { B[k] = best(k); M[k] = median(k) }
    printf "best:   xgboost pred_contribs %.0f rows/s; streamscore row %.0f, batch500 %.0f, batch %.0f rows/s; predict %.0f rows/s\n", B[1], B[2], B[3], B[4], B[5]
    printf "median: xgboost pred_contribs %.0f rows/s; streamscore row %.0f, batch500 %.0f, batch %.0f rows/s; predict %.0f rows/s\n", M[1], M[2], M[3], M[4], M[5]
    printf "ratio streamscore/xgboost, bests:   row %.1fx, batch500 %.1fx, batch %.1fx, classic %.2fx\n", B[2]/B[1], B[3]/B[1], B[4]/B[1], c/B[1]
    printf "ratio streamscore/xgboost, medians: row %.1fx, batch500 %.1fx, batch %.1fx\n", M[2]/M[1], M[3]/M[1], M[4]/M[1]
    printf "lowest per-row ratio of a round: %.1fx\n", low
    printf "explaining a row costs %.0f plain predictions (row), %.0f (batch500)\n", M[5]/M[2], M[5]/M[3]
  }' /tmp/shap_compare.$$
rm -f /tmp/shap_compare.$$

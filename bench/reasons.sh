#!/usr/bin/env bash
# What reason codes cost on the stream: `streamscore run` with the bundled
# models on N of loadgen's events (transactions and activity, JSON),
# without reasons and with REASONS_TOP_K=K (REASONS_FOR=flagged, the
# default), alternated ROUNDS times, each on a fresh devkafka broker.
# Per run it prints events/s, the process's CPU per event, the share of
# predictions explained, and the share of the CPU spent explaining in a
# CPU profile of PROFILE seconds from 0.3 s after the service is ready (the cumulative
# share of outcome.(*Batch).explainRoute: computing the contributions,
# picking the top K; streamscore_explain_seconds_total is wall time, which
# on a busy machine includes the time the lane was descheduled). Then the
# median CPU per event of each setting and their ratio. CPU per event is
# the steadier figure on a shared machine: throughput varies ±15% from
# run to run. N should keep a run longer than PROFILE + 0.3 s.
# EVENT_RATE=R dates loadgen's events as a history at R events per second
# of event time (loadgen --event-rate; 0.5 is the training log's pace,
# with the same 10,000 customers); unset, every event is dated when it is
# produced, so that N events are seconds of history: bursts of a customer's
# events that the fraud model flags far more often than it does at that
# pace.
# Usage: [PROFILE=2] [EVENT_RATE=R] bench/reasons.sh [N] [K] [ROUNDS]   (default 400000 3 3)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-400000}
K=${2:-3}
ROUNDS=${3:-3}
PROFILE=${PROFILE:-2}
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
for c in streamscore devkafka loadgen; do go build -o "$bin/$c" ./cmd/$c; done
go build -o "$bin/watch" ./bench/watch
tck=$(getconf CLK_TCK)
sum() { awk -v m="$1" '$1 ~ "^"m"[{ ]" {s += $2} END {printf "%.6f", s}' "$bin/metrics"; }
for round in $(seq "$ROUNDS"); do
  for k in 0 "$K"; do
    port=$((20000 + RANDOM % 20000)); http=$((port + 1))
    "$bin/devkafka" --port "$port" --topics transactions:6,activity:6,predictions:6,predictions-dlq:1 > "$bin/dk.log" &
    dk=$!
    until grep -q listening "$bin/dk.log" 2>/dev/null; do sleep 0.1; done
    broker=127.0.0.1:$port
    "$bin/loadgen" --brokers "$broker" --count "$N" --rate 0 --encoding json ${EVENT_RATE:+--event-rate "$EVENT_RATE"} >/dev/null
    KAFKA_BROKERS=$broker MODELS_FILE=models/models.yaml INPUT_TOPICS=transactions,activity LOG_LEVEL=warn \
      INPUT_ENCODING=json OUTPUT_ENCODING=json HTTP_ADDR=127.0.0.1:$http REASONS_TOP_K=$k HTTP_PPROF=true \
      "$bin/streamscore" run >"$bin/run.log" 2>&1 &
    ss=$!
    # the profile starts 0.3 s after the service is ready (models loaded)
    (for _ in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$http/readyz" && break; sleep 0.05; done; sleep 0.3
      curl -sf -o "$bin/cpu.prof" "http://127.0.0.1:$http/debug/pprof/profile?seconds=$PROFILE" || echo "no CPU profile" >&2) &
    prof=$!
    if ! out=$("$bin/watch" --url "http://127.0.0.1:$http/metrics" --brokers "$broker" --count "$N" --pid "$ss"); then
      echo "streamscore did not finish:" >&2; cat "$bin/run.log" >&2; exit 1
    fi
    cpu=$(awk -v t="$tck" '{printf "%.6f", ($14 + $15) / t}' "/proc/$ss/stat")
    curl -s "http://127.0.0.1:$http/metrics" > "$bin/metrics"
    wait $prof || true
    share=$(go tool pprof -top -nodecount 100000 "$bin/streamscore" "$bin/cpu.prof" 2>/dev/null |
      awk '/outcome\.\(\*Batch\)\.explainRoute$/ {s = $5} END {print s == "" ? "0%" : s}')
    kill -TERM $ss; wait $ss || true
    kill $dk; wait $dk 2>/dev/null || true
    rate=$(echo "$out" | sed -E 's/.*= ([0-9]+) records\/s.*/\1/')
    awk -v k="$k" -v r="$round" -v n="$N" -v rate="$rate" -v cpu="$cpu" \
      -v ex="$(sum streamscore_explained_predictions_total)" -v share="$share" \
      'BEGIN {printf "round %d REASONS_TOP_K=%d: %d events/s, %.2f us CPU/event, %.1f%% explained, explaining %s of the CPU profile\n",
        r, k, rate, cpu * 1e6 / n, 100 * ex / n, share}' | tee -a "$bin/runs"
  done
done
awk -v K="$K" '{k = ($3 == "REASONS_TOP_K=0:") ? 0 : 1; c[k, ++n[k]] = $6}
  function median(k,   i, j, t, m) {
    m = n[k]; for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (c[k, j] < c[k, i]) {t = c[k, i]; c[k, i] = c[k, j]; c[k, j] = t}
    return m % 2 ? c[k, (m + 1) / 2] : (c[k, m / 2] + c[k, m / 2 + 1]) / 2 }
  END {a = median(0); b = median(1); printf "median CPU per event: %.2f us without reasons, %.2f us with REASONS_TOP_K=%d (%+.1f%%)\n", a, b, K, 100 * (b / a - 1)}' "$bin/runs"

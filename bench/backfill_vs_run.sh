#!/usr/bin/env bash
# Backfill throughput against run on the same events, same machine, same
# run: N synthetic transactions in devkafka, then
#   run:      records/s from its first prediction to its last (/metrics)
#   backfill: records/s over the whole range (its own summary)
# Usage: bench/backfill_vs_run.sh [N]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
for c in streamscore devkafka loadgen; do go build -o "$bin/$c" ./cmd/$c; done
port=$((20000 + RANDOM % 20000)); http=$((port + 1))
"$bin/devkafka" --port "$port" --topics transactions:6,activity:6,predictions:6,rescored:6,predictions-dlq:1 > "$bin/dk.log" &
until grep -q listening "$bin/dk.log" 2>/dev/null; do sleep 0.1; done
broker=127.0.0.1:$port
start=$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)
"$bin/loadgen" --brokers "$broker" --count "$N" --rate 0 --encoding avro --activity-share 0 --activity-topic '' | tail -1
end=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
export KAFKA_BROKERS=$broker MODELS_FILE=models/models.yaml INPUT_TOPICS=transactions,activity LOG_LEVEL=warn

# run: steady-state rate from the first prediction to the last
HTTP_ADDR=127.0.0.1:$http "$bin/streamscore" run >"$bin/run.log" 2>&1 &
runpid=$!
count() { curl -s "127.0.0.1:$http/metrics" | awk '/^streamscore_predictions_total/ {s+=$2} END {print s+0}'; }
alive() { kill -0 $runpid 2>/dev/null || { echo "streamscore run exited early:" >&2; cat "$bin/run.log" >&2; exit 1; }; }
until [ "$(count)" -gt 0 ]; do alive; sleep 0.05; done
t0=$(date +%s.%N); c0=$(count)
until [ "$(count)" -ge "$N" ]; do alive; sleep 0.05; done
t1=$(date +%s.%N)
kill -TERM $runpid; wait $runpid || true
runrate=$(awk -v n="$N" -v c="$c0" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (n-c)/(b-a)}')
echo "run:      $((N - c0)) records in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b-a}')s = $runrate records/s"

# backfill: the same range, to another topic
bf=$("$bin/streamscore" backfill --from "$start" --to "$end" --output-topic rescored 2>&1 | grep '^backfill')
echo "$bf"
bfrate=$(echo "$bf" | sed -E 's/.*\(([0-9]+) records\/s\).*/\1/')
awk -v b="$bfrate" -v r="$runrate" 'BEGIN {printf "backfill/run = %.2f\n", b/r}'

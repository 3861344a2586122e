#!/usr/bin/env bash
# Memory under overload: peak RSS of streamscore run while it works through
# a backlog of N events and of 10×N (the input outruns the scorer either
# way; with bounded fetching and in-flight limits the peak must not grow
# with the backlog). Usage: bench/rss_overload.sh [N]  (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
for c in streamscore devkafka loadgen; do go build -o "$bin/$c" ./cmd/$c; done
measure() {
  local n=$1 port=$((20000 + RANDOM % 20000))
  "$bin/devkafka" --port "$port" --topics transactions:6,activity:6,predictions:6,predictions-dlq:1 > "$bin/dk.log" &
  local dk=$!
  until grep -q listening "$bin/dk.log" 2>/dev/null; do sleep 0.1; done
  "$bin/loadgen" --brokers "127.0.0.1:$port" --count "$n" --rate 0 --encoding avro --activity-share 0 --activity-topic '' > /dev/null
  KAFKA_BROKERS=127.0.0.1:$port MODELS_FILE=models/models.yaml INPUT_TOPICS=transactions,activity \
    HTTP_ADDR=127.0.0.1:$((port + 1)) LOG_LEVEL=warn "$bin/streamscore" run >"$bin/run.log" 2>&1 &
  local pid=$! peak=0
  count() { curl -s "127.0.0.1:$((port + 1))/metrics" | awk '/^streamscore_predictions_total/ {s+=$2} END {print s+0}'; }
  until [ "$(count)" -ge "$n" ]; do
    kill -0 $pid 2>/dev/null || { echo "streamscore run exited early:" >&2; cat "$bin/run.log" >&2; exit 1; }
    rss=$(ps -o rss= -p $pid | tr -d ' ')
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.1
  done
  kill -TERM $pid; wait $pid || true; kill $dk; wait $dk 2>/dev/null || true
  echo "backlog $n events: peak RSS $((peak / 1024)) MiB"
}
measure "$N"
measure $((N * 10))

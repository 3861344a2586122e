#!/usr/bin/env bash
# Restart time: a streamscore run is SIGKILLed while events stream, and a
# new one started at once; prints the seconds from the new process's start
# to its first prediction, with static membership (KAFKA_GROUP_INSTANCE_ID)
# and without (the dead member holds its partitions until its session
# times out).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
for c in streamscore devkafka loadgen; do go build -o "$bin/$c" ./cmd/$c; done
trial() {
  local instance=$1 port=$((20000 + RANDOM % 20000))
  "$bin/devkafka" --port "$port" --topics transactions:6,activity:6,predictions:6,predictions-dlq:1 > "$bin/dk.log" &
  local dk=$!
  until grep -q listening "$bin/dk.log" 2>/dev/null; do sleep 0.1; done
  "$bin/loadgen" --brokers "127.0.0.1:$port" --rate 1000 --duration 120s --encoding avro --activity-share 0 --activity-topic '' > /dev/null &
  local lg=$!
  export KAFKA_BROKERS=127.0.0.1:$port MODELS_FILE=models/models.yaml INPUT_TOPICS=transactions,activity LOG_LEVEL=warn \
    KAFKA_GROUP_INSTANCE_ID=$instance HTTP_ADDR=127.0.0.1:$((port + 1))
  "$bin/streamscore" run 2>/dev/null &
  local first=$!
  count() { curl -s "127.0.0.1:$((port + 1))/metrics" | awk '/^streamscore_predictions_total/ {s+=$2} END {print s+0}'; }
  until [ "$(count)" -gt 1000 ]; do kill -0 $first 2>/dev/null || { echo "streamscore run exited early" >&2; exit 1; }; sleep 0.1; done
  kill -KILL $first; wait $first 2>/dev/null || true
  local t0; t0=$(date +%s.%N)
  "$bin/streamscore" run 2>/dev/null &
  local second=$!
  until [ "$(count)" -gt 0 ]; do kill -0 $second 2>/dev/null || { echo "streamscore run exited early" >&2; exit 1; }; sleep 0.05; done
  local t1; t1=$(date +%s.%N)
  kill -TERM $second $lg; wait $second 2>/dev/null || true; kill $dk; wait $dk 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" -v m="${instance:-none}" 'BEGIN {printf "instance id %-10s restart to first prediction: %.1f s\n", m, b-a}'
}
trial scorer-0
trial ""

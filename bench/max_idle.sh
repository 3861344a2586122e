#!/usr/bin/env bash
# What ENTITY_MAX_IDLE buys and costs. With entity aggregates a lane merges
# its partitions of both topics in event time; when a partition has nothing
# buffered but is behind its high watermark, the lane waits for it up to
# ENTITY_MAX_IDLE before scoring the others. A record of that partition
# that then arrives after a later event of its entity was scored is late:
# its entity's scores in between did not see it.
#
# For each value, two runs on a fresh devkafka (transactions:6, activity:6):
#   catch-up: BACKLOG events produced first, then `streamscore run` starts
#             and drains them (a restart after downtime, a new deployment):
#             late records, and seconds to drain;
#   live:     streamscore caught up, loadgen offers RATE events/s for
#             DURATION: late records, and p50/p99 latency (bench/latency).
# Usage: bench/max_idle.sh [BACKLOG] [RATE] [DURATION] [VALUES]
#        (default 300000 2000 15s "0 10ms 50ms 200ms")
set -euo pipefail
cd "$(dirname "$0")/.."
BACKLOG=${1:-300000}
RATE=${2:-2000}
DURATION=${3:-15s}
VALUES=${4:-0 10ms 50ms 200ms}
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
for c in streamscore devkafka loadgen; do go build -o "$bin/$c" ./cmd/$c; done
go build -o "$bin/latency" ./bench/latency

metric() { curl -s "127.0.0.1:$http/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
predictions() { curl -s "127.0.0.1:$http/metrics" | awk '$1 ~ /^streamscore_predictions_total/ { s += $2 } END { printf "%d", s }'; }

start_broker() {
  port=$((20000 + RANDOM % 20000)); http=$((port + 1))
  "$bin/devkafka" --port "$port" --topics transactions:6,activity:6,predictions:6,predictions-dlq:1 >"$bin/dk.log" 2>&1 &
  dk=$!
  until grep -q listening "$bin/dk.log" 2>/dev/null; do sleep 0.1; done
  broker=127.0.0.1:$port
}
start_run() { # $1: ENTITY_MAX_IDLE
  KAFKA_BROKERS=$broker MODELS_FILE=models/models.yaml INPUT_TOPICS=transactions,activity LOG_LEVEL=warn \
    INPUT_ENCODING=json OUTPUT_ENCODING=json HTTP_ADDR=127.0.0.1:$http ENTITY_MAX_IDLE=$1 START_OFFSET=earliest \
    "$bin/streamscore" run >"$bin/run.log" 2>&1 &
  ss=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$http/readyz")" = 200 ]; do
    kill -0 $ss 2>/dev/null || { cat "$bin/run.log" >&2; exit 1; }
    sleep 0.01
  done
}
stop() { kill -TERM $ss; wait $ss || true; kill $dk; wait $dk 2>/dev/null || true; }

printf '%-16s %-10s %12s %10s %14s\n' ENTITY_MAX_IDLE run events late "drain s | p50 p99"
for v in $VALUES; do
  # catch-up
  start_broker
  "$bin/loadgen" --brokers "$broker" --rate 0 --count "$BACKLOG" --encoding json >/dev/null
  t0=$(date +%s.%N)
  start_run "$v"
  until [ "$(predictions)" -ge "$BACKLOG" ]; do sleep 0.05; done
  t1=$(date +%s.%N)
  printf '%-16s %-10s %12s %10s %14.2f\n' "$v" catch-up "$BACKLOG" "$(metric streamscore_entity_late_records_total)" "$(echo "$t1 - $t0" | bc)"
  stop
  # live
  start_broker
  start_run "$v"
  "$bin/loadgen" --brokers "$broker" --rate "$RATE" --duration "$DURATION" --encoding json >/dev/null
  sleep 2
  late=$(metric streamscore_entity_late_records_total)
  n=$(predictions)
  kill -TERM $ss; wait $ss || true
  lat=$("$bin/latency" --brokers "$broker" --inputs transactions,activity --encoding json | grep -m1 -E 'p50|p99' || true)
  printf '%-16s %-10s %12s %10s   %s\n' "$v" live "$n" "$late" "$lat"
  kill $dk; wait $dk 2>/dev/null || true
done

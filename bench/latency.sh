#!/usr/bin/env bash
# Latency at a fixed offered rate: devkafka, `streamscore run` with the
# bundled fraud model (waited for until /readyz answers 200), then loadgen
# offers RATE events/s (JSON; transactions unless LOADGEN_ARGS says
# otherwise) for DURATION; afterwards bench/latency
# joins every prediction to its input and prints p50/p99 from the input
# record's timestamp to the prediction record's, for the whole run and for
# its first two seconds, and how busy the machine was while loadgen
# offered (the cores streamscore, devkafka and the rest used). Extra
# environment (BATCH_INTERVAL=50ms, ...) is passed to streamscore;
# LOADGEN_ARGS replaces loadgen's event mix (default: transactions only;
# e.g. LOADGEN_ARGS="--activity-share 0.3").
# Usage: bench/latency.sh [RATE] [DURATION]   (default 500 20s)
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-500}
DURATION=${2:-20s}
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
for c in streamscore devkafka loadgen; do go build -o "$bin/$c" ./cmd/$c; done
go build -o "$bin/latency" ./bench/latency
port=$((20000 + RANDOM % 20000)); http=$((port + 1))
"$bin/devkafka" --port "$port" --topics transactions:6,activity:6,predictions:6,predictions-dlq:1 > "$bin/dk.log" &
dk=$!
until grep -q listening "$bin/dk.log" 2>/dev/null; do sleep 0.1; done
broker=127.0.0.1:$port
KAFKA_BROKERS=$broker MODELS_FILE=models/models.yaml INPUT_TOPICS=transactions,activity LOG_LEVEL=warn \
  INPUT_ENCODING=json OUTPUT_ENCODING=json HTTP_ADDR=127.0.0.1:$http "$bin/streamscore" run >"$bin/run.log" 2>&1 &
ss=$!
until [ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$http/readyz")" = 200 ]; do
  kill -0 $ss 2>/dev/null || { cat "$bin/run.log" >&2; exit 1; }
  sleep 0.05
done
# CPU ticks, summed in bash (awk may print large sums in exponent form):
# a process's utime + stime; the machine's busy (user nice system irq
# softirq steal) and idle (idle iowait) ticks
proccpu() { local f; read -ra f < "/proc/$1/stat"; echo $((f[13] + f[14])); }
machine() { local _c u n s i w q sq st _r; read -r _c u n s i w q sq st _r < /proc/stat; echo $((u + n + s + q + sq + st)) $((i + w)); }
read -r busy0 idle0 < <(machine); ss0=$(proccpu $ss); dk0=$(proccpu "$dk")
"$bin/loadgen" --brokers "$broker" --rate "$RATE" --duration "$DURATION" --encoding json ${LOADGEN_ARGS:---activity-share 0 --activity-topic ""} | tail -1
read -r busy1 idle1 < <(machine); ss1=$(proccpu $ss); dk1=$(proccpu "$dk")
# while loadgen offered: the machine's busy share of all its cores, and
# the cores streamscore and devkafka used (loadgen and the rest: the remainder)
awk -v b="$((busy1 - busy0))" -v i="$((idle1 - idle0))" -v s="$((ss1 - ss0))" -v d="$((dk1 - dk0))" -v n="$(nproc)" \
  'BEGIN {t = (b + i) / n; printf "while offering: machine %.0f%% busy (%d cores); streamscore %.2f cores, devkafka %.2f, loadgen and the rest %.2f\n",
    100 * b / (b + i), n, s / t, d / t, (b - s - d) / t}'
sleep 2
kill -TERM $ss; wait $ss || true
echo "rate $RATE/s for $DURATION, BATCH_INTERVAL=${BATCH_INTERVAL:-default} BATCH_MAX_SIZE=${BATCH_MAX_SIZE:-default}"
"$bin/latency" --brokers "$broker" --encoding json --inputs transactions,activity

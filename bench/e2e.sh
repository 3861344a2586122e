#!/usr/bin/env bash
# End-to-end throughput of `streamscore run` against a franz-go
# passthrough (bench/passthrough: group consume → produce the same bytes →
# commit) on the same devkafka broker, in the same run, on the same topic:
# N synthetic transactions (6 partitions), the bundled fraud model, for
# each encoding (input and output). Each is measured from its first
# record to its last output (the passthrough: acknowledged; streamscore:
# the newest timestamp on its output topics, read after it finished, so
# that the measuring scrapes its metrics only every 250 ms meanwhile: a
# scrape costs it a few ms of CPU); the script prints both rates, their
# ratio, streamscore's peak RSS, and each side's CPU time per event (the
# whole process, start-up included: the steadier figure on a shared
# machine) with their ratio.
# Usage: bench/e2e.sh [N] [encodings]   (default 200000 "json avro")
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
ENCODINGS=${2:-json avro}
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
for c in streamscore devkafka loadgen; do go build -o "$bin/$c" ./cmd/$c; done
go build -o "$bin/passthrough" ./bench/passthrough
go build -o "$bin/watch" ./bench/watch
tck=$(getconf CLK_TCK)
for enc in $ENCODINGS; do
  port=$((20000 + RANDOM % 20000)); http=$((port + 1))
  "$bin/devkafka" --port "$port" --topics transactions:6,activity:6,predictions:6,predictions-dlq:1,passthrough-out:6 > "$bin/dk.log" &
  dk=$!
  until grep -q listening "$bin/dk.log" 2>/dev/null; do sleep 0.1; done
  broker=127.0.0.1:$port
  "$bin/loadgen" --brokers "$broker" --count "$N" --rate 0 --encoding "$enc" --activity-share 0 --activity-topic '' >/dev/null
  pt=$("$bin/passthrough" --brokers "$broker" --count "$N" | tail -1)
  ptrate=$(echo "$pt" | sed -E 's/.*= ([0-9]+) records\/s.*/\1/')
  KAFKA_BROKERS=$broker MODELS_FILE=models/models.yaml INPUT_TOPICS=transactions,activity LOG_LEVEL=warn \
    INPUT_ENCODING=$enc OUTPUT_ENCODING=$enc HTTP_ADDR=127.0.0.1:$http "$bin/streamscore" run >"$bin/run.log" 2>&1 &
  ss=$!
  if ! out=$("$bin/watch" --url "http://127.0.0.1:$http/metrics" --brokers "$broker" --count "$N" --pid "$ss"); then
    echo "streamscore did not finish:" >&2; cat "$bin/run.log" >&2; exit 1
  fi
  sscpu=$(awk -v t="$tck" -v n="$N" '{printf "%.2f", ($14 + $15) / t * 1e6 / n}' "/proc/$ss/stat")
  kill -TERM $ss; wait $ss || true
  ssrate=$(echo "$out" | sed -E 's/.*= ([0-9]+) records\/s.*/\1/')
  ptcpu=$(echo "$pt" | sed -E 's/.*, ([0-9.]+) us CPU\/record.*/\1/')
  echo "$enc: $pt"
  echo "$enc: $out, $sscpu us CPU/record"
  awk -v s="$ssrate" -v p="$ptrate" -v sc="$sscpu" -v pc="$ptcpu" -v e="$enc" \
    'BEGIN {printf "%s: streamscore/passthrough = %.2f in events/s; CPU per event %.1fx the passthrough'"'"'s\n", e, s/p, sc/pc}'
  kill $dk; wait $dk 2>/dev/null || true
done

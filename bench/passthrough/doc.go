// Command passthrough is the peer that bench/e2e.sh measures streamscore
// against: a franz-go consumer group member that produces every record's
// key and value, unchanged, to another topic and commits what the broker
// acknowledged — the Kafka work of a scorer without the scoring (no
// decode, no model, no encode). It uses the producer settings streamscore
// uses (lz4, idempotent, the sticky key partitioner) and exits after
// --count records, printing records/s from the first record polled to
// the last acknowledged, and its CPU time (user and system, the whole
// process) per record.
//
//	passthrough --brokers 127.0.0.1:9092 --from transactions --to passthrough-out --count 200000
package main

// Command latency reads, after a run, every input record and every
// prediction of a devkafka broker and prints the distribution of the time
// from an input record's Kafka timestamp to its prediction record's Kafka
// timestamp (the produce time), joined on the prediction's source
// coordinates: p50, p90, p99, p99.9 and max, for the whole run and for the
// events of its first two seconds separately.
//
//	latency --brokers 127.0.0.1:9092 --inputs transactions --encoding json
package main

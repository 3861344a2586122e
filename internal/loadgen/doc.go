// Package loadgen produces synthetic events (internal/synth: a stream of
// both kinds with history-driven fraud) to Kafka at a target rate, in any
// input encoding, keyed by customer id, and writes labelled training files
// whose features are computed by the serving code (WriteTraining).
// cmd/loadgen and the demo use it.
package loadgen

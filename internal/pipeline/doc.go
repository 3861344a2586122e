// Package pipeline wires streamscore's stages for the run command:
// consumer → window → scoring → producer, with completions flowing back
// only through the consumer's offset tracker. It is the only package that
// knows all four stages; they do not import each other.
//
// One goroutine owns the window. It polls, decodes, adds records to the
// window and scores every batch the window closes; a revoke closes the open
// batch from the rebalance callback under the same lock. A record that
// cannot be decoded, featurized or scored becomes a dead letter; every
// other becomes a prediction.
//
// With LABELS_TOPIC, a route baseline (or BASELINE_PATH) or a route
// challenger, the lanes also watch the models (watch.go): the group
// consumes the labels topic beside the inputs (co-partitioned, range
// balanced), label records are acknowledged or committed without an
// output, and quality, drift and champion–challenger metrics are
// published from snapshots every few seconds.
package pipeline

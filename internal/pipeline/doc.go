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
package pipeline

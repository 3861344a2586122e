// Package producer publishes predictions and dead letters to Kafka with an
// idempotent franz-go producer and reports each one's completion through a
// callback, which the pipeline wires to the offset tracker.
//
// Completion means the broker acknowledged the prediction, or, when the
// broker refused it (too large, invalid), the dead letter written in its
// place. A dead letter that cannot be written is retried with backoff until
// it is written or the producer's context ends; until then its callback is
// not called, so the source partition's offset does not advance past it.
package producer

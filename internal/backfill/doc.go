// Package backfill replays input topics over a time range through the
// same decode, features, models, policy and encoding as `streamscore run`
// (Spark's availableNow, for Kafka): per partition it starts at the offset
// for --from, reads up to the end offset snapshotted at start, and keeps
// the records whose Kafka timestamp falls in [from, to) (producer
// timestamps need not be ordered, so the offset for --to bounds nothing).
// Output goes to a topic or to a file with the columns of `streamscore
// score`; no consumer group, nothing committed. An interrupted run writes a
// resume file from which the rest is scored exactly once.
package backfill

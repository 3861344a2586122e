// Package consumer is streamscore's Kafka group member: it joins the
// consumer group (cooperative-sticky by default, or the balancer the caller
// names: range for co-partitioned entity state; optional static membership), fetches
// records, and owns the offset [Tracker], the single place that decides
// which offsets may be committed.
//
// The delivery rule: a partition's offset is committed only when every
// earlier record of it has an acknowledged prediction or dead letter, and
// never for a partition that has been revoked or lost. The broker accepts a
// same-generation commit for a revoked partition, so the guard lives here:
// every assignment of a partition gets a fresh epoch, tokens carry the
// epoch they were tracked under, and an ack or commit for an older epoch is
// ignored.
package consumer

package pipeline

import (
	"time"

	"github.com/streamscore/streamscore/consumer"
	"github.com/streamscore/streamscore/internal/lane"
)

// mergeHoldPoll is how long a poll waits while backpressure holds
// partitions: what to hold is looked at again after each poll.
const mergeHoldPoll = 10 * time.Millisecond

// mergeHold is backpressure's state with entity aggregates.
type mergeHold struct {
	held    map[consumer.TopicPartition]bool // paused by backpressure
	since   time.Time
	waiting []lane.Partition // reused
}

// backpressureMerge bounds what is in flight as backpressure does, for
// lanes that merge their partitions in event time. Pausing every
// partition would stall a lane whose merge waits for a partition that is
// behind: the records it holds cannot drain before that partition's
// next fetch, the fetch waits for the records to drain, and the wait
// ends only at ENTITY_MAX_IDLE (or at lane.FirstFetchWait for a partition
// never fetched), with that partition's records then late — a quarter of
// a 300,000-event catch-up was (bench/max_idle.sh). So it pauses
// partition by partition and keeps fetching those the merges wait for
// (lane.Set.Waiting); what their fetches bring in goes beyond the limits
// by at most a fetch. It never blocks: it reports whether partitions are
// held, and the poll loop then polls briefly (the client drops what it
// buffered for paused partitions, and fetches it again once resumed). A
// partition a lane also pauses while it waits for the schema registry is
// resumed when backpressure ends; its records then wait in the lane,
// within these limits.
func (a *atLeastOnce) backpressureMerge() (holding bool) {
	tr := a.group.Tracker()
	h := &a.merge
	switch {
	case !a.paused.Load() && !a.overLimit(1):
		return false
	case !a.paused.Load():
		a.setPaused(true)
		h.since = time.Now()
		a.p.log.Debug("in-flight limit reached; fetching paused but for the partitions merges wait for", "records", tr.InFlight(), "bytes", a.inBytes.Load())
	case !a.overLimit(0.75):
		a.group.ResumePartitions(partitionsOf(h.held)...)
		clear(h.held)
		a.setPaused(false)
		a.p.log.Debug("fetching resumed", "paused_for", time.Since(h.since).Round(time.Millisecond))
		return false
	}
	want := map[consumer.TopicPartition]bool{}
	for _, tp := range tr.OwnedPartitions() {
		want[tp] = true
	}
	h.waiting = a.lanes.Waiting(h.waiting[:0])
	for _, w := range h.waiting {
		delete(want, consumer.TopicPartition{Topic: w.Topic, Partition: w.Partition})
	}
	var hold, release []consumer.TopicPartition
	for tp := range want {
		if !h.held[tp] {
			hold = append(hold, tp)
		}
	}
	for tp := range h.held {
		if !want[tp] {
			release = append(release, tp)
		}
	}
	if len(hold) > 0 {
		a.group.PausePartitions(hold...)
	}
	if len(release) > 0 {
		a.group.ResumePartitions(release...)
	}
	h.held = want
	return true
}

func partitionsOf(m map[consumer.TopicPartition]bool) []consumer.TopicPartition {
	out := make([]consumer.TopicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	return out
}

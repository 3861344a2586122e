package lane

import (
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring/entity"
)

// With entity aggregates (the core's spec is not empty) a lane keeps the
// entity state of its partitions and feeds the window in event-time
// order: it takes the buffered head with the smallest event time across
// its partitions, and when a partition has nothing buffered but is behind
// its high watermark it waits for it up to Config.MaxIdle (Kafka Streams'
// task idling, KIP-353/KIP-695) before going on. Inside a partition,
// offset order is kept. Until its state is rebuilt (Set.StartRebuild …
// EndRebuild, fed with state-only chunks), a lane scores nothing.

// entityMode is a lane's entity state and event-time merge.
type entityMode[R any] struct {
	l          *Lane[R]
	state      *entity.State
	parts      map[partitionKey]*partQueue[R]
	rebuilding map[partitionKey]bool
	watermark  time.Time       // newest event time scored
	committedW time.Time       // exactly-once: the watermark at the last commit (an abort goes back to it)
	since      map[int32]int64 // exactly-once: each stream's first offset since the last commit
	replayed   atomic.Int64    // records replayed into the state by rebuilds
	// rebuildingCount mirrors len(rebuilding) for other goroutines; the
	// state's figures are published after every batch the same way.
	rebuildingCount                atomic.Int64
	bytes, entities, late, evicted atomic.Int64
	// waitingFor is the partition the merge waits for now (nil: none),
	// for the fetch side: backpressure must not pause the fetch that
	// ends the wait.
	waitingFor atomic.Pointer[Partition]
	queued     int            // decoded records in the merge queues
	aheadAt    int            // queued at which drainAhead runs again (when more than decodeAhead)
	held       []partitionKey // drainAhead's scratch
}

// wait publishes the partition the merge waits for (nil: none); it
// stores only on a change.
func (e *entityMode[R]) wait(k *partitionKey) {
	cur := e.waitingFor.Load()
	switch {
	case k == nil && cur == nil:
	case k == nil:
		e.waitingFor.Store(nil)
	case cur == nil || cur.Topic != k.topic || cur.Partition != k.partition:
		e.waitingFor.Store(&Partition{Topic: k.topic, Partition: k.partition})
	}
}

// publish copies the state's figures where other goroutines read them.
func (e *entityMode[R]) publish() {
	st := e.state.Stats()
	e.bytes.Store(st.Bytes)
	e.entities.Store(int64(st.Entities - st.Tombstones))
	e.late.Store(e.l.batch.Late)
	e.evicted.Store(e.l.batch.Evicted)
}

// unknownHWM marks an assigned partition whose end is not known yet: the
// merge waits for its first fetch (or a Set.Position with the end, which
// the pipeline sends at assignment, for a partition at its end), up to
// FirstFetchWait (or MaxIdle, when longer) from its assignment.
const unknownHWM = -2

// FirstFetchWait bounds how long the merge waits for a newly assigned
// partition's first fetch (which tells its records or that it is caught
// up).
const FirstFetchWait = 2 * time.Second

// partQueue is one partition's decoded records waiting for the merge.
type partQueue[R any] struct {
	items      []*Item[R]
	hwm        int64 // the partition's high watermark when last fetched
	next       int64 // offset after the last record queued; -1 before any
	emptySince time.Time
	guessed    bool // next was guessed from a fetch without records, not known
}

func newEntityMode[R any](l *Lane[R]) *entityMode[R] {
	e := &entityMode[R]{l: l, state: entity.NewState(l.cfg.Core.Spec(), l.cfg.State),
		parts: map[partitionKey]*partQueue[R]{}, rebuilding: map[partitionKey]bool{}}
	if l.cfg.ExpireAtCommit {
		e.since = map[int32]int64{}
	}
	return e
}

func (e *entityMode[R]) queue(k partitionKey) *partQueue[R] {
	q := e.parts[k]
	if q == nil {
		q = &partQueue[R]{next: -1, hwm: -1}
		e.parts[k] = q
	}
	return q
}

// enqueue buffers a decoded live record for the merge.
func (e *entityMode[R]) enqueue(it *Item[R], c *Chunk[R]) {
	q := e.queue(partitionKey{c.Topic, c.Partition})
	q.items = append(q.items, it)
	e.queued++
	q.next, q.guessed = it.Kafka.Offset+1, false
	if c.HighWatermark > q.hwm {
		q.hwm = c.HighWatermark
	}
	if e.since != nil {
		if in, ok := e.l.cfg.Core.Input(it.Topic); ok {
			s := in.Stream()
			if off, seen := e.since[s]; !seen || it.Kafka.Offset < off {
				e.since[s] = it.Kafka.Offset
			}
		}
	}
}

// advance records how far the source read a partition (Chunk.Next).
func (e *entityMode[R]) advance(c *Chunk[R]) {
	q := e.queue(partitionKey{c.Topic, c.Partition})
	q.next = max(q.next, c.Next)
	if c.HighWatermark > q.hwm {
		q.hwm = c.HighWatermark
	}
}

// caughtUp records a fetch of a partition that returned no records: its
// high watermark, and, before any record of it was seen, that it is at it.
func (e *entityMode[R]) caughtUp(c *Chunk[R]) {
	q := e.queue(partitionKey{c.Topic, c.Partition})
	if q.hwm == unknownHWM || c.HighWatermark > q.hwm {
		q.hwm = c.HighWatermark
	}
	switch {
	case c.Next > 0:
		q.next, q.guessed = max(q.next, c.Next), false
	case q.next < 0: // position unknown (no Set.Position): taken to be at the end
		q.next, q.guessed = q.hwm, true
	}
}

// position records where k's live records start and, when end ≥ 0, where
// k ended then (Set.Position). It replaces a position guessed from a
// fetch without records. Only an end the position has reached is taken:
// a partition with a backlog keeps waiting for its first fetch (up to
// FirstFetchWait, or MaxIdle when longer), as without the end, so that a
// short MaxIdle does not cut the catch-up after an assignment short.
func (e *entityMode[R]) position(k partitionKey, offset, end int64) {
	q := e.queue(k)
	if end >= 0 && offset >= end && (q.hwm == unknownHWM || end > q.hwm) {
		q.hwm = end
	}

	if q.next < 0 || q.guessed {
		q.next, q.guessed = offset, false
	} else {
		q.next = max(q.next, offset)
	}
}

// drain feeds the window in event-time order for as long as no partition
// must be waited for; force feeds everything (the end of a transaction,
// the end of a backfill's input; a revoke and a stop settle instead). It
// returns when the next wait ends (zero: none).
func (e *entityMode[R]) drain(now time.Time, force bool) (wake time.Time) {
	return e.merge(now, force, nil)
}

// decodeAhead is how many decoded records the merge queues hold before
// the lane feeds the window with the backlog not yet all decoded: two
// batches. Records are decoded shortly before they are scored, while they
// are in the cache, and a catch-up holds that many decoded records per
// lane instead of every record in flight.
func (e *entityMode[R]) decodeAhead() int { return 2 * e.l.cfg.MaxSize }

// settle is drain when the lane cannot wait any more: its partitions are
// revoked, or it stops. It feeds the window what is in event-time order
// now, as drain does, and gives up (Sink.Abandon) the records of tps (all
// when nil) still queued behind a partition the merge would wait for:
// scored now, such a record could miss an earlier event of its entity
// that is not fetched yet, and its prediction would carry features the
// live stream and a replay never compute. Uncommitted, it is read again
// by its partition's next owner (or the next run), which rebuilds the
// state first. Queued records of other partitions are fed to the window
// as drain(force) does.
func (e *entityMode[R]) settle(now time.Time, tps map[partitionKey]bool) {
	e.merge(now, false, nil)
	given := 0
	for k, q := range e.parts {
		if tps != nil && !tps[k] {
			continue
		}
		for i := len(q.items) - 1; i >= 0; i-- { // newest first (Sink.Abandon)
			it := q.items[i]
			q.items[i] = nil
			e.l.sink.Abandon(it.Kafka, it.Ref)
			e.l.recycle(it)
		}
		given += len(q.items)
		e.queued -= len(q.items)
		q.items = q.items[:0]
	}
	if given > 0 {
		e.l.log().Info("records left to be read again: the event-time merge waited for a partition behind them",
			"records", given)
	}
	e.merge(now, true, nil)
}

// drainAhead is drain while records of the backlog are still to be
// decoded: a partition whose queue is empty but which has records in the
// backlog is neither waited for nor taken for caught up, the merge stops
// there and the lane decodes on. A fetch's news that a partition is
// caught up (a chunk without records) is taken ahead of the records
// queued before it, up to the first control: the merge then stops waiting
// for a partition whose first fetch came with the others' records, instead
// of decoding all of those first. Only a partition whose position is known
// takes it early (a Position control may still be on its way otherwise);
// taking it again in its turn changes nothing. When the merge cannot move,
// the lane decodes another batch before it tries again.
func (e *entityMode[R]) drainAhead() {
	e.held = e.held[:0]
	ahead := true
	for i := range e.l.backlog {
		m := &e.l.backlog[i]
		k := partitionKey{m.chunk.Topic, m.chunk.Partition}
		switch {
		case m.ctl != nil:
			ahead = false
		case m.chunk.StateOnly, e.l.w.isLabels(m.chunk.Topic): // neither goes through the merge
		case m.pos < len(m.chunk.Records):
			if !slices.Contains(e.held, k) {
				e.held = append(e.held, k)
			}
		case len(m.chunk.Records) == 0 && ahead:
			if q := e.parts[k]; q != nil && q.next >= 0 && !q.guessed {
				e.caughtUp(&m.chunk)
			}
		}
	}
	e.merge(time.Now(), false, e.held)
	e.aheadAt = e.queued + e.l.cfg.MaxSize
}

// aheadDue reports whether the lane should feed the window before it
// decodes on (see drainAhead).
func (e *entityMode[R]) aheadDue() bool { return e.queued >= max(e.decodeAhead(), e.aheadAt) }

// merge is drain; with held set it stops when a held partition's queue is
// empty (its next records are still in the backlog), whether or not the
// partition has a queue yet.
func (e *entityMode[R]) merge(now time.Time, force bool, held []partitionKey) (wake time.Time) {
	for _, k := range held {
		if q := e.parts[k]; q == nil || len(q.items) == 0 {
			return time.Time{}
		}
	}
	for {
		var best *partQueue[R]
		var bestKey partitionKey
		for k, q := range e.parts {
			if len(q.items) == 0 {
				if force || q.hwm == -1 || q.hwm >= 0 && q.next >= q.hwm {
					continue // caught up: nothing to wait for
				}
				if q.emptySince.IsZero() {
					q.emptySince = now
				}
				wait := e.l.cfg.MaxIdle
				if q.hwm == unknownHWM {
					wait = max(wait, FirstFetchWait)
				}
				if until := q.emptySince.Add(wait); now.Before(until) {
					if wake.IsZero() || until.Before(wake) {
						wake = until
					}
					e.wait(&k)
					return wake // a partition that is behind may hold an earlier event
				}
				if e.l.q.pending() {
					// The wait is over, but the lane was busy meanwhile: what
					// it waits for may be in its inbox. It takes that first.
					e.wait(&k)
					return now
				}
				continue
			}
			if best == nil || earlier(q.items[0], best.items[0], k, bestKey) {
				best, bestKey = q, k
			}
		}
		e.wait(nil)
		if best == nil {
			return time.Time{}
		}
		it := best.items[0]
		best.items[0] = nil
		best.items = best.items[1:]
		e.queued--
		emptied := len(best.items) == 0
		if emptied {
			best.items = best.items[:0:0]
			best.emptySince = time.Time{}
		}
		e.l.win.Add(it, now)
		if emptied && slices.Contains(held, bestKey) {
			return time.Time{} // its next records are in the backlog
		}
	}
}

// earlier orders merge heads: a record without an event time (a dead
// letter) first, then by event time, then by topic and partition.
func earlier[R any](a, b *Item[R], ka, kb partitionKey) bool {
	ta, tb := a.Event.Time, b.Event.Time
	switch {
	case a.Dead() != b.Dead():
		return a.Dead()
	case !ta.Equal(tb):
		return ta.Before(tb)
	case ka.topic != kb.topic:
		return ka.topic < kb.topic
	}
	return ka.partition < kb.partition
}

// observe replays a state-only chunk into the state (a rebuild, a
// backfill's warm-up). A record that waits for the schema registry is
// retried here for a while; one that stays undecodable is left out of the
// state and counted as a gap.
func (e *entityMode[R]) observe(c *Chunk[R]) {
	for _, rec := range c.Records {
		it := e.l.item()
		it.Topic, it.Value, it.Kafka, it.Offset, it.StateOnly = rec.Topic, rec.Value, rec, rec.Offset, true
		backoff := 50 * time.Millisecond
		for attempt := 0; ; attempt++ {
			err := e.l.cfg.Core.Decode(&it.Record)
			if err == nil || attempt >= 8 || !errors.Is(err, schemas.ErrUnavailable) {
				break
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
		}
		if !it.Dead() {
			e.l.recs = append(e.l.recs[:0], &it.Record)
			e.l.batch.Score(e.l.recs)
			e.replayed.Add(1)
		}
		e.l.recycle(it)
	}
	e.publish()
}

// reset drops the state and the merge queues (a revoke or loss of the
// lane's partitions: their next owner rebuilds it).
func (e *entityMode[R]) reset() {
	for _, q := range e.parts {
		for _, it := range q.items {
			e.l.recycle(it)
		}
	}
	clear(e.parts)
	e.queued, e.aheadAt = 0, 0
	e.state.Reset()
	e.watermark, e.committedW = time.Time{}, time.Time{}
	clear(e.since)
}

// scored advances the watermark past a scored batch; outside transactions
// the state then drops what no window reaches.
func (e *entityMode[R]) scored(newest time.Time) {
	if newest.After(e.watermark) {
		e.watermark = newest
	}
	if !e.l.cfg.ExpireAtCommit {
		e.state.Expire(e.watermark)
	}
	e.publish()
}

// committed is an exactly-once transaction's commit: its records stay in
// the state, and what no window reaches is dropped.
func (e *entityMode[R]) committed() {
	clear(e.since)
	e.committedW = e.watermark
	e.state.Expire(e.watermark)
}

// aborted is an exactly-once transaction's abort: its records leave the
// state (they are fetched and scored again).
func (e *entityMode[R]) aborted() {
	for stream, from := range e.since {
		e.state.Forget(stream, from)
	}
	clear(e.since)
	e.watermark = e.committedW // the aborted records are scored again
	now := time.Now()
	for _, q := range e.parts {
		for _, it := range q.items {
			e.l.recycle(it)
		}
		// The records are fetched again from the last commit: where the
		// partition stands is known again at its next fetch.
		q.items, q.next, q.hwm, q.emptySince, q.guessed = q.items[:0], -1, unknownHWM, now, false
	}
	e.queued, e.aheadAt = 0, 0
}

func (e *entityMode[R]) isRebuilding() bool { return len(e.rebuilding) > 0 }

// setRebuilding marks a partition's state as being rebuilt, or not.
func (e *entityMode[R]) setRebuilding(k partitionKey, on bool) {
	if on {
		e.rebuilding[k] = true
	} else {
		delete(e.rebuilding, k)
	}
	e.rebuildingCount.Store(int64(len(e.rebuilding)))
}

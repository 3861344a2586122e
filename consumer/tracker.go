package consumer

import (
	"context"
	"sync"
	"sync/atomic"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Token identifies one tracked record. It is a small value, passed along
// with the record through the pipeline and handed back to Ack. It points at
// its partition's state, so an ack takes only that partition's lock.
type Token struct {
	p      *partState
	epoch  uint64
	seq    int64 // position in the partition's tracked sequence
	Offset int64
}

// TP is the token's partition (the zero TopicPartition for a token of no
// partition).
func (t Token) TP() TopicPartition {
	if t.p == nil {
		return TopicPartition{}
	}
	return t.p.tp
}

// Commit is an offset that may be committed for a partition: every record
// below Offset is acknowledged. LeaderEpoch is that of the last record
// below Offset (the committed one), as Kafka's OffsetCommit expects.
type Commit struct {
	Offset      int64
	LeaderEpoch int32
	epoch       uint64
}

type entry struct {
	offset      int64
	leaderEpoch int32
	acked       bool
}

// partState is one owned partition. Its lock is taken by the goroutine
// that tracks its records and by the acks of those records, never across
// partitions.
type partState struct {
	t  *Tracker
	tp TopicPartition

	mu          sync.Mutex
	epoch       uint64
	dropped     bool
	pending     []entry // tracked, not yet released, ascending offsets
	head        int     // pending[:head] are released
	base        int64   // sequence number of pending[0]
	next        int64   // offset after the last released record; -1 if none yet
	leaderEpoch int32   // leader epoch of the last released record
	committed   int64   // last committed offset; -1 if none
	highest     int64   // highest offset tracked; -1 if none
	changed     chan struct{}
}

// Tracker records which polled records have been acknowledged and derives
// the committable offset of every owned partition. It is safe for
// concurrent use: acks arrive from producer callbacks on many goroutines
// while the consumer tracks new records. An ack takes only its partition's
// lock; nothing per record takes a tracker-wide lock.
type Tracker struct {
	mu    sync.Mutex // guards parts and epoch
	parts map[TopicPartition]*partState
	epoch uint64

	inFlight atomic.Int64 // tracked, unreleased records of owned partitions
	below    atomic.Int64 // a WaitBelow threshold, or 0
	belowCh  chan struct{}
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{parts: map[TopicPartition]*partState{}, belowCh: make(chan struct{}, 1)}
}

// Assign starts tracking partitions under a fresh epoch. Assigning an owned
// partition again resets it (its old tokens become stale).
func (t *Tracker) Assign(tps ...TopicPartition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tp := range tps {
		if old := t.parts[tp]; old != nil {
			t.dropLocked(old)
		}
		t.epoch++
		t.parts[tp] = &partState{t: t, tp: tp, epoch: t.epoch, next: -1, committed: -1, highest: -1}
	}
}

// Drop stops tracking partitions (revoked or lost): later acks of their
// tokens are ignored and nothing more is committable for them.
func (t *Tracker) Drop(tps ...TopicPartition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tp := range tps {
		if p := t.parts[tp]; p != nil {
			t.dropLocked(p)
			delete(t.parts, tp)
		}
	}
}

func (t *Tracker) dropLocked(p *partState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropped = true
	t.released(int64(len(p.pending) - p.head))
	p.pending, p.head = nil, 0
	p.notify()
}

// released lowers the in-flight count and wakes a WaitBelow waiter whose
// threshold is crossed.
func (t *Tracker) released(n int64) {
	if n == 0 {
		return
	}
	left := t.inFlight.Add(-n)
	if b := t.below.Load(); b > 0 && left < b {
		select {
		case t.belowCh <- struct{}{}:
		default:
		}
	}
}

func (p *partState) notify() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

func (t *Tracker) part(tp TopicPartition) *partState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.parts[tp]
}

// Owned reports whether a partition is tracked.
func (t *Tracker) Owned(tp TopicPartition) bool { return t.part(tp) != nil }

// OwnedCount is the number of partitions tracked.
func (t *Tracker) OwnedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.parts)
}

// OwnedPartitions lists the partitions tracked.
func (t *Tracker) OwnedPartitions() []TopicPartition {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TopicPartition, 0, len(t.parts))
	for tp := range t.parts {
		out = append(out, tp)
	}
	return out
}

// Track registers a polled record. ok is false if the partition is not
// owned; the record must then not be processed (its new owner will read it).
//
// A client may deliver an offset again (it rewinds after a leader-epoch
// change). Such a record is processed again, an at-least-once duplicate,
// but gets a token that Ack ignores: its first delivery's entry still
// decides when the offset may be committed, and no entry waits for an ack
// that cannot match it.
func (t *Tracker) Track(tp TopicPartition, offset int64, leaderEpoch int32) (tok Token, ok bool) {
	p := t.part(tp)
	if p == nil {
		return Token{}, false
	}
	return p.track(offset, leaderEpoch)
}

// Tracking is the handle of one owned partition, for tracking a fetch's
// records without a tracker-wide lookup per record.
type Tracking struct{ p *partState }

// Partition returns the handle of an owned partition; ok is false when it
// is not owned.
func (t *Tracker) Partition(tp TopicPartition) (Tracking, bool) {
	p := t.part(tp)
	return Tracking{p}, p != nil
}

// Track registers a polled record of the handle's partition (see
// Tracker.Track); ok is false once the partition has been dropped.
func (h Tracking) Track(offset int64, leaderEpoch int32) (Token, bool) {
	return h.p.track(offset, leaderEpoch)
}

func (p *partState) track(offset int64, leaderEpoch int32) (Token, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped {
		return Token{}, false
	}
	if offset <= p.highest {
		return Token{p: p, Offset: offset}, true // epoch 0 never matches
	}
	p.highest = offset
	seq := p.base + int64(len(p.pending))
	p.pending = append(p.pending, entry{offset: offset, leaderEpoch: leaderEpoch})
	p.t.inFlight.Add(1)
	return Token{p: p, epoch: p.epoch, seq: seq, Offset: offset}, true
}

// Ack marks a record as done (its prediction or dead letter is acked by the
// broker). A stale token (from an earlier assignment) is ignored.
func (t *Tracker) Ack(tok Token) { tok.Ack() }

// Ack marks the token's record as done (see Tracker.Ack).
func (tok Token) Ack() {
	p := tok.p
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped || p.epoch != tok.epoch {
		return
	}
	i := int(tok.seq - p.base)
	if i < p.head || i >= len(p.pending) || p.pending[i].offset != tok.Offset || p.pending[i].acked {
		return
	}
	p.pending[i].acked = true
	if i != p.head {
		return
	}
	start := p.head
	for p.head < len(p.pending) && p.pending[p.head].acked {
		e := &p.pending[p.head]
		p.next, p.leaderEpoch = e.offset+1, e.leaderEpoch
		p.head++
	}
	p.t.released(int64(p.head - start))
	if p.head == len(p.pending) { // all released: reuse the storage
		p.base += int64(len(p.pending))
		p.pending, p.head = p.pending[:0], 0
	} else if p.head > 1024 && p.head > len(p.pending)/2 {
		n := copy(p.pending, p.pending[p.head:])
		p.base += int64(p.head)
		p.pending, p.head = p.pending[:n], 0
	}
	p.notify()
}

// Committable returns, for the listed partitions (every owned one when none
// are listed), the offsets that advanced past the last committed offset.
func (t *Tracker) Committable(only ...TopicPartition) map[TopicPartition]Commit {
	out := map[TopicPartition]Commit{}
	for _, p := range t.owned(only) {
		p.mu.Lock()
		if !p.dropped && p.next > p.committed {
			out[p.tp] = Commit{Offset: p.next, LeaderEpoch: p.leaderEpoch, epoch: p.epoch}
		}
		p.mu.Unlock()
	}
	return out
}

// owned returns the owned partitions among only (all when only is empty).
func (t *Tracker) owned(only []TopicPartition) []*partState {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(only) == 0 {
		out := make([]*partState, 0, len(t.parts))
		for _, p := range t.parts {
			out = append(out, p)
		}
		return out
	}
	out := make([]*partState, 0, len(only))
	for _, tp := range only {
		if p := t.parts[tp]; p != nil {
			out = append(out, p)
		}
	}
	return out
}

// Committed records that commits succeeded; entries for a partition that was
// dropped or reassigned since Committable returned them are ignored.
func (t *Tracker) Committed(c map[TopicPartition]Commit) {
	for tp, cm := range c {
		p := t.part(tp)
		if p == nil {
			continue
		}
		p.mu.Lock()
		if !p.dropped && p.epoch == cm.epoch && cm.Offset > p.committed {
			p.committed = cm.Offset
		}
		p.mu.Unlock()
	}
}

// CommittedOffset is the last offset committed for an owned partition by
// this tracker's commits (-1 if none, or not owned).
func (t *Tracker) CommittedOffset(tp TopicPartition) int64 {
	p := t.part(tp)
	if p == nil {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.committed
}

// InFlight is the number of tracked, unreleased records of the listed
// partitions (all owned ones when none are listed).
func (t *Tracker) InFlight(only ...TopicPartition) int {
	if len(only) == 0 {
		return int(t.inFlight.Load())
	}
	n := 0
	for _, p := range t.owned(only) {
		p.mu.Lock()
		n += len(p.pending) - p.head
		p.mu.Unlock()
	}
	return n
}

// Wait blocks until every tracked record of the listed partitions (all when
// none are listed) is acknowledged or its partition dropped, or ctx ends
// (its error is returned).
func (t *Tracker) Wait(ctx context.Context, only ...TopicPartition) error {
	for _, p := range t.owned(only) {
		for {
			p.mu.Lock()
			if p.dropped || len(p.pending) == p.head {
				p.mu.Unlock()
				break
			}
			if p.changed == nil {
				p.changed = make(chan struct{})
			}
			ch := p.changed
			p.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// WaitBelow blocks until fewer than n records are in flight in all owned
// partitions together, or ctx ends (its error is returned). One goroutine
// at a time may wait (the consumer's backpressure).
func (t *Tracker) WaitBelow(ctx context.Context, n int) error {
	t.below.Store(int64(n))
	defer t.below.Store(0)
	for t.inFlight.Load() >= int64(n) {
		select {
		case <-t.belowCh:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Forget untracks records that were polled but will not be processed (a
// lane gives up a partition's queued records on revoke, or the pipeline
// stops in the middle of a poll): they are the newest tracked records of
// their partitions, so each partition's pending list is cut back and the
// next fetch of those offsets is tracked afresh. Nothing at or past a
// forgotten offset becomes committable, and Wait no longer waits for it.
// Tokens must be given in poll order; a stale token, or one that is not at
// the tail of its partition, is ignored.
func (t *Tracker) Forget(toks ...Token) {
	for i := len(toks) - 1; i >= 0; i-- {
		tok := toks[i]
		p := tok.p
		if p == nil {
			continue
		}
		p.mu.Lock()
		last := len(p.pending) - 1
		if !p.dropped && p.epoch == tok.epoch && last >= p.head {
			if e := p.pending[last]; e.offset == tok.Offset && !e.acked && tok.seq == p.base+int64(last) {
				p.pending = p.pending[:last]
				p.highest = tok.Offset - 1
				t.released(1)
				p.notify()
			}
		}
		p.mu.Unlock()
	}
}

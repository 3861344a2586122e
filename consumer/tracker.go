package consumer

import (
	"context"
	"sort"
	"sync"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Token identifies one tracked record. It is a small value, passed along
// with the record through the pipeline and handed back to Ack.
type Token struct {
	TP     TopicPartition
	Offset int64
	epoch  uint64
}

// Commit is an offset that may be committed for a partition: every record
// below Offset is acknowledged. LeaderEpoch is that of the last record.
type Commit struct {
	Offset      int64
	LeaderEpoch int32
	epoch       uint64
}

type entry struct {
	offset int64
	acked  bool
}

type partState struct {
	epoch       uint64
	pending     []entry // tracked, not yet released; ascending offsets
	head        int     // pending[:head] are released
	next        int64   // offset after the last released record; -1 if none yet
	leaderEpoch int32
	committed   int64 // last committed offset; -1 if none
	highest     int64 // highest offset tracked; -1 if none
}

// Tracker records which polled records have been acknowledged and derives
// the committable offset of every owned partition. It is safe for
// concurrent use: acks arrive from producer callbacks while the pipeline
// tracks new records.
type Tracker struct {
	mu      sync.Mutex
	parts   map[TopicPartition]*partState
	epoch   uint64
	changed chan struct{} // closed on every ack, then replaced
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{parts: map[TopicPartition]*partState{}, changed: make(chan struct{})}
}

// Assign starts tracking partitions under a fresh epoch. Assigning an owned
// partition again resets it (its old tokens become stale).
func (t *Tracker) Assign(tps ...TopicPartition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tp := range tps {
		t.epoch++
		t.parts[tp] = &partState{epoch: t.epoch, next: -1, committed: -1, highest: -1}
	}
}

// Drop stops tracking partitions (revoked or lost): later acks of their
// tokens are ignored and nothing more is committable for them.
func (t *Tracker) Drop(tps ...TopicPartition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tp := range tps {
		delete(t.parts, tp)
	}
	t.notify()
}

// Owned reports whether a partition is tracked.
func (t *Tracker) Owned(tp TopicPartition) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.parts[tp]
	return ok
}

// OwnedCount is the number of partitions tracked.
func (t *Tracker) OwnedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.parts)
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
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[tp]
	if p == nil {
		return Token{}, false
	}
	if offset <= p.highest {
		return Token{TP: tp, Offset: offset}, true // epoch 0 never matches
	}
	p.highest = offset
	p.pending = append(p.pending, entry{offset: offset})
	p.leaderEpoch = leaderEpoch
	return Token{TP: tp, Offset: offset, epoch: p.epoch}, true
}

// Ack marks a record as done (its prediction or dead letter is acked by the
// broker). A stale token (from an earlier assignment) is ignored.
func (t *Tracker) Ack(tok Token) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[tok.TP]
	if p == nil || p.epoch != tok.epoch {
		return
	}
	live := p.pending[p.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= tok.Offset })
	if i == len(live) || live[i].offset != tok.Offset {
		return
	}
	live[i].acked = true
	for p.head < len(p.pending) && p.pending[p.head].acked {
		p.next = p.pending[p.head].offset + 1
		p.head++
	}
	if p.head == len(p.pending) { // all released: reuse the storage
		p.pending, p.head = p.pending[:0], 0
	} else if p.head > 1024 && p.head > len(p.pending)/2 {
		n := copy(p.pending, p.pending[p.head:])
		p.pending, p.head = p.pending[:n], 0
	}
	t.notify()
}

func (t *Tracker) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// Committable returns, for the listed partitions (every owned one when none
// are listed), the offsets that advanced past the last committed offset.
func (t *Tracker) Committable(only ...TopicPartition) map[TopicPartition]Commit {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[TopicPartition]Commit{}
	add := func(tp TopicPartition, p *partState) {
		if p.next > p.committed {
			out[tp] = Commit{Offset: p.next, LeaderEpoch: p.leaderEpoch, epoch: p.epoch}
		}
	}
	if len(only) == 0 {
		for tp, p := range t.parts {
			add(tp, p)
		}
		return out
	}
	for _, tp := range only {
		if p := t.parts[tp]; p != nil {
			add(tp, p)
		}
	}
	return out
}

// Committed records that commits succeeded; entries for a partition that was
// dropped or reassigned since Committable returned them are ignored.
func (t *Tracker) Committed(c map[TopicPartition]Commit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tp, cm := range c {
		if p := t.parts[tp]; p != nil && p.epoch == cm.epoch && cm.Offset > p.committed {
			p.committed = cm.Offset
		}
	}
}

// InFlight is the number of tracked, unreleased records of the listed
// partitions (all owned ones when none are listed).
func (t *Tracker) InFlight(only ...TopicPartition) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inFlight(only)
}

func (t *Tracker) inFlight(only []TopicPartition) int {
	n := 0
	if len(only) == 0 {
		for _, p := range t.parts {
			n += len(p.pending) - p.head
		}
		return n
	}
	for _, tp := range only {
		if p := t.parts[tp]; p != nil {
			n += len(p.pending) - p.head
		}
	}
	return n
}

// Wait blocks until every tracked record of the listed partitions (all when
// none are listed) is acknowledged, or ctx ends (its error is returned).
func (t *Tracker) Wait(ctx context.Context, only ...TopicPartition) error {
	for {
		t.mu.Lock()
		n, ch := t.inFlight(only), t.changed
		t.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Changed returns a channel that is closed at the next acknowledgement or
// partition drop: a waiter takes it, checks its condition, and then waits
// on it.
func (t *Tracker) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// Forget untracks records that were polled but will not be processed (the
// pipeline stops in the middle of a poll): they are the newest tracked
// records of their partitions, so each partition's pending list is cut
// back and the next fetch of those offsets is tracked afresh. Nothing at
// or past a forgotten offset becomes committable, and Wait no longer waits
// for it. Tokens must be given in poll order; a stale token, or one that is
// not at the tail of its partition, is ignored.
func (t *Tracker) Forget(toks ...Token) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(toks) - 1; i >= 0; i-- {
		tok := toks[i]
		p := t.parts[tok.TP]
		if p == nil || p.epoch != tok.epoch || len(p.pending) == p.head {
			continue
		}
		last := len(p.pending) - 1
		if e := p.pending[last]; e.offset != tok.Offset || e.acked {
			continue
		}
		p.pending = p.pending[:last]
		p.highest = tok.Offset - 1
	}
	t.notify()
}

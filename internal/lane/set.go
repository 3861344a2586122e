package lane

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/internal/quality"
)

// Set is the lanes of one source: lane p processes partition p of every
// input topic (the topics are co-partitioned: partition p of each is
// assigned to the same member), so a lane never waits on another. Lanes
// are goroutines; the Go scheduler runs them on GOMAXPROCS threads, so the
// lanes of a process use every core, and the records of a partition keep
// their order. A lane starts when its first chunk arrives. Push never
// blocks: backpressure (the in-flight limits) is the source's. Safe for
// concurrent use.
type Set[R any] struct {
	cfg     Config
	newSink func(partition int32) Sink[R]
	spare   sync.Pool // *Item[R]: what the lanes' own free lists do not keep

	mu    sync.Mutex // guards lanes (taken per chunk and per control, never per record)
	lanes []*Lane[R]
	err   error
}

// NewSet returns an empty set; newSink makes the sink of lane p.
func NewSet[R any](cfg Config, newSink func(partition int32) Sink[R]) (*Set[R], error) {
	if cfg.Core == nil {
		return nil, fmt.Errorf("lane: no outcome core")
	}
	if cfg.MaxSize <= 0 || cfg.Interval < 0 {
		return nil, fmt.Errorf("lane: batch size %d and interval %v must be positive", cfg.MaxSize, cfg.Interval)
	}
	return &Set[R]{cfg: cfg, newSink: newSink}, nil
}

func (s *Set[R]) lane(p int32) (*Lane[R], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p < 0 {
		return nil, fmt.Errorf("lane: partition %d", p)
	}
	for int(p) >= len(s.lanes) {
		s.lanes = append(s.lanes, nil)
	}
	if s.lanes[p] == nil {
		l, err := newLane(&s.cfg, s.newSink(p), &s.spare)
		if err != nil {
			return nil, err
		}
		s.lanes[p] = l
	}
	return s.lanes[p], nil
}

func (s *Set[R]) started() []*Lane[R] {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Lane[R], 0, len(s.lanes))
	for _, l := range s.lanes {
		if l != nil {
			out = append(out, l)
		}
	}
	return out
}

// Push hands a chunk to its partition's lane.
func (s *Set[R]) Push(c Chunk[R]) error {
	l, err := s.lane(c.Partition)
	if err != nil {
		return err
	}
	l.q.push(msg[R]{chunk: c})
	return nil
}

// PushAll hands the chunks of one poll to their lanes: a lane takes its
// chunks of the poll together, never some of them before the others. The
// event-time merge relies on it: a poll's chunks tell where each
// partition stood at one fetch, and a lane that saw one partition's
// records without the other partitions' news of that fetch would take
// them for caught up at their previous fetch, and score a record ahead of
// an earlier event of its entity that was fetched with it. A chunk whose
// lane cannot be had is handed to failed (nil: ignored), and the others
// are pushed. PushAll reads cs only during the call.
func (s *Set[R]) PushAll(cs []Chunk[R], failed func(c *Chunk[R], err error)) {
	var ms []msg[R]
	for i := range cs {
		if i > 0 && slices.ContainsFunc(cs[:i], func(c Chunk[R]) bool { return c.Partition == cs[i].Partition }) {
			continue // pushed with the first chunk of its lane
		}
		l, err := s.lane(cs[i].Partition)
		if err != nil {
			if failed != nil {
				for j := i; j < len(cs); j++ {
					if cs[j].Partition == cs[i].Partition {
						failed(&cs[j], err)
					}
				}
			}
			continue
		}
		ms = ms[:0]
		for j := i; j < len(cs); j++ {
			if cs[j].Partition == cs[i].Partition {
				ms = append(ms, msg[R]{chunk: cs[j]})
			}
		}
		l.q.push(ms...)
	}
}

// Partition names a topic partition for the controls.
type Partition struct {
	Topic     string
	Partition int32
}

// Flush makes the lanes of the given partitions finish every record of
// them pushed so far and close their open batches, and waits until they
// have, or ctx ends (its error is returned). Revokes use it. Records that
// cannot be finished now are given up through Sink.Abandon: those that
// wait for the schema registry and, with entity aggregates, those queued
// behind a partition the event-time merge would wait for (scored now,
// they could miss an earlier event of their entity not fetched yet).
func (s *Set[R]) Flush(ctx context.Context, tps []Partition) error {
	return s.broadcast(ctx, ctlFlush, tps)
}

// Drop makes the lanes forget the queued records of the given partitions
// (lost: nothing of them is committed, their new owner reads them).
func (s *Set[R]) Drop(tps []Partition) {
	_ = s.broadcast(context.Background(), ctlDrop, tps)
}

// Barrier makes every lane finish every record pushed so far and close
// its open batch, and waits until all have (exactly-once: a transaction
// ends). It returns the first lane error (a record that waits for the
// schema registry was given up: the transaction must abort) or ctx's.
func (s *Set[R]) Barrier(ctx context.Context) error {
	return s.broadcast(ctx, ctlBarrier, nil)
}

// Stop makes every lane finish every record pushed so far, close its open
// batch and exit, and waits until all have, or ctx ends. What cannot be
// finished now is given up through Sink.Abandon, as Flush does.
func (s *Set[R]) Stop(ctx context.Context) error {
	if err := s.broadcast(ctx, ctlStop, nil); err != nil {
		return err
	}
	for _, l := range s.started() {
		select {
		case <-l.exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Sync waits until every lane has processed what was pushed so far and
// returns ErrWaiting when a lane's event-time merge waits for a partition
// that is behind (an exactly-once transaction then polls on before it
// ends, so that its records are scored in event-time order), or
// ErrRebuilding.
func (s *Set[R]) Sync(ctx context.Context) error {
	return s.broadcast(ctx, ctlSync, nil)
}

// Assign tells the lanes of newly assigned partitions about them, so that
// an event-time merge waits (up to MaxIdle) for their first records
// instead of scoring the other partitions' records ahead of them.
func (s *Set[R]) Assign(tps []Partition) error { return s.each(tps, ctlAssign) }

// StartRebuild tells the lanes of the given partitions that their entity
// state is being rebuilt: until EndRebuild they score nothing (live
// records wait) and take the state-only chunks given to PushState. Call
// it before the partitions' first live chunk is pushed (from the
// assignment callback).
func (s *Set[R]) StartRebuild(tps []Partition) error {
	return s.each(tps, ctlRebuild)
}

// DropBefore tells the lanes of tps that their entity state holds no
// history before t: a rebuild or a warm-up replays from t (call it before
// their first state-only chunk). A window that reaches before t is then
// answered missing, never computed over part of itself.
func (s *Set[R]) DropBefore(tps []Partition, t time.Time) error {
	byLane := map[int32]bool{}
	for _, tp := range tps {
		if byLane[tp.Partition] {
			continue
		}
		byLane[tp.Partition] = true
		l, err := s.lane(tp.Partition)
		if err != nil {
			return err
		}
		l.q.push(msg[R]{ctl: &control{kind: ctlDropBefore, since: t}})
	}
	return nil
}

// Position tells tp's lane where tp's live records start (the committed
// offset, or where a group without one starts), before the lane scores
// any, and, when end ≥ 0, where tp ended when that was read (its high
// watermark). Without it the merge takes a first fetch of tp that brings
// no records as tp being caught up, which a fetch response that filled up
// before reaching tp also looks like; with it, tp is caught up only once
// its records up to the high watermark are in. With the end, a partition
// at its end is known to be caught up at once: no fetch may ever say so,
// as franz-go hands over no fetch response in which no partition has
// records. The two come in one control, so that whatever makes the lane
// forget where tp stands (an exactly-once abort) forgets both.
func (s *Set[R]) Position(tp Partition, offset, end int64) error {
	l, err := s.lane(tp.Partition)
	if err != nil {
		return err
	}
	l.q.push(msg[R]{ctl: &control{kind: ctlPosition, tps: map[partitionKey]bool{{tp.Topic, tp.Partition}: true}, offset: offset, end: end}})
	return nil
}

// PushState hands a state-only chunk (records replayed into the entity
// state) to its partition's lane.
func (s *Set[R]) PushState(c Chunk[R]) error {
	c.StateOnly = true
	return s.Push(c)
}

// EndRebuild ends the rebuild of the given partitions.
func (s *Set[R]) EndRebuild(tps []Partition) error {
	return s.each(tps, ctlRebuilt)
}

// Committed and Aborted tell every lane how an exactly-once transaction
// ended, so that its entity state keeps or drops the transaction's
// records.
func (s *Set[R]) Committed() { _ = s.broadcast(context.Background(), ctlCommit, nil) }

// Aborted is Committed's other outcome.
func (s *Set[R]) Aborted() { _ = s.broadcast(context.Background(), ctlAbort, nil) }

// each queues a control for the lanes of tps (starting them), without
// waiting.
func (s *Set[R]) each(tps []Partition, kind ctlKind) error {
	byLane := map[int32]map[partitionKey]bool{}
	for _, tp := range tps {
		if byLane[tp.Partition] == nil {
			byLane[tp.Partition] = map[partitionKey]bool{}
		}
		byLane[tp.Partition][partitionKey{tp.Topic, tp.Partition}] = true
	}
	for p, keys := range byLane {
		l, err := s.lane(p)
		if err != nil {
			return err
		}
		l.q.push(msg[R]{ctl: &control{kind: kind, tps: keys}})
	}
	return nil
}

// Probe scores recs against the entity state of partition tp's lane, in
// that lane's goroutine between two of its batches: each record's
// aggregates come from the events the lane has processed so far, and the
// records do not enter the state (outcome.Record.Probe). recs are decoded
// already (Value nil: the lane's decoders may be of another encoding) and
// get their outcome as Batch.Score gives it, with the reason codes ex
// asks for. Probe returns ErrRebuilding
// while the lane's state is being rebuilt, ErrNoState without aggregates,
// ErrStopped, or ctx's error — then the lane may still score recs later,
// so the caller must not reuse them. Safe for concurrent use.
func (s *Set[R]) Probe(ctx context.Context, tp Partition, recs []*outcome.Record, ex outcome.Explain) error {
	for _, r := range recs {
		r.Probe = true
	}
	l, err := s.lane(tp.Partition)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	l.q.push(msg[R]{ctl: &control{kind: ctlProbe, recs: recs, explain: ex, done: func(err error) { done <- err }}})
	select {
	case err := <-done:
		return err
	case <-l.exited:
		select {
		case err := <-done:
			return err
		default:
			return ErrStopped
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// EntityStats sums the lanes' entity state (zero without aggregates) and
// the records their rebuilds replayed.
func (s *Set[R]) EntityStats() (st EntityStats) {
	for _, l := range s.started() {
		if e := l.ent; e != nil {
			st.Replayed += e.replayed.Load()
			st.Rebuilding += e.rebuildingCount.Load()
			st.Bytes += e.bytes.Load()
			st.Entities += e.entities.Load()
			st.Late += e.late.Load()
			st.Evicted += e.evicted.Load()
		}
	}
	return st
}

// Waiting appends to dst the partitions the lanes' event-time merges wait
// for now: each has nothing buffered, is behind its high watermark (or
// not fetched yet), and holds back its lane until its next fetch or
// ENTITY_MAX_IDLE. The fetch side keeps fetching them while backpressure
// pauses the rest. Safe for concurrent use.
func (s *Set[R]) Waiting(dst []Partition) []Partition {
	for _, l := range s.started() {
		if e := l.ent; e != nil {
			if p := e.waitingFor.Load(); p != nil {
				dst = append(dst, *p)
			}
		}
	}
	return dst
}

// EntityStats are the lanes' entity figures for metrics and readiness.
type EntityStats struct {
	Replayed   int64 // records replayed into the state by rebuilds
	Rebuilding int64 // partitions whose state is being rebuilt
	Bytes      int64 // the states' size
	Entities   int64 // entities with history
	Late       int64 // late records (they arrived after a later event of their entity was scored)
	Evicted    int64 // lookups answered missing because the entity's history was evicted (ENTITY_STATE_MAX_BYTES)
}

// Finish is Stop for a source with no one to yield to (a backfill): a
// record that waits for the schema registry is waited for. When ctx ends
// first, the lanes stop at once as Stop does, giving up what waits, and
// ctx's error is returned.
func (s *Set[R]) Finish(ctx context.Context) error {
	err := s.broadcast(ctx, ctlFinish, nil)
	if err == nil {
		for _, l := range s.started() {
			select {
			case <-l.exited:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
	}
	if err != nil {
		_ = s.Stop(context.Background())
	}
	return err
}

func (s *Set[R]) broadcast(ctx context.Context, kind ctlKind, tps []Partition) error {
	var keys map[partitionKey]bool
	targets := s.started()
	if tps != nil {
		keys = map[partitionKey]bool{}
		nums := map[int32]bool{}
		for _, tp := range tps {
			keys[partitionKey{tp.Topic, tp.Partition}] = true
			nums[tp.Partition] = true
		}
		kept := targets[:0]
		s.mu.Lock()
		for p, l := range s.lanes {
			if l != nil && nums[int32(p)] {
				kept = append(kept, l)
			}
		}
		s.mu.Unlock()
		targets = kept
	}
	if len(targets) == 0 {
		return nil
	}
	type answer struct {
		done chan error
		l    *Lane[R]
	}
	answers := make([]answer, 0, len(targets))
	for _, l := range targets {
		a := answer{done: make(chan error, 1), l: l}
		l.q.push(msg[R]{ctl: &control{kind: kind, tps: keys, done: func(err error) { a.done <- err }}})
		answers = append(answers, a)
	}
	var first error
	for _, a := range answers {
		var err error
		select {
		case err = <-a.done:
		case <-a.l.exited: // stopped before it got to the control
			select {
			case err = <-a.done:
			default:
				err = ErrStopped
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		if err != nil && first == nil && err != ErrStopped {
			first = err
		}
	}
	return first
}

// StartLabelRebuild tells the lanes of the given partition numbers that
// their label state is being rebuilt (rebuild id): until ReplayLabels
// brings it, the predictions and labels they see wait (bounded by
// Watch.MaxDeferred); scoring goes on. Call it from the assignment
// callback, before the partitions' first records are pushed.
func (s *Set[R]) StartLabelRebuild(partitions []int32, id uint64) error {
	for _, p := range partitions {
		l, err := s.lane(p)
		if err != nil {
			return err
		}
		l.q.push(msg[R]{ctl: &control{kind: ctlLabels, id: id}})
	}
	return nil
}

// ReplayLabels hands lane p the predictions and labels rebuild id read
// back (in time order); the lane applies them before what it saw since
// the rebuild started. A lane whose partitions were revoked since ignores
// them.
func (s *Set[R]) ReplayLabels(p int32, id uint64, ops []quality.Op) error {
	l, err := s.lane(p)
	if err != nil {
		return err
	}
	l.q.push(msg[R]{ctl: &control{kind: ctlReplay, id: id, ops: ops}})
	return nil
}

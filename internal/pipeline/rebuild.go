package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/lane"
)

// Entity state is rebuilt from the input topics themselves, with no
// changelog: when partitions are assigned, their lanes stop scoring
// (lane.Set.StartRebuild, from the assignment callback, before any of
// their records is polled), and a rebuilder reads each partition back from
// the offset for (the committed position's time − the longest window −
// ENTITY_REBUILD_SLACK) up to the committed position, into the state only.
// Then the lanes score again. The committed position's time is the Kafka
// timestamp of the last committed record; the slack covers event times
// that trail their records' timestamps.

// rebuilder runs the rebuilds of one pipeline.
type rebuilder[R any] struct {
	p             *Pipeline
	lanes         *lane.Set[R]
	conn          []kgo.Opt // connection options for its reading clients
	group         string
	latest        bool // START_OFFSET=latest: a partition with no commit starts at its end
	longest       time.Duration
	slack         time.Duration
	readCommitted bool

	runs   rebuildRuns
	active atomic.Int64 // rebuilds in progress
	took   atomic.Int64 // nanoseconds spent rebuilding, all rebuilds
}

func newRebuilder[R any](p *Pipeline, lanes *lane.Set[R], conn []kgo.Opt, readCommitted bool) *rebuilder[R] {
	return &rebuilder[R]{p: p, lanes: lanes, conn: conn, group: p.cfg.GroupID, latest: p.cfg.StartOffset == "latest",
		longest: p.core.Spec().Longest(), slack: p.cfg.EntityRebuildSlack, readCommitted: readCommitted}
}

// start begins rebuilding the given partitions' state: their lanes stop
// scoring now (a rebuild of them still running is cancelled), and a
// goroutine reads their history.
func (rb *rebuilder[R]) start(tps []lane.Partition) {
	run, err := rb.runs.begin(tps, func() error { return rb.lanes.StartRebuild(tps) })
	if err != nil {
		rb.p.log.Error("cannot rebuild the entity state", "err", err)
		return
	}
	rb.active.Add(1)
	go func() {
		defer rb.active.Add(-1)
		start := time.Now()
		n, err := rb.replay(run, tps)
		rb.took.Add(int64(time.Since(start)))
		switch {
		case run.ctx.Err() != nil: // revoked meanwhile: the lanes dropped the partitions
		case err != nil:
			rb.p.log.Error("entity state rebuild failed; the partitions' aggregates are built from their live records only", "partitions", tps, "err", err)
		default:
			rb.p.log.Info("entity state rebuilt", "partitions", len(tps), "records", n, "elapsed", time.Since(start).Round(time.Millisecond))
		}
		rb.runs.end(run, func() error { return rb.lanes.EndRebuild(tps) })
	}()
}

// stop cancels the rebuilds of partitions that are revoked or lost.
func (rb *rebuilder[R]) stop(tps []lane.Partition) { rb.runs.stop(tps) }

// rebuilding reports the rebuilds in progress, for readiness.
func (rb *rebuilder[R]) rebuilding() int64 { return rb.active.Load() }

// replay reads the partitions' history into their lanes' state.
func (rb *rebuilder[R]) replay(run *rebuildRun, tps []lane.Partition) (int64, error) {
	ctx := run.ctx
	cl, err := kgo.NewClient(rb.conn...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := rb.locate(run, adm, tps)
	if err != nil {
		return 0, err
	}
	// A lane holds partition p of every input topic: its partitions are
	// read back from one time R, the earliest of theirs (each partition's
	// committed position's time − the longest window − the slack), so that
	// every entity's history from R on is in the state. Before R the state
	// holds nothing: a window that reaches there is answered missing
	// (entity.State.DropBefore), never computed over part of itself.
	from := map[int32]time.Time{}
	for _, tp := range tps {
		end := ends[tp]
		if end <= 0 {
			continue
		}
		ts, err := rb.timestampAt(ctx, cl, tp, end-1)
		if err != nil {
			return 0, err
		}
		r := ts.Add(-rb.longest - rb.slack)
		if f, ok := from[tp.Partition]; !ok || r.Before(f) {
			from[tp.Partition] = r
		}
	}
	ranges := map[lane.Partition]offsetRange{}
	for p, r := range from {
		var lanePart []lane.Partition
		for _, tp := range tps {
			if tp.Partition == p {
				lanePart = append(lanePart, tp)
			}
		}
		if err := rb.runs.send(run, func() error { return rb.lanes.DropBefore(lanePart, r) }); err != nil {
			return 0, err
		}
		offs, err := adm.ListOffsetsAfterMilli(ctx, r.UnixMilli(), topicsOf(lanePart)...)
		if err != nil {
			return 0, fmt.Errorf("offset for %s: %w", r.Format(time.RFC3339), err)
		}
		for _, tp := range lanePart {
			end := ends[tp]
			if end <= 0 {
				continue
			}
			o, ok := offs.Lookup(tp.Topic, tp.Partition)
			if !ok || o.Err != nil {
				return 0, fmt.Errorf("offset of %s[%d] for %s: %v", tp.Topic, tp.Partition, r.Format(time.RFC3339), o.Err)
			}
			start := o.Offset
			if start < 0 || start > end {
				start = end
			}
			ranges[tp] = offsetRange{start, end}
		}
	}
	var n int64
	err = readRanges(ctx, rb.conn, rb.readCommitted, ranges, func(tp lane.Partition, recs []*kgo.Record) {
		n += int64(len(recs))
		_ = rb.runs.send(run, func() error {
			return rb.lanes.PushState(lane.Chunk[R]{Topic: tp.Topic, Partition: tp.Partition, Records: recs})
		})
	})
	return n, err
}

// locate tells the lanes where tps's live records start (the group's
// positions, which it returns) and where the partitions end now, so that
// the event-time merge knows at once which of them are caught up. A fetch
// cannot be relied on to tell it: franz-go hands over no fetch response in
// which no partition has records or an error, and a fetch session does not
// mention an unchanged partition again, so a partition that is empty when
// it is assigned would otherwise be waited for up to ENTITY_MAX_IDLE.
func (rb *rebuilder[R]) locate(run *rebuildRun, adm *kadm.Client, tps []lane.Partition) (map[lane.Partition]int64, error) {
	positions, ends, err := groupPositions(run.ctx, adm, rb.group, rb.latest, tps)
	if err != nil {
		return nil, err
	}
	err = rb.runs.send(run, func() error {
		for tp, off := range positions {
			end, ok := ends[tp]
			if !ok {
				end = -1
			}
			if err := rb.lanes.Position(tp, off, end); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return positions, nil
}

// offsetRange is the offsets [start, end) of a partition to read back.
type offsetRange struct{ start, end int64 }

// readRanges reads every partition of ranges from its start up to (not
// including) its end with one client, handing fn each fetched partition's
// records in its range, in offset order (fn runs in the caller's
// goroutine). It returns when every range is read, when nothing came for
// 10 s (only compacted records remain), or with
// ctx's error or the first fetch error. Entity and label rebuilds read
// through it.
func readRanges(ctx context.Context, conn []kgo.Opt, readCommitted bool, ranges map[lane.Partition]offsetRange,
	fn func(tp lane.Partition, recs []*kgo.Record)) error {
	starts := map[string]map[int32]kgo.Offset{}
	for tp, r := range ranges {
		if r.start >= r.end {
			continue
		}
		if starts[tp.Topic] == nil {
			starts[tp.Topic] = map[int32]kgo.Offset{}
		}
		starts[tp.Topic][tp.Partition] = kgo.NewOffset().At(r.start)
	}
	left := 0
	for _, ps := range starts {
		left += len(ps)
	}
	if left == 0 {
		return nil
	}
	// Control records (transaction markers) are kept, to be skipped here:
	// a range that ends with one (a transactional topic's always does) is
	// then seen to be read at once, not after the idle wait.
	opts := append(append([]kgo.Opt{}, conn...), kgo.ConsumePartitions(starts), kgo.KeepControlRecords())
	if readCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer rd.Close()
	done := map[lane.Partition]bool{}
	idle := time.Now()
	for len(done) < left {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := rd.PollRecords(pctx, 10000)
		cancel()
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("read %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		got := false
		fs.EachPartition(func(part kgo.FetchTopicPartition) {
			tp := lane.Partition{Topic: part.Topic, Partition: part.Partition}
			end := ranges[tp].end
			var recs []*kgo.Record
			for _, r := range part.Records {
				if r.Offset >= end {
					break
				}
				if !r.Attrs.IsControl() {
					recs = append(recs, r)
				}
			}
			if len(part.Records) > 0 {
				got = true
			}
			if len(recs) > 0 {
				fn(tp, recs)
			}
			if len(part.Records) > 0 && part.Records[len(part.Records)-1].Offset >= end-1 {
				done[tp] = true
				rd.PauseFetchPartitions(map[string][]int32{tp.Topic: {tp.Partition}})
			}
		})
		if got {
			idle = time.Now()
		} else if time.Since(idle) > 10*time.Second { // only compacted (or aborted) records remain
			return nil
		}
	}
	return nil
}

func topicsOf(tps []lane.Partition) []string {
	var out []string
	for _, tp := range tps {
		if !slices.Contains(out, tp.Topic) {
			out = append(out, tp.Topic)
		}
	}
	return out
}

// groupPositions are the group's committed offsets of tps (where their
// records resume), or, for a partition without one, where the group
// starts (its start, or its end with latest); and the partitions' end
// offsets (high watermarks).
func groupPositions(ctx context.Context, adm *kadm.Client, group string, latest bool, tps []lane.Partition) (positions, ends map[lane.Partition]int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, nil, fmt.Errorf("committed offsets: %w", err)
	}
	list := topicsOf(tps)
	endOffs, err := adm.ListEndOffsets(ctx, list...)
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets: %w", err)
	}
	startOffs, err := adm.ListStartOffsets(ctx, list...)
	if err != nil {
		return nil, nil, fmt.Errorf("start offsets: %w", err)
	}
	positions, ends = map[lane.Partition]int64{}, map[lane.Partition]int64{}
	for _, tp := range tps {
		if o, ok := endOffs.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil {
			ends[tp] = o.Offset
		}
		if c, ok := committed.Lookup(tp.Topic, tp.Partition); ok && c.Err == nil && c.At >= 0 {
			positions[tp] = c.At
			continue
		}
		offs := startOffs
		if latest {
			offs = endOffs
		}
		if o, ok := offs.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil {
			positions[tp] = o.Offset
		}
	}
	return positions, ends, nil
}

// timestampAt reads the Kafka timestamp of the record at offset (or the
// nearest one after it).
func (rb *rebuilder[R]) timestampAt(ctx context.Context, cl *kgo.Client, tp lane.Partition, offset int64) (time.Time, error) {
	opts := append(append([]kgo.Opt{}, rb.conn...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tp.Topic: {tp.Partition: kgo.NewOffset().At(offset)}}))
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		return time.Time{}, err
	}
	defer rd.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for rctx.Err() == nil {
		fs := rd.PollRecords(rctx, 1)
		if rs := fs.Records(); len(rs) > 0 {
			return rs[0].Timestamp, nil
		}
	}
	if ctx.Err() != nil {
		return time.Time{}, ctx.Err()
	}
	// Nothing readable there (transaction markers only): the window reaches
	// back from now, which covers any earlier committed position.
	return time.Now(), nil
}

package pipeline

import (
	"context"
	"sync"

	"github.com/streamscore/streamscore/internal/lane"
)

// rebuildRuns tracks the entity rebuilds in progress, by partition, and
// orders what they tell the lanes against their cancellation: begin and
// stop cancel under mu, and a rebuild tells a lane anything (send, end)
// only under mu while its context is live. So nothing of a cancelled
// rebuild reaches a lane after the revoke that cancelled it (the lanes
// drop the partitions after stop returns), nor after a newer rebuild of
// its partitions began: an older rebuild's end must not end a newer one,
// whose state is not complete yet. The zero value is ready; safe for
// concurrent use.
type rebuildRuns struct {
	mu      sync.Mutex
	running map[lane.Partition]*rebuildRun
}

// rebuildRun is one rebuild, of the partitions it began for; ctx ends
// when it is cancelled (a revoke, a newer rebuild) or has ended.
type rebuildRun struct {
	ctx    context.Context
	cancel context.CancelFunc
	tps    []lane.Partition
}

// begin announces a rebuild of tps (lane.Set.StartRebuild) and, under
// the same lock, cancels the rebuilds running for any of them (what they
// tell the lanes needs the lock, so none of it comes after this one's
// announcement); when announce fails nothing changes: the rebuilds
// running go on.
func (rs *rebuildRuns) begin(tps []lane.Partition, announce func() error) (*rebuildRun, error) {
	ctx, cancel := context.WithCancel(context.Background())
	run := &rebuildRun{ctx: ctx, cancel: cancel, tps: tps}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := announce(); err != nil {
		cancel()
		return nil, err
	}
	for _, tp := range tps {
		if old := rs.running[tp]; old != nil {
			old.cancel()
		}
	}
	if rs.running == nil {
		rs.running = map[lane.Partition]*rebuildRun{}
	}
	for _, tp := range tps {
		rs.running[tp] = run
	}
	return run, nil
}

// send runs tell unless run was cancelled (reporting its context's error
// then).
func (rs *rebuildRuns) send(run *rebuildRun, tell func() error) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := run.ctx.Err(); err != nil {
		return err
	}
	return tell()
}

// end finishes run: tell (lane.Set.EndRebuild) runs unless run was
// cancelled, and run stops being the rebuild of its partitions (where a
// newer one has not replaced it).
func (rs *rebuildRuns) end(run *rebuildRun, tell func() error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if run.ctx.Err() == nil {
		_ = tell()
	}
	for _, tp := range run.tps {
		if rs.running[tp] == run {
			delete(rs.running, tp)
		}
	}
	run.cancel()
}

// stop cancels the rebuilds of tps (revoked or lost).
func (rs *rebuildRuns) stop(tps []lane.Partition) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, tp := range tps {
		if r := rs.running[tp]; r != nil {
			r.cancel()
			delete(rs.running, tp)
		}
	}
}

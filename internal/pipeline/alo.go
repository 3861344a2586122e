package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/consumer"
	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
)

// atLeastOnce is DELIVERY=at-least-once: a group member polls, tracks
// every record in the offset tracker and pushes it to its lane; the lanes
// produce its prediction or dead letter, and each acknowledgement comes
// back through the tracker, which alone decides what is committed. The
// poll loop never waits on a lane.
type atLeastOnce struct {
	p     *Pipeline
	group *consumer.Group
	prod  *producer.Producer
	lanes *lane.Set[ackRef]
	rb    *rebuilder[ackRef] // nil without entity aggregates
	lrb   *labelRebuilder    // nil without labels or with LABEL_REBUILD=false

	inBytes  atomic.Int64 // key and value bytes of records polled, not yet acknowledged
	paused   atomic.Bool  // fetching paused by backpressure
	merge    mergeHold    // with entity aggregates: the partitions backpressure holds
	consumed map[string]prometheus.Counter
	gauges   [2]prometheus.Gauge  // in flight: records, bytes
	produce  prometheus.Counter   // dead letters of stage produce
	chunks   []lane.Chunk[ackRef] // the poll loop's, reused
}

// ackRef is what a record carries from the poll to its acknowledgement:
// its token, its Kafka record (bytes and timestamp) and the counter its
// outcome adds to: pred for a prediction (a refused one counts as a dead
// letter of stage produce), dead for a dead letter.
type ackRef struct {
	tok  consumer.Token
	rec  *kgo.Record
	pred prometheus.Counter
	dead prometheus.Counter
}

func newAtLeastOnce(ctx context.Context, p *Pipeline, prodConn, consConn []kgo.Opt) (*atLeastOnce, error) {
	cfg := p.cfg
	outputEnc, _ := schemas.ParseEncoding(cfg.OutputEncoding)
	a := &atLeastOnce{p: p, consumed: map[string]prometheus.Counter{},
		gauges:  [2]prometheus.Gauge{p.obs.InFlight.WithLabelValues("records"), p.obs.InFlight.WithLabelValues("bytes")},
		produce: p.obs.DeadLetters.WithLabelValues(producer.StageProduce)}
	for _, t := range cfg.Topics() {
		a.consumed[t] = p.obs.Consumed.WithLabelValues(t)
	}
	prod, err := producer.New(producer.Options{
		Conn: prodConn, Compression: cfg.Compression, Encoding: outputEnc, Encoder: p.predEnc,
		Topic: cfg.OutputTopic, DLQTopic: cfg.DLQTopic,
		MaxBufferedRecords: cfg.MaxInFlightRecords, MaxBufferedBytes: cfg.MaxInFlightBytes,
		OnError: p.produceError, Logger: p.log,
	})
	if err != nil {
		return nil, err
	}
	a.prod = prod
	counts, err := p.partitionCounts(ctx, prod.Client())
	if err != nil {
		prod.Close()
		return nil, err
	}
	entities := len(p.core.Spec().Aggregates()) > 0
	var balancer kgo.GroupBalancer
	if entities || cfg.LabelsTopic != "" {
		balancer = kgo.RangeBalancer() // partition p of every input topic (and of the labels) at one member
	}
	p.loadLimits(ctx, prod.Limits(), prod.Client())
	// The lanes and the rebuilder exist before the group is joined: the
	// assignment callback uses them. Pausing happens only once records
	// flow, after a.group is set.
	pause := func(topic string, partition int32) {
		a.group.PausePartitions(consumer.TopicPartition{Topic: topic, Partition: partition})
	}
	resume := func(topic string, partition int32) {
		a.group.ResumePartitions(consumer.TopicPartition{Topic: topic, Partition: partition})
	}
	a.lanes, err = lane.NewSet(p.laneConfig(pause, resume), a.newSink)
	if err != nil {
		prod.Close()
		return nil, err
	}
	if entities {
		a.rb = newRebuilder(p, a.lanes, p.rebuildConn, false)
		p.watchEntities(entityFigures(a.lanes, a.rb))
	}
	if a.lrb, err = newLabelRebuilder(p, a.lanes, false); err != nil {
		prod.Close()
		return nil, err
	}
	group, err := consumer.NewGroup(consumer.Options{
		Topics: p.watch.consumed(), Group: cfg.GroupID, InstanceID: cfg.GroupInstanceID,
		StartAtEnd:    cfg.StartOffset == "latest",
		RevokeTimeout: min(cfg.ShutdownTimeout, 45*time.Second),
		Extra:         fetchOpts(cfg, entities, counts),
		Conn:          consConn, Logger: p.log,
		OnRevoke:     a.onRevoke,
		OnLost:       a.onLost,
		OnAssign:     a.onAssign,
		Balancer:     balancer,
		OnLag:        p.obs.SetLag,
		OnFetchError: p.fetchError,
	})
	if err != nil {
		prod.Close()
		return nil, err
	}
	a.group = group
	return a, nil
}

// onAssign starts rebuilding the entity state of newly assigned
// partitions (their lanes score nothing until it is done), and their label
// state (scoring goes on).
func (a *atLeastOnce) onAssign(_ context.Context, tps []consumer.TopicPartition) {
	a.lrb.start(lanePartitions(tps))
	if a.rb != nil {
		in := a.p.watch.inputPartitions(lanePartitions(tps))
		_ = a.lanes.Assign(in)
		a.rb.start(in)
	}
}

func (a *atLeastOnce) client() *kgo.Client { return a.group.Client() }

func (a *atLeastOnce) owns(tp lane.Partition) bool {
	return a.group.Tracker().Owned(consumer.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
}

func (a *atLeastOnce) probe(ctx context.Context, tp lane.Partition, recs []*outcome.Record, ex outcome.Explain) error {
	return a.lanes.Probe(ctx, tp, recs, ex)
}

func (a *atLeastOnce) assigned() int { return a.group.Tracker().OwnedCount() }

func (a *atLeastOnce) rebuilding() int64 {
	if a.rb == nil {
		return 0
	}
	return a.rb.rebuilding()
}

// run polls until ctx ends, then drains.
func (a *atLeastOnce) run(ctx context.Context) error {
	nextCommit := time.Now().Add(a.p.cfg.CommitInterval)
	for ctx.Err() == nil {
		deadline := nextCommit
		if a.rb != nil {
			if a.backpressureMerge() { // polls go on, for the partitions merges wait for
				if soon := time.Now().Add(mergeHoldPoll); soon.Before(deadline) {
					deadline = soon
				}
			}
		} else if err := a.backpressure(ctx); err != nil {
			break
		}
		pollCtx, cancel := context.WithDeadline(ctx, deadline)
		fetches, err := a.group.Poll(pollCtx, a.p.pollMax())
		cancel()
		if err != nil {
			a.prod.Close()
			a.group.Close(context.Background())
			return fmt.Errorf("poll: %w", err)
		}
		chunks := a.chunks[:0]
		for _, f := range fetches {
			if len(f.Records) == 0 {
				if a.rb != nil { // the event-time merge learns the partition is caught up
					chunks = append(chunks, lane.Chunk[ackRef]{Topic: f.TP.Topic, Partition: f.TP.Partition, HighWatermark: f.HighWatermark})
				}
				continue
			}
			var n int64
			for _, r := range f.Records {
				n += recordBytes(r)
			}
			a.inBytes.Add(n)
			a.p.progress.polled(f.TP.Topic, f.TP.Partition, f.Records[len(f.Records)-1].Offset+1)
			if f.TP.Topic == a.p.cfg.LabelsTopic {
				a.p.stats.Labels.Add(int64(len(f.Records)))
			} else {
				a.p.stats.Consumed.Add(int64(len(f.Records)))
			}
			if c := a.consumed[f.TP.Topic]; c != nil {
				c.Add(float64(len(f.Records)))
			}
			refs := make([]ackRef, len(f.Records))
			for i, r := range f.Records {
				refs[i] = ackRef{tok: f.Tokens[i], rec: r}
			}
			chunks = append(chunks, lane.Chunk[ackRef]{Topic: f.TP.Topic, Partition: f.TP.Partition, Records: f.Records, Refs: refs,
				HighWatermark: f.HighWatermark})
		}
		// one poll's chunks reach a lane together (see lane.Set.PushAll)
		a.lanes.PushAll(chunks, func(c *lane.Chunk[ackRef], err error) {
			if len(c.Records) == 0 { // a caught-up partition's news
				return
			}
			a.p.log.Error("records not processed", "topic", c.Topic, "partition", c.Partition, "records", len(c.Records), "err", err)
		})
		clear(chunks)
		a.chunks = chunks[:0]
		a.group.AllowRebalance()
		if !time.Now().Before(nextCommit) {
			a.commit(ctx)
			nextCommit = time.Now().Add(a.p.cfg.CommitInterval)
		}
	}
	return a.drain()
}

// recordBytes is what a polled record counts against MAX_IN_FLIGHT_BYTES.
func recordBytes(r *kgo.Record) int64 { return int64(len(r.Key) + len(r.Value)) }

func (a *atLeastOnce) commit(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.group.Commit(ctx); err != nil && ctx.Err() == nil {
		topic := "" // the topic of a partition that failed, for the readiness reason
		if pe := (*consumer.PartitionError)(nil); errors.As(err, &pe) {
			topic = pe.Topic
		}
		if !a.p.health.clientError(topic, err) {
			a.p.log.Warn("commit failed; will retry", "err", err)
		}
	}
}

// backpressure bounds what is in flight (polled, not yet acknowledged) to
// MAX_IN_FLIGHT_RECORDS records and MAX_IN_FLIGHT_BYTES bytes of input.
// When either is reached, fetching of the input topics pauses (no fetch
// request goes out for their partitions) until both are back under three
// quarters of their limits; the lanes keep closing their batches on their
// intervals meanwhile, so what is in flight drains. It returns ctx's error
// if ctx ends while paused.
func (a *atLeastOnce) backpressure(ctx context.Context) error {
	cfg := a.p.cfg
	tr := a.group.Tracker()
	if !a.overLimit(1) {
		return nil
	}
	a.group.Pause()
	a.setPaused(true)
	start := time.Now()
	defer func() {
		a.group.Resume()
		a.setPaused(false)
		a.p.log.Debug("fetching resumed", "paused_for", time.Since(start).Round(time.Millisecond))
	}()
	a.p.log.Debug("in-flight limit reached; fetching paused", "records", tr.InFlight(), "bytes", a.inBytes.Load())
	for a.overLimit(0.75) {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond) // the bytes limit is checked as often
		_ = tr.WaitBelow(wctx, max(1, cfg.MaxInFlightRecords*3/4))
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// overLimit publishes what is in flight and reports whether it has reached
// frac of MAX_IN_FLIGHT_RECORDS or MAX_IN_FLIGHT_BYTES.
func (a *atLeastOnce) overLimit(frac float64) bool {
	n, b := a.group.Tracker().InFlight(), a.inBytes.Load()
	a.gauges[0].Set(float64(n))
	a.gauges[1].Set(float64(b))
	return float64(n) >= frac*float64(a.p.cfg.MaxInFlightRecords) || float64(b) >= frac*float64(a.p.cfg.MaxInFlightBytes)
}

// setPaused records that backpressure paused (or resumed) fetching.
func (a *atLeastOnce) setPaused(on bool) {
	a.paused.Store(on)
	if on {
		a.p.obs.FetchPaused.Set(1)
		a.p.obs.FetchPauses.Inc()
		a.p.stats.FetchPauses.Add(1)
	} else {
		a.p.obs.FetchPaused.Set(0)
	}
}

// FetchPaused reports whether backpressure has paused fetching now.
func (p *Pipeline) FetchPaused() bool {
	a, ok := p.current().(*atLeastOnce)
	return ok && a.paused.Load()
}

// onRevoke makes the lanes of the revoked partitions produce every record
// of them they hold (closing their open batches) or give it up
// uncommitted (lane.Set.Flush), so that the group's revoke handler can
// await their acknowledgements and commit.
func (a *atLeastOnce) onRevoke(ctx context.Context, tps []consumer.TopicPartition) {
	a.lrb.stop(lanePartitions(tps))
	if a.rb != nil {
		a.rb.stop(a.p.watch.inputPartitions(lanePartitions(tps)))
	}
	if err := a.lanes.Flush(ctx, lanePartitions(tps)); err != nil {
		a.p.log.Warn("revoke: lanes did not hand over every record in time", "err", err)
	}
	a.dropLag(tps)
}

// onLost makes the lanes forget the lost partitions' queued records:
// nothing of them is committed, their new owner reads them.
func (a *atLeastOnce) onLost(tps []consumer.TopicPartition) {
	a.lrb.stop(lanePartitions(tps))
	if a.rb != nil {
		a.rb.stop(a.p.watch.inputPartitions(lanePartitions(tps)))
	}
	a.lanes.Drop(lanePartitions(tps))
	a.dropLag(tps)
}

func (a *atLeastOnce) dropLag(tps []consumer.TopicPartition) {
	for _, tp := range tps {
		a.p.obs.DropLag(tp.Topic, tp.Partition)
	}
}

func lanePartitions(tps []consumer.TopicPartition) []lane.Partition {
	out := make([]lane.Partition, len(tps))
	for i, tp := range tps {
		out[i] = lane.Partition{Topic: tp.Topic, Partition: tp.Partition}
	}
	return out
}

// drain stops the lanes (they finish what they hold and close their
// batches), waits for every acknowledgement, commits and leaves the group,
// all within SHUTDOWN_TIMEOUT, whatever the brokers do. What is not
// acknowledged by then stays uncommitted and is read again.
func (a *atLeastOnce) drain() error {
	start := time.Now()
	timeout := a.p.cfg.ShutdownTimeout
	deadline := start.Add(timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// Keep time for the final commit and for leaving the group (and the
	// client's own second for closing fetch sessions).
	reserve := min(max(timeout/5, 500*time.Millisecond), 3*time.Second)
	wctx, wcancel := context.WithDeadline(ctx, deadline.Add(-reserve))
	defer wcancel()
	stopErr := a.lanes.Stop(wctx)
	waitErr := a.group.Tracker().Wait(wctx)
	_ = a.prod.Flush(wctx) // the challengers' predictions, which nothing tracks
	unacked := a.group.Tracker().InFlight()
	commitErr := a.group.Commit(ctx)
	if commitErr != nil {
		a.p.log.Error("final commit failed; the last acknowledged records will be read again", "err", commitErr)
	}
	a.group.AllowRebalance()
	a.closeWithin(ctx, func() { a.group.Close(ctx) })
	a.closeWithin(ctx, a.prod.Close)
	a.p.log.Info("drained", "elapsed", time.Since(start).Round(time.Millisecond), "consumed", a.p.stats.Consumed.Load(),
		"predictions", a.p.stats.Predictions.Load(), "dead_letters", a.p.stats.DeadLetters.Load(), "unacknowledged", unacked)
	if waitErr != nil || stopErr != nil || unacked > 0 {
		return fmt.Errorf("shutdown: %d records not acknowledged within SHUTDOWN_TIMEOUT=%v; they stay uncommitted and will be read again",
			unacked, timeout)
	}
	if commitErr != nil {
		return fmt.Errorf("shutdown: every record acknowledged, but the final commit failed (%w); the records acknowledged since the last commit will be read again", commitErr)
	}
	return nil
}

// closeWithin runs close, but returns when ctx ends even if close has
// not: a client that cannot reach its brokers must not hold the exit.
func (a *atLeastOnce) closeWithin(ctx context.Context, fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-ctx.Done():
		a.p.log.Warn("a Kafka client did not close within SHUTDOWN_TIMEOUT; exiting without it")
	}
}

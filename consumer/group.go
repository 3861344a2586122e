package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options configure a Group.
type Options struct {
	Topics     []string
	Group      string
	InstanceID string // static membership when set
	// StartAtEnd starts a group with no committed offset at the end of the
	// partitions (START_OFFSET=latest) instead of the start.
	StartAtEnd bool
	// RevokeTimeout bounds how long a revoke waits for the acks of the
	// revoked partitions before committing what is acknowledged; keep it
	// below the rebalance timeout.
	RevokeTimeout time.Duration
	// Conn are the connection options (brokers, TLS, SASL, client id).
	Conn []kgo.Opt
	// Extra options, for tests (metadata age, fetch sizes).
	Extra  []kgo.Opt
	Logger *slog.Logger

	// OnRevoke is called when partitions are revoked (and on a clean leave),
	// before their acks are awaited: the pipeline closes its open batch and
	// hands its records to the producer. It runs while the pipeline is
	// between polls (BlockRebalanceOnPoll) and must not call Poll.
	OnRevoke func(ctx context.Context, tps []TopicPartition)
	// OnLost is called when partitions are lost (session expired, fenced):
	// nothing of them is committed.
	OnLost func(tps []TopicPartition)
	// OnAssign, if set, is called when partitions are assigned, after they
	// are tracked and before any of their records is polled (the pipeline
	// starts rebuilding their entity state). It must not block for long:
	// the rebalance waits for it.
	OnAssign func(ctx context.Context, tps []TopicPartition)
	// Balancer is the group balancer (default cooperative-sticky). Entity
	// features need partition p of every input topic at one member: the
	// range balancer gives that for topics of equal partition counts.
	Balancer kgo.GroupBalancer
	// OnFetchError, if set, receives the errors returned to polls (the
	// client retries them); topic is "" and partition -1 for errors of the
	// group itself, such as a group authorization failure. Without it they
	// are logged.
	OnFetchError func(topic string, partition int32, err error)
	// OnLag, if set, receives each polled partition's lag: records between
	// the last polled offset and the high watermark.
	OnLag func(topic string, partition int32, lag int64)
}

// Group is a consumer group member. Poll and AllowRebalance must be called
// from one goroutine; Commit and Tracker are safe for concurrent use.
type Group struct {
	cl       *kgo.Client
	tracker  *Tracker
	opts     Options
	log      *slog.Logger
	commitMu sync.Mutex // orders commits with partition drops
	assigned chan struct{}
	once     sync.Once
	closing  atomic.Pointer[context.Context] // set by Close: bounds the last revoke
}

// NewGroup creates the group client; it joins on the first Poll.
func NewGroup(o Options) (*Group, error) {
	if len(o.Topics) == 0 || o.Group == "" {
		return nil, errors.New("consumer: topics and group are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RevokeTimeout <= 0 {
		o.RevokeTimeout = 20 * time.Second
	}
	g := &Group{tracker: NewTracker(), opts: o, log: o.Logger, assigned: make(chan struct{})}
	start := kgo.NewOffset().AtStart()
	if o.StartAtEnd {
		start = kgo.NewOffset().AtEnd()
	}
	balancer := o.Balancer
	if balancer == nil {
		balancer = kgo.CooperativeStickyBalancer()
	}
	opts := append([]kgo.Opt{}, o.Conn...)
	opts = append(opts,
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.Topics...),
		kgo.Balancers(balancer),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(start),
		kgo.OnPartitionsAssigned(g.onAssigned),
		kgo.OnPartitionsRevoked(g.onRevoked),
		kgo.OnPartitionsLost(g.onLost),
	)
	if o.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(o.InstanceID))
	}
	opts = append(opts, o.Extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("consumer client: %w", err)
	}
	g.cl = cl
	return g, nil
}

// Tracker is the group's offset tracker.
func (g *Group) Tracker() *Tracker { return g.tracker }

// Client is the underlying franz-go client (for metadata and lag queries).
func (g *Group) Client() *kgo.Client { return g.cl }

// Assigned is closed once the first partitions are assigned.
func (g *Group) Assigned() <-chan struct{} { return g.assigned }

func toTPs(m map[string][]int32) []TopicPartition {
	var out []TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, TopicPartition{t, p})
		}
	}
	return out
}

func (g *Group) onAssigned(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	tps := toTPs(m)
	g.tracker.Assign(tps...)
	if g.opts.OnAssign != nil && len(tps) > 0 {
		g.opts.OnAssign(ctx, tps)
	}
	g.log.Info("partitions assigned", "partitions", len(tps), "assigned", m)
	g.once.Do(func() { close(g.assigned) })
}

func (g *Group) onRevoked(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	tps := toTPs(m)
	if len(tps) == 0 {
		return
	}
	if c := g.closing.Load(); c != nil { // leaving at shutdown: the drain's deadline bounds this too
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadlineOf(*c))
		defer cancel()
	}
	if g.opts.OnRevoke != nil {
		g.opts.OnRevoke(ctx, tps)
	}
	wctx, cancel := context.WithTimeout(ctx, g.opts.RevokeTimeout)
	err := g.tracker.Wait(wctx, tps...)
	cancel()
	if err != nil {
		g.log.Warn("revoke: not every record of the revoked partitions was acknowledged in time; committing the acknowledged prefix",
			"partitions", m, "in_flight", g.tracker.InFlight(tps...), "timeout", g.opts.RevokeTimeout)
	}
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	if err := g.commitLocked(ctx, tps); err != nil {
		g.log.Warn("revoke: commit failed", "partitions", m, "err", err)
	}
	g.tracker.Drop(tps...)
	g.log.Info("partitions revoked", "partitions", len(tps), "revoked", m)
}

func (g *Group) onLost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	tps := toTPs(m)
	g.commitMu.Lock()
	g.tracker.Drop(tps...)
	g.commitMu.Unlock()
	if g.opts.OnLost != nil {
		g.opts.OnLost(tps)
	}
	g.log.Warn("partitions lost; nothing of them is committed", "lost", m)
}

// Fetch is one poll's records of one partition, in offset order, with
// their tokens (Tokens[i] tracks Records[i]). HighWatermark is the
// partition's high watermark when it was fetched. A fetch of a caught-up
// partition has no records, only its high watermark.
type Fetch struct {
	TP            TopicPartition
	Records       []*kgo.Record
	Tokens        []Token
	HighWatermark int64
}

// Poll returns the next records of owned partitions, partition by
// partition, tracked in the offset tracker in order. It blocks until
// records arrive or ctx ends (then it returns nothing and no error). Fetch
// errors that the client retries are reported to OnFetchError (or logged);
// a closed client returns kgo.ErrClientClosed. After Poll returns, no
// rebalance runs until AllowRebalance is called.
func (g *Group) Poll(ctx context.Context, maxRecords int) ([]Fetch, error) {
	fs := g.cl.PollRecords(ctx, maxRecords)
	if fs.IsClientClosed() {
		return nil, kgo.ErrClientClosed
	}
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if g.opts.OnFetchError != nil {
			g.opts.OnFetchError(t, p, err)
			return
		}
		g.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
	})
	var out []Fetch
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			if p.Err == nil && p.HighWatermark >= 0 { // caught up: its high watermark still tells the lanes
				out = append(out, Fetch{TP: TopicPartition{p.Topic, p.Partition}, HighWatermark: p.HighWatermark})
			}
			return
		}
		if g.opts.OnLag != nil {
			g.opts.OnLag(p.Topic, p.Partition, max(0, p.HighWatermark-p.Records[len(p.Records)-1].Offset-1))
		}
		tp := TopicPartition{p.Topic, p.Partition}
		h, ok := g.tracker.Partition(tp)
		if !ok { // cannot happen with BlockRebalanceOnPoll; never process unowned records
			return
		}
		f := Fetch{TP: tp, Records: p.Records, Tokens: make([]Token, 0, len(p.Records)), HighWatermark: p.HighWatermark}
		for _, r := range p.Records {
			tok, ok := h.Track(r.Offset, r.LeaderEpoch)
			if !ok {
				return
			}
			f.Tokens = append(f.Tokens, tok)
		}
		out = append(out, f)
	})
	return out, nil
}

// PausePartitions stops fetching the given partitions until
// ResumePartitions (a lane that waits for the schema registry holds its
// partitions this way, and lets the rest of the group run). Safe for
// concurrent use.
func (g *Group) PausePartitions(tps ...TopicPartition) {
	g.cl.PauseFetchPartitions(byTopic(tps))
}

// ResumePartitions undoes PausePartitions.
func (g *Group) ResumePartitions(tps ...TopicPartition) {
	g.cl.ResumeFetchPartitions(byTopic(tps))
}

func byTopic(tps []TopicPartition) map[string][]int32 {
	m := map[string][]int32{}
	for _, tp := range tps {
		m[tp.Topic] = append(m[tp.Topic], tp.Partition)
	}
	return m
}

// Pause stops fetching the group's topics: no fetch request goes out for
// any of their partitions, assigned now or later, until Resume. Do not
// Poll while paused: the client would drop what it has buffered for the
// paused topics, to fetch it again after Resume.
func (g *Group) Pause() { g.cl.PauseFetchTopics(g.opts.Topics...) }

// Resume undoes Pause.
func (g *Group) Resume() { g.cl.ResumeFetchTopics(g.opts.Topics...) }

// AllowRebalance lets a pending rebalance run (see Poll).
func (g *Group) AllowRebalance() { g.cl.AllowRebalance() }

// Commit commits every owned partition's acknowledged prefix. A partition
// the broker refused is reported as a *PartitionError (joined, one per
// partition).
func (g *Group) Commit(ctx context.Context) error {
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	return g.commitLocked(ctx, nil)
}

func (g *Group) commitLocked(ctx context.Context, only []TopicPartition) error {
	c := g.tracker.Committable(only...)
	if len(c) == 0 {
		return nil
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for tp, cm := range c {
		if offsets[tp.Topic] == nil {
			offsets[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: cm.LeaderEpoch, Offset: cm.Offset}
	}
	var errs []error
	g.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			errs = append(errs, err)
			clear(c) // nothing is known to be committed
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				tp := TopicPartition{t.Topic, p.Partition}
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
					errs = append(errs, &PartitionError{TopicPartition: tp, Err: e})
					delete(c, tp)
				}
			}
		}
	})
	g.tracker.Committed(c) // the partitions that did commit, even when others failed
	if len(errs) > 0 {
		return fmt.Errorf("commit offsets: %w", errors.Join(errs...))
	}
	return nil
}

// PartitionError is one partition's failure in a commit (Commit's error
// joins one per failed partition; errors.As finds them).
type PartitionError struct {
	TopicPartition
	Err error
}

func (e *PartitionError) Error() string {
	return fmt.Sprintf("%s[%d]: %v", e.Topic, e.Partition, e.Err)
}

func (e *PartitionError) Unwrap() error { return e.Err }

// Close leaves the group (a static member keeps its place) and closes the
// client, within ctx: the last revoke (its wait for acknowledgements and
// its commit) and the LeaveGroup request end when ctx does, so a shutdown
// with the brokers gone is bounded. Callers drain and commit first.
func (g *Group) Close(ctx context.Context) {
	g.closing.Store(&ctx)
	if err := g.cl.LeaveGroupContext(ctx); err != nil && ctx.Err() == nil {
		g.log.Warn("leave group", "err", err)
	}
	g.cl.Close()
}

// deadlineOf is ctx's deadline, or now when it has none or has ended.
func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok && ctx.Err() == nil {
		return d
	}
	if ctx.Err() == nil {
		return time.Now().Add(time.Hour)
	}
	return time.Now()
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/consumer"
	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/kafkaconn"
	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
)

// Exactly-once delivery (DELIVERY=exactly-once) runs on franz-go's
// GroupTransactSession, whose End commits every polled offset with the
// transaction. So each transaction is a barrier: poll, push the records to
// their lanes, let every lane finish and close its batch (lane.Barrier),
// wait for every output's answer, End. No record is committed unscored. An
// abort (a rebalance during the transaction, a produce failure, the schema
// registry down) leaves nothing visible to read_committed readers, and the
// session fetches the records again from the last committed offsets.

// TransactionalID is KAFKA_TRANSACTIONAL_ID, or the group id plus the
// instance id (or host name): stable per instance, so that a restarted
// instance fences its predecessor instead of waiting out its transaction.
func TransactionalID(cfg config.Config) string {
	if cfg.TransactionalID != "" {
		return cfg.TransactionalID
	}
	id := cfg.GroupInstanceID
	if id == "" {
		id, _ = os.Hostname()
	}
	return cfg.GroupID + "-" + id
}

// GroupInstanceID is the group instance id of an exactly-once instance:
// KAFKA_GROUP_INSTANCE_ID, or else its transactional id. Its member is
// static (KIP-345): an instance restarted after a crash takes its
// predecessor's place in the group at once, as its InitProducerID fences the
// predecessor's transaction. A dynamic member would join beside the dead
// one, which keeps its partitions (and, on devkafka's brokers, keeps
// rebalances from completing) until its session times out.
func GroupInstanceID(cfg config.Config) string {
	if cfg.GroupInstanceID != "" {
		return cfg.GroupInstanceID
	}
	return TransactionalID(cfg)
}

// txnTimeout is the transaction timeout asked of the brokers.
const txnTimeout = 40 * time.Second

// fencePredecessor initializes the producer id of the transactional id
// now, which aborts the transaction a killed predecessor with the same id
// left open. franz-go would do it only when the first record is produced,
// and none is before the group's offsets are fetched: if the predecessor's
// transaction holds offsets of the group, the brokers answer that fetch
// UNSTABLE_OFFSET_COMMIT until the transaction times out (40 s).
func fencePredecessor(ctx context.Context, cl *kgo.Client, cfg config.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("initialize the producer id of transactional id %q: %w", TransactionalID(cfg), kafkaconn.Explain(err, cfg))
	}
	return nil
}

// txnCondition is the readiness condition of transactions that keep
// aborting (three or more in a row), cleared by the next commit.
const txnCondition = "client/txn"

// maxRefused bounds the refused set (entries of partitions since revoked
// are never fetched again here); past it the set restarts empty, which
// costs at most one more aborted transaction per refused record.
const maxRefused = 10_000

// eosDeliveryTimeout bounds how long a record of a transaction may wait
// for the broker: a transaction whose output cannot be written aborts
// (and is retried with backoff) instead of waiting forever.
const eosDeliveryTimeout = 30 * time.Second

type srcKey struct {
	topic     string
	partition int32
	offset    int64
}

func keyOf(r *kgo.Record) srcKey { return srcKey{r.Topic, r.Partition, r.Offset} }

// refusal is an output the broker refused as a record in an aborted
// transaction: the next attempt writes its replacement — a prediction's
// dead letter (stage produce), a dead letter's truncated form, or a
// truncated dead letter cut to half the limit.
type refusal struct {
	kind  producer.Kind
	err   error  // the broker's refusal
	stage string // a dead letter's stage
	cause error  // a dead letter's reason
	limit int32  // a truncated dead letter's limit
}

type exactlyOnce struct {
	stopAt atomic.Int64 // unix nanoseconds: when the shutdown's SHUTDOWN_TIMEOUT ends (0: running)
	p      *Pipeline
	sess   *kgo.GroupTransactSession
	limits *producer.Limits
	lanes  *lane.Set[txnRef]
	rb     *rebuilder[txnRef] // nil without entity aggregates
	lrb    *labelRebuilder    // nil without labels or with LABEL_REBUILD=false
	// ready is closed once the fields above are set (or construction
	// failed): the group's callbacks, which may run as soon as the session
	// exists, wait for it.
	ready chan struct{}

	sendCtx    context.Context // every send lives in it; ended at the end of the drain
	sendCancel context.CancelFunc

	mu    sync.Mutex // guards sinks and owned
	sinks []*eosSink
	owned map[lane.Partition]bool

	entities bool                 // entity aggregates: range balancer, rebuilds, state kept per transaction
	refused  map[srcKey]refusal   // read by the lanes during a transaction, written between transactions
	aborts   int                  // consecutive aborted transactions, for backoff
	labels   int                  // label records of the transaction
	chunks   []lane.Chunk[txnRef] // a poll's chunks for the lanes (transact's, reused)
	consumed map[string]prometheus.Counter
	closed   bool // close finished in time: a new session may replace this one
}

// txnRef is what a record carries in a transaction; for a dead letter
// also its stage and reason, and for a truncated one the limit it was cut
// to, so that a refusal says what to write next.
type txnRef struct {
	t     *txn
	rec   *kgo.Record
	stage string
	cause error
	limit int32
}

// txn is one transaction's outputs in flight.
type txn struct {
	pending atomic.Int64 // outputs sent, not yet answered
	mu      sync.Mutex
	sealed  bool // every output has been sent
	done    chan struct{}
	err     error              // the first failure
	refused map[srcKey]refusal // outputs refused as records
	gone    map[string]bool    // topics that answered UNKNOWN_TOPIC_ID (deleted, maybe recreated)
}

func newTxn() *txn {
	return &txn{done: make(chan struct{}), refused: map[srcKey]refusal{}, gone: map[string]bool{}}
}

// answered records one output's answer.
func (t *txn) answered(rec *kgo.Record, r refusal, topic string, err error) {
	// r describes the output; on a refusal it also says what to write next
	if err != nil {
		t.mu.Lock()
		if t.err == nil {
			t.err = err
		}
		if errors.Is(err, kerr.UnknownTopicID) {
			t.gone[topic] = true
		}
		if producer.RecordRefused(err) && rec != nil { // nil: a challenger's, never replaced
			r.err = err
			t.refused[keyOf(rec)] = r
		}
		t.mu.Unlock()
	}
	if t.pending.Add(-1) == 0 {
		t.mu.Lock()
		if t.sealed {
			t.closeLocked()
		}
		t.mu.Unlock()
	}
}

// seal says every output is sent; done closes once all are answered.
func (t *txn) seal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sealed = true
	if t.pending.Load() == 0 {
		t.closeLocked()
	}
}

func (t *txn) closeLocked() {
	select {
	case <-t.done:
	default:
		close(t.done)
	}
}

func (t *txn) firstErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

func newExactlyOnce(ctx context.Context, p *Pipeline, conn []kgo.Opt) (*exactlyOnce, error) {
	cfg := p.cfg
	e := &exactlyOnce{p: p, limits: new(producer.Limits), owned: map[lane.Partition]bool{}, consumed: map[string]prometheus.Counter{},
		entities: len(p.core.Spec().Aggregates()) > 0, ready: make(chan struct{})}
	opened := sync.OnceFunc(func() { close(e.ready) })
	defer opened()
	for _, t := range cfg.Topics() {
		e.consumed[t] = p.obs.Consumed.WithLabelValues(t)
	}
	compression, err := producer.Compression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	start := kgo.NewOffset().AtStart()
	if cfg.StartOffset == "latest" {
		start = kgo.NewOffset().AtEnd()
	}
	balancer := kgo.CooperativeStickyBalancer()
	if e.entities || cfg.LabelsTopic != "" {
		balancer = kgo.RangeBalancer() // partition p of every input topic (and of the labels) at one member
	}
	// The topics are checked with a client of their own, before the
	// session is made: its fetch options depend on the partition counts.
	counts, err := checkedTopics(ctx, p)
	if err != nil {
		return nil, err
	}
	opts := append(append([]kgo.Opt{}, conn...),
		kgo.ConsumerGroup(cfg.GroupID),
		kgo.ConsumeTopics(p.watch.consumed()...),
		kgo.TransactionalID(TransactionalID(cfg)), kgo.TransactionTimeout(txnTimeout),
		kgo.InstanceID(GroupInstanceID(cfg)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.Balancers(balancer),
		kgo.ConsumeResetOffset(start),
		compression,
		kgo.RecordDeliveryTimeout(eosDeliveryTimeout),
		e.limits.Opt(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { e.own(m, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { e.own(m, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { e.own(m, false) }),
	)
	opts = append(opts, fetchOpts(cfg, e.entities, counts)...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, err
	}
	if err := fencePredecessor(ctx, sess.Client(), cfg); err != nil {
		opened() // a revoke callback during Close must not wait
		sess.Close()
		return nil, err
	}
	p.loadLimits(ctx, e.limits, sess.Client())
	e.sess = sess
	e.sendCtx, e.sendCancel = context.WithCancel(context.Background())
	lanes, err := lane.NewSet(p.laneConfig(nil, nil), e.newSink)
	if err != nil {
		opened() // a revoke callback during Close must not wait
		sess.Close()
		return nil, err
	}
	e.lanes = lanes
	if e.entities {
		e.rb = newRebuilder(p, e.lanes, p.rebuildConn, true)
		p.watchEntities(entityFigures(e.lanes, e.rb))
	}
	if e.lrb, err = newLabelRebuilder(p, e.lanes, true); err != nil {
		opened() // a revoke callback during Close must not wait
		sess.Close()
		return nil, err
	}
	p.log.Info("exactly-once: transactional id", "transactional_id", TransactionalID(cfg), "group_instance_id", GroupInstanceID(cfg))
	return e, nil
}

func (e *exactlyOnce) own(m map[string][]int32, owned bool) {
	<-e.ready
	if e.lanes == nil { // construction failed: the session is being closed
		return
	}
	if owned {
		e.lrb.start(lanePartitions(toTopicPartitions(m)))
	} else {
		e.lrb.stop(lanePartitions(toTopicPartitions(m)))
	}
	if e.rb != nil {
		tps := e.p.watch.inputPartitions(lanePartitions(toTopicPartitions(m)))
		if owned {
			_ = e.lanes.Assign(tps)
			e.rb.start(tps)
		} else {
			e.rb.stop(tps)
			e.lanes.Drop(tps) // the partitions' next owner rebuilds their state
		}
	} else if !owned && e.p.cfg.LabelsTopic != "" {
		e.lanes.Drop(lanePartitions(toTopicPartitions(m))) // the lanes forget their label state (see watcher)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			if owned {
				e.owned[lane.Partition{Topic: t, Partition: p}] = true
			} else {
				delete(e.owned, lane.Partition{Topic: t, Partition: p})
				e.p.obs.DropLag(t, p)
			}
		}
	}
}

func (e *exactlyOnce) client() *kgo.Client { return e.sess.Client() }

func (e *exactlyOnce) owns(tp lane.Partition) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.owned[tp]
}

func (e *exactlyOnce) probe(ctx context.Context, tp lane.Partition, recs []*outcome.Record, ex outcome.Explain) error {
	return e.lanes.Probe(ctx, tp, recs, ex)
}

func (e *exactlyOnce) rebuilding() int64 {
	if e.rb == nil {
		return 0
	}
	return e.rb.rebuilding()
}

func (e *exactlyOnce) assigned() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.owned)
}

// run transacts until ctx ends; the transaction in progress then finishes
// within SHUTDOWN_TIMEOUT.
func (e *exactlyOnce) run(ctx context.Context) error {
	// One bound for the whole shutdown: the transaction in progress and
	// the close share SHUTDOWN_TIMEOUT from the moment ctx ends.
	stop := context.AfterFunc(ctx, func() { e.stopAt.CompareAndSwap(0, time.Now().Add(e.p.cfg.ShutdownTimeout).UnixNano()) })
	defer stop()
	defer e.close()
	for ctx.Err() == nil {
		pollCtx, cancel := context.WithTimeout(ctx, time.Second)
		fs := e.sess.PollRecords(pollCtx, e.p.pollMax())
		cancel()
		if fs.IsClientClosed() {
			return kgo.ErrClientClosed
		}
		fs.EachError(func(t string, part int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				e.p.fetchError(t, part, err)
			}
		})
		if fs.NumRecords() == 0 {
			continue
		}
		if err := e.transact(ctx, fs); err != nil {
			return err
		}
	}
	e.p.log.Info("stopped", "consumed", e.p.stats.Consumed.Load(), "predictions", e.p.stats.Predictions.Load(),
		"dead_letters", e.p.stats.DeadLetters.Load())
	return nil
}

// transact scores one poll's records in one transaction. After an abort
// it backs off (100ms doubling to 5s) before the records are fetched again.
func (e *exactlyOnce) transact(ctx context.Context, fs kgo.Fetches) error {
	if err := e.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Once the service is told to stop, the transaction in progress has
	// SHUTDOWN_TIMEOUT to end; the sends are cut off at that deadline.
	wctx, cancel := e.bounded(ctx)
	defer cancel()
	t := newTxn()
	n := 0
	e.labels = 0
	push := func(fs kgo.Fetches) {
		fs.EachPartition(func(part kgo.FetchTopicPartition) {
			e.push(part, t, &n)
		})
		// one poll's chunks reach a lane together (see lane.Set.PushAll)
		e.lanes.PushAll(e.chunks, func(c *lane.Chunk[txnRef], err error) {
			if len(c.Records) == 0 { // a caught-up partition's news: nothing to answer
				return
			}
			t.pending.Add(1)
			t.answered(c.Records[0], refusal{}, "", err)
		})
		clear(e.chunks)
		e.chunks = e.chunks[:0]
	}
	push(fs)
	// With entity aggregates the lanes merge by event time: while one
	// waits for a partition that is behind, the transaction polls on (up
	// to ENTITY_MAX_IDLE), so that what it commits was scored in order.
	more := []kgo.Fetches{fs}
	if e.entities {
		deadline := time.Now().Add(max(e.p.cfg.EntityMaxIdle, lane.FirstFetchWait))
		for time.Now().Before(deadline) {
			if err := e.lanes.Sync(wctx); !errors.Is(err, lane.ErrWaiting) {
				break
			}
			pctx, pcancel := context.WithDeadline(ctx, deadline)
			next := e.sess.PollRecords(pctx, e.p.pollMax())
			pcancel()
			if next.IsClientClosed() {
				break
			}
			push(next)
			more = append(more, next)
		}
	}
	barrierErr := e.lanes.Barrier(wctx)
	t.seal()
	select {
	case <-t.done:
	case <-wctx.Done():
	}
	produceErr := t.firstErr()
	switch {
	case barrierErr != nil && errors.Is(barrierErr, schemas.ErrUnavailable):
		e.p.registryDown(barrierErr)
		produceErr = barrierErr
	case barrierErr != nil:
		produceErr = fmt.Errorf("lanes did not finish the transaction's records: %w", barrierErr)
	default:
		e.p.health.clear(registryCondition)
	}
	if produceErr == nil && wctx.Err() != nil {
		produceErr = fmt.Errorf("outputs not acknowledged in time: %w", wctx.Err())
	}
	ectx, ecancel := e.bounded(ctx)
	defer ecancel()
	committed, err := e.sess.End(ectx, kgo.TransactionEndTry(produceErr == nil))
	e.collect(committed)
	if e.entities || e.p.cfg.LabelsTopic != "" { // the entity state and the label joins of the transaction
		if committed {
			e.lanes.Committed()
		} else {
			e.lanes.Aborted()
		}
	}
	if err != nil {
		if errors.Is(err, kerr.UnknownTopicID) { // a topic deleted and recreated: follow it
			e.p.log.Warn("a topic of the transaction was recreated; its metadata is reloaded and the records are scored again", "err", err)
			e.abortBackoff(ctx, n, err, t)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("shutdown: the transaction in progress (%d records) did not end within SHUTDOWN_TIMEOUT=%v (%w); its records stay uncommitted and will be read again",
				n, e.p.cfg.ShutdownTimeout, err)
		}
		return endError(e.p.cfg, n, err)
	}
	if !committed {
		e.abortBackoff(ctx, n, produceErr, t)
		return nil
	}
	if e.aborts > 0 {
		e.aborts = 0
		e.p.health.clear(txnCondition)
	}
	for _, fs := range more {
		if len(e.refused) > 0 {
			fs.EachRecord(func(r *kgo.Record) { delete(e.refused, keyOf(r)) })
		}
		fs.EachTopic(func(ft kgo.FetchTopic) {
			if c := e.consumed[ft.Topic]; c != nil {
				ft.EachRecord(func(*kgo.Record) { c.Inc() })
			}
		})
	}
	e.p.stats.Consumed.Add(int64(n))
	e.p.stats.Labels.Add(int64(e.labels))
	e.p.obs.BatchDone(time.Now())
	return nil
}

// endError is the error that stops the run when a transaction of n
// records could not end: fenced by another producer of the transactional
// id, or ended without an answer from the brokers (franz-go's End returns
// no retryable error), so that whether it committed is unknown here. Its
// records were not acknowledged in this process: a new start fences this
// producer, reads the committed offsets from the brokers and rebuilds the
// entity state, and exactly-once holds across it.
func endError(cfg config.Config, n int, err error) error {
	id := TransactionalID(cfg)
	var ke *kerr.Error
	switch {
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch):
		return fmt.Errorf("end transaction: another producer with transactional id %q took over (a newer instance, or a second one with the same KAFKA_TRANSACTIONAL_ID, or KAFKA_GROUP_INSTANCE_ID and host name): %w", id, err)
	case errors.As(err, &ke) && !ke.Retriable:
		// the brokers answered: an authorization failure, an invalid
		// transaction state — not healed by a new session
		return fmt.Errorf("end transaction of %d records (transactional id %q): %w", n, id, err)
	}
	return fmt.Errorf("%w: end transaction of %d records (transactional id %q): the brokers did not confirm it, so whether it committed is unknown here: %w", errEndUnconfirmed, n, id, err)
}

// errEndUnconfirmed marks a transaction whose end the brokers did not
// confirm: the run stops, and Pipeline.Run starts a new session, which
// learns from the brokers what was committed, as a restarted process
// does.
var errEndUnconfirmed = errors.New("transaction end unconfirmed")

// push queues one fetched partition's records for its lane in transaction
// t (transact pushes a poll's chunks at once).
func (e *exactlyOnce) push(part kgo.FetchTopicPartition, t *txn, n *int) {
	if len(part.Records) == 0 {
		if e.entities && part.Err == nil && part.HighWatermark >= 0 { // the event-time merge learns the partition is caught up
			e.chunks = append(e.chunks, lane.Chunk[txnRef]{Topic: part.Topic, Partition: part.Partition, HighWatermark: part.HighWatermark})
		}
		return
	}
	e.p.progress.polled(part.Topic, part.Partition, part.Records[len(part.Records)-1].Offset+1)
	if part.Topic == e.p.cfg.LabelsTopic {
		e.labels += len(part.Records)
	} else {
		*n += len(part.Records)
	}
	refs := make([]txnRef, len(part.Records))
	for i, r := range part.Records {
		refs[i] = txnRef{t: t, rec: r}
	}
	e.chunks = append(e.chunks, lane.Chunk[txnRef]{Topic: part.Topic, Partition: part.Partition, Records: part.Records, Refs: refs,
		HighWatermark: part.HighWatermark})
	e.p.obs.SetLag(part.Topic, part.Partition, max(0, part.HighWatermark-part.Records[len(part.Records)-1].Offset-1))
}

// bounded is ctx while it lasts, then SHUTDOWN_TIMEOUT more: the work in
// progress at a shutdown finishes within the bound.
func (e *exactlyOnce) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(time.Until(e.shutdownDeadline()), cancel)
		context.AfterFunc(out, func() { t.Stop() })
	})
	return out, func() { stop(); cancel() }
}

// collect adds the lanes' tallies of a committed transaction to the
// metrics, and forgets them either way. The lanes are between
// transactions: nothing writes the tallies now.
func (e *exactlyOnce) collect(committed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range e.sinks {
		if committed {
			for key, n := range k.preds {
				e.p.stats.Predictions.Add(int64(n))
				k.prediction(key.topic, key.s).Add(float64(n))
			}
			for stage, n := range k.dead {
				e.p.stats.DeadLetters.Add(int64(n))
				k.deadLetter(stage).Add(float64(n))
			}
			for r, n := range k.shadows {
				e.p.watch.written(r, n, "", nil)
			}
		}
		clear(k.preds)
		clear(k.dead)
		clear(k.shadows)
	}
}

// abortBackoff remembers the outputs the broker refused, logs the abort and
// waits before the records are fetched again.
func (e *exactlyOnce) abortBackoff(ctx context.Context, n int, cause error, t *txn) {
	if e.refused == nil || len(e.refused) > maxRefused {
		e.refused = map[srcKey]refusal{}
	}
	t.mu.Lock()
	for k, r := range t.refused {
		e.refused[k] = r
	}
	refused := len(t.refused)
	var gone []string
	for topic := range t.gone {
		gone = append(gone, topic)
	}
	t.mu.Unlock()
	if len(gone) > 0 { // between transactions: forget the old topic ids, so the next one loads the recreated topics
		e.p.log.Info("output topics unknown to the broker (deleted or recreated); reloading their metadata", "topics", gone)
		e.sess.Client().PurgeTopicsFromProducing(gone...)
	}
	e.aborts++
	if e.aborts >= 3 {
		e.p.health.report(txnCondition, fmt.Sprintf("transactions keep aborting (%d in a row; last cause: %v); the input offsets do not advance",
			e.aborts, cause), true)
	}
	wait := min(100*time.Millisecond<<min(e.aborts-1, 6), 5*time.Second)
	e.p.log.Warn("transaction aborted; its records will be fetched and scored again", "records", n,
		"refused_by_broker", refused, "cause", cause, "consecutive_aborts", e.aborts, "backoff", wait)
	select {
	case <-ctx.Done():
	case <-time.After(wait):
	}
}

// shutdownDeadline is when the shutdown's SHUTDOWN_TIMEOUT ends: set when
// run's context ends (now + SHUTDOWN_TIMEOUT if it has not).
func (e *exactlyOnce) shutdownDeadline() time.Time {
	e.stopAt.CompareAndSwap(0, time.Now().Add(e.p.cfg.ShutdownTimeout).UnixNano())
	return time.Unix(0, e.stopAt.Load())
}

// close stops the lanes and closes the session by the shutdown's deadline.
func (e *exactlyOnce) close() {
	ctx, cancel := context.WithDeadline(context.Background(), e.shutdownDeadline())
	defer cancel()
	_ = e.lanes.Stop(ctx)
	e.sendCancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.sess.Client().LeaveGroupContext(ctx)
		e.sess.Close()
		e.leave(ctx)
	}()
	select {
	case <-done:
		e.closed = true
	case <-ctx.Done():
		e.p.log.Warn("the Kafka client did not close within SHUTDOWN_TIMEOUT; exiting without it")
	}
}

// leave takes this instance's member out of the group unless
// KAFKA_GROUP_INSTANCE_ID is set. A static member that closes stays in the
// group until its session times out (KIP-345): what a configured instance
// id is for (the instance restarts on the same id and takes its place back
// without a rebalance), but with the default one a stopped instance would
// hold its partitions that long.
func (e *exactlyOnce) leave(ctx context.Context) {
	cfg := e.p.cfg
	if cfg.GroupInstanceID != "" {
		return
	}
	id := GroupInstanceID(cfg)
	err := func() error {
		cl, err := kgo.NewClient(e.p.rebuildConn...)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(ctx, min(5*time.Second, cfg.ShutdownTimeout))
		defer cancel()
		res, err := kadm.NewClient(cl).LeaveGroup(ctx, kadm.LeaveGroup(cfg.GroupID).InstanceIDs(id).Reason("streamscore stopped"))
		if err != nil {
			return err
		}
		return res.Error()
	}()
	if err != nil {
		e.p.log.Warn("could not take this instance out of the group: its partitions are assigned again when its session times out",
			"group", cfg.GroupID, "group_instance_id", id, "err", err)
	}
}

// eosSink is a lane's sink under exactly-once: it produces into the open
// transaction, replacing the outputs the broker refused in an earlier
// attempt, and tallies what it sent (counted only if the transaction
// commits).
type eosSink struct {
	e  *exactlyOnce
	s  *producer.TxnSender[txnRef]
	sh *producer.ShadowSender[shadowRef]
	counters
	preds   map[predKey]int
	dead    map[string]int
	shadows map[*modelset.Route]int // challenger predictions sent in the transaction
}

// shadowRef is what a challenger's prediction carries in a transaction.
type shadowRef struct {
	t     *txn
	route *modelset.Route
}

func (e *exactlyOnce) newSink(int32) lane.Sink[txnRef] {
	k := &eosSink{e: e, counters: newCounters(e.p), preds: map[predKey]int{}, dead: map[string]int{}, shadows: map[*modelset.Route]int{}}
	k.s = producer.NewTxnSender(e.sendCtx, e.sess.Client(), e.p.predEnc, e.p.cfg.OutputTopic, e.p.cfg.DLQTopic, e.limits, k.answered)
	k.sh = producer.NewTxnShadowSender(e.sendCtx, e.sess.Client(), e.p.predEnc, k.shadowAnswered)
	e.mu.Lock()
	e.sinks = append(e.sinks, k)
	e.mu.Unlock()
	return k
}

func (k *eosSink) Prediction(it *lane.Item[txnRef], pred *schemas.Prediction, topic string) {
	if k.replace(it) {
		return
	}
	it.Ref.t.pending.Add(1)
	k.preds[predKey{it.Topic, it.Scorer}]++
	k.score(it.Scorer).Observe(pred.Score)
	k.s.Prediction(pred, it.Kafka, topic, it.Ref)
}

func (k *eosSink) DeadLetter(it *lane.Item[txnRef], stage string, err error) {
	if k.replace(it) {
		return
	}
	ref := it.Ref
	ref.stage, ref.cause = stage, err
	ref.t.pending.Add(1)
	k.dead[stage]++
	k.s.DeadLetter(it.Kafka, stage, err, ref)
}

// replace writes, for a record whose output the broker refused in an
// earlier attempt, what replaces it (see refusal).
func (k *eosSink) replace(it *lane.Item[txnRef]) bool {
	r, ok := k.e.refused[keyOf(it.Kafka)]
	if !ok {
		return false
	}
	ref := it.Ref
	ref.t.pending.Add(1)
	switch r.kind {
	case producer.KindPrediction:
		ref.stage, ref.cause = producer.StageProduce, r.err
		k.dead[ref.stage]++
		k.s.DeadLetter(it.Kafka, ref.stage, ref.cause, ref)
	case producer.KindDeadLetter:
		ref.stage, ref.cause, ref.limit = r.stage, r.cause, k.e.limits.For(k.e.p.cfg.DLQTopic)
		k.dead[ref.stage]++
		k.s.TruncatedDeadLetter(it.Kafka, ref.stage, ref.cause, r.err, ref.limit, ref)
	default:
		ref.stage, ref.cause, ref.limit = r.stage, r.cause, max(r.limit/2, 1)
		k.dead[ref.stage]++
		k.s.TruncatedDeadLetter(it.Kafka, ref.stage, ref.cause, r.err, ref.limit, ref)
	}
	return true
}

// Settle: a label record is committed with the transaction's offsets.
func (k *eosSink) Settle(*kgo.Record, txnRef) {}

// Shadow publishes a challenger's prediction in the open transaction.
// The transaction waits for its answer; a failure aborts it (Kafka commits
// no transaction with a failed record) and holds the challenger off, so
// that the next attempt commits the champion's outputs without it. It is
// never replaced by a dead letter.
func (k *eosSink) Shadow(it *lane.Item[txnRef], route *modelset.Route, pred *schemas.Prediction, topic string) {
	t := it.Ref.t
	t.pending.Add(1)
	if err := k.sh.Prediction(pred, it.Kafka, topic, shadowRef{t, route}); err != nil {
		t.pending.Add(-1)
		k.e.p.watch.written(route, 1, topic, err)
		return
	}
	k.shadows[route]++
}

// shadowAnswered runs in producer callbacks.
func (k *eosSink) shadowAnswered(ref shadowRef, topic string, err error) {
	if err != nil {
		k.e.p.watch.written(ref.route, 1, topic, err)
		err = fmt.Errorf("challenger of route %s: %w", routeName(ref.route), err)
	}
	ref.t.answered(nil, refusal{}, topic, err)
}

// Abandon: the transaction aborts (the barrier reports the lane's wait),
// and the record is fetched again.
func (k *eosSink) Abandon(*kgo.Record, txnRef) {}

// answered runs in producer callbacks.
func (k *eosSink) answered(ref txnRef, kind producer.Kind, topic string, err error) {
	if err != nil {
		k.e.p.produceError(topic, err)
	}
	ref.t.answered(ref.rec, refusal{kind: kind, stage: ref.stage, cause: ref.cause, limit: ref.limit}, topic, err)
}

func toTopicPartitions(m map[string][]int32) []consumer.TopicPartition {
	var out []consumer.TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, consumer.TopicPartition{Topic: t, Partition: p})
		}
	}
	return out
}

// checkedTopics is partitionCounts with a client made for it. The client has
// no metrics hooks (p.rebuildConn): kprom's hooks unregister a client's
// collectors when it closes.
func checkedTopics(ctx context.Context, p *Pipeline) (map[string]int, error) {
	cl, err := kgo.NewClient(p.rebuildConn...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return p.partitionCounts(ctx, cl)
}

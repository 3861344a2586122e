package lane

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/internal/quality"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/entity"
	"github.com/streamscore/streamscore/window"
)

// Chunk is records of one partition, in offset order, with the reference
// the source attaches to each (Refs[i] belongs to Records[i]): a tracker
// token, a transaction, nothing.
type Chunk[R any] struct {
	Topic     string
	Partition int32
	Records   []*kgo.Record
	Refs      []R
	// HighWatermark is the partition's high watermark when the records
	// were fetched (-1 unknown): a lane merging by event time waits, up
	// to MaxIdle, for a partition that has nothing buffered but is behind
	// it.
	HighWatermark int64
	// StateOnly marks records replayed into the entity state only (a
	// rebuild, a backfill's warm-up): they get no outcome and no Refs.
	StateOnly bool
	// Next, when set, is the offset after the last record the source read
	// of the partition, pushed or not (a backfill skips records out of its
	// range): the merge knows the partition got that far.
	Next int64
}

// Item is one record travelling through a lane: its outcome-core record,
// the Kafka record it came from and the source's reference.
type Item[R any] struct {
	outcome.Record
	Kafka *kgo.Record
	Ref   R
}

// Sink receives a lane's outcomes, on the lane's goroutine, in the order
// the lane settles them. It must not keep the item after returning (items
// are recycled): what it needs later (the Kafka record, the reference) it
// copies. It may block (a full producer buffer); the lane waits.
type Sink[R any] interface {
	// Prediction publishes pred, the prediction of it, to topic (the
	// default output topic when empty). pred is the lane's, reused for
	// the next record: encode it before returning.
	Prediction(it *Item[R], pred *schemas.Prediction, topic string)
	// DeadLetter publishes it's dead letter.
	DeadLetter(it *Item[R], stage string, err error)
	// Abandon is told of a record the lane gives up unprocessed when its
	// partition is revoked or the lane stops: one that waits for the
	// schema registry, or, with entity aggregates, one queued behind a
	// partition the event-time merge would wait for. Abandoned records
	// come newest first, so each is the newest unsettled record of its
	// partition when it is abandoned.
	Abandon(rec *kgo.Record, ref R)
}

// Hooks observe a lane; every field is optional. They run on the lane's
// goroutine and must not block.
type Hooks struct {
	// Batch is told of every closed batch: why it closed, its size, when
	// its first record arrived, and the newest event time among its
	// predictions (zero if none).
	Batch func(trigger window.Trigger, n int, opened, newestEvent time.Time)
	// Unavailable is told, at every retry, that a record waits for the
	// schema registry; Available that it no longer does.
	Unavailable func(err error)
	Available   func()
	// Pause and Resume hold and release fetching of a partition while the
	// lane waits for the registry, so that the rest of the group runs on.
	Pause, Resume func(topic string, partition int32)
	// Missing is told after each batch's scoring, per scorer, how many
	// records had each model input missing (outcome.Batch.SetMissing).
	Missing func(s *scoring.Scorer, counts []uint32)
}

// Config is what every lane of a Set shares.
type Config struct {
	Core     *outcome.Core
	MaxSize  int           // BATCH_MAX_SIZE
	Interval time.Duration // BATCH_INTERVAL
	Hooks    Hooks
	Log      *slog.Logger
	// With entity aggregates: how long the merge waits for a partition
	// that is behind (ENTITY_MAX_IDLE), the state's bounds, and whether
	// the state expires old events only when a transaction commits
	// (exactly-once: an abort takes the transaction's records back out).
	MaxIdle        time.Duration
	State          entity.Options
	ExpireAtCommit bool
	// Features puts each prediction's model inputs in it
	// (PREDICTION_FEATURES).
	Features bool
	// Explain gives predictions reasons (REASONS_TOP_K, REASONS_FOR).
	Explain outcome.Explain
	// Watch watches the models: labels, drift, challengers (see Watch);
	// nil watches nothing.
	Watch *Watch
}

// ErrStopped is the error of a control that a lane could not carry out
// because it had stopped.
var ErrStopped = errors.New("lane stopped")

// ErrWaiting is Sync's answer when a lane's event-time merge waits for a
// partition that is behind its high watermark.
var ErrWaiting = errors.New("waiting for a partition that is behind")

// ErrNoState is Probe's error when the lanes keep no entity state (the
// features have no aggregates).
var ErrNoState = errors.New("no entity state: the features have no aggregates")

// ErrRebuilding is a barrier's error when a lane's entity state is still
// being rebuilt: its records were not scored, the transaction must abort.
var ErrRebuilding = errors.New("entity state still being rebuilt")

type ctlKind uint8

const (
	ctlFlush      ctlKind = iota // finish the listed partitions' records (or give them up, see Set.Flush), close the batch
	ctlDrop                      // forget the listed partitions' queued records
	ctlBarrier                   // finish everything, close the batch (a transaction ends)
	ctlStop                      // finish everything (or give it up, see Set.Stop), close the batch, exit
	ctlFinish                    // like stop, but what waits for the registry is waited for: handled in order, never early
	ctlRebuild                   // the listed partitions' state is being rebuilt: score nothing until ctlRebuilt
	ctlRebuilt                   // the listed partitions' state is rebuilt
	ctlCommit                    // exactly-once: the transaction committed
	ctlAbort                     // exactly-once: the transaction aborted
	ctlSync                      // answer once everything before is processed: ErrWaiting if the merge waits for a partition
	ctlAssign                    // the listed partitions are assigned: the merge waits for their first records
	ctlProbe                     // score the control's records against the entity state, leaving it as it is
	ctlDropBefore                // the entity state holds no history before the control's time (a rebuild or warm-up starts there)
	ctlPosition                  // the listed partition's live records start at the control's offset
	ctlLabels                    // a rebuild of the label state starts (id): the lane's new predictions and labels wait for it
	ctlReplay                    // the rebuild's records (id, ops), in time order
)

type control struct {
	kind    ctlKind
	tps     map[partitionKey]bool
	recs    []*outcome.Record // ctlProbe's records
	explain outcome.Explain   // and their reason codes
	id      uint64            // ctlLabels, ctlReplay
	ops     []quality.Op      // ctlReplay
	since   time.Time         // ctlDropBefore's time
	offset  int64             // ctlPosition's offset
	end     int64             // ctlPosition's end (high watermark), or -1
	done    func(error)
}

type partitionKey struct {
	topic     string
	partition int32
}

type msg[R any] struct {
	chunk Chunk[R]
	pos   int // next record of chunk to process
	ctl   *control
}

// queue hands messages from the source to a lane without ever blocking
// the source: a mutex per lane, taken per chunk, never per record.
type queue[R any] struct {
	mu   sync.Mutex
	msgs []msg[R]
	wake chan struct{}
}

func (q *queue[R]) push(ms ...msg[R]) {
	q.mu.Lock()
	q.msgs = append(q.msgs, ms...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pending reports whether messages wait to be taken.
func (q *queue[R]) pending() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs) > 0
}

func (q *queue[R]) takeInto(dst []msg[R]) []msg[R] {
	q.mu.Lock()
	dst = append(dst, q.msgs...)
	clear(q.msgs)
	q.msgs = q.msgs[:0]
	q.mu.Unlock()
	return dst
}

// stall is a lane waiting for the schema registry: the record at the
// backlog's head chunk, position pos, could not be decoded yet.
type stall struct {
	topic     string
	partition int32
	err       error
	retry     time.Time
	backoff   time.Duration
}

// Lane processes the records of one partition number, in order, on its
// own goroutine: decode, batch, score (the outcome core), and hand every
// outcome to its sink. It never waits on another lane, and nothing it does
// per record takes a lock shared with other lanes.
type Lane[R any] struct {
	cfg     *Config
	sink    Sink[R]
	q       queue[R]
	backlog []msg[R]
	win     *window.Window[*Item[R]]
	batch   *outcome.Batch
	recs    []*outcome.Record
	free    []*Item[R] // recycled items, up to keepItems
	spare   *sync.Pool // the set's recycled items beyond that (a merge that waited for a partition held many)
	timer   *time.Timer
	stall   *stall
	exited  chan struct{}
	pred    schemas.Prediction // the prediction handed to the sink, reused
	ent     *entityMode[R]     // entity state and event-time merge; nil without aggregates
	idleAt  time.Time          // when the merge stops waiting for a partition
	fv      schemas.FeatureVector
	reasons []schemas.Reason             // the prediction's reasons, reused
	names   map[*scoring.Scorer][]string // each scorer's input names (feature logging)
	w       *watchState[R]               // labels, drift, challengers; nil without
}

func (l *Lane[R]) log() *slog.Logger {
	if l.cfg.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.cfg.Log
}

func newLane[R any](cfg *Config, sink Sink[R], spare *sync.Pool) (*Lane[R], error) {
	l := &Lane[R]{cfg: cfg, sink: sink, spare: spare, batch: cfg.Core.NewBatch(), exited: make(chan struct{}), names: map[*scoring.Scorer][]string{}}
	l.batch.KeepFeatures(cfg.Features)
	l.batch.SetExplain(cfg.Explain)
	l.batch.SetMissing(cfg.Hooks.Missing)
	l.q.wake = make(chan struct{}, 1)
	win, err := window.New(cfg.MaxSize, cfg.Interval, l.process)
	if err != nil {
		return nil, err
	}
	l.win = win
	if len(cfg.Core.Spec().Aggregates()) > 0 {
		l.ent = newEntityMode(l)
		l.batch.SetState(l.ent.state)
	}
	if cfg.Watch.on() {
		if l.w, err = newWatchState(l, cfg.Watch, sink); err != nil {
			return nil, err
		}
	}
	l.timer = time.NewTimer(time.Hour)
	l.timer.Stop()
	go l.run()
	return l, nil
}

func (l *Lane[R]) run() {
	defer close(l.exited)
	for {
		l.backlog = l.q.takeInto(l.backlog)
		if l.step() {
			return
		}
		l.arm()
		select {
		case <-l.q.wake:
		case now := <-l.timer.C:
			if l.ent != nil && !l.q.pending() { // else the loop takes them first, then drains
				l.idleAt = l.ent.drain(now, false)
			}
			l.win.Tick(now)
		}
	}
}

// arm sets the timer to the next thing the lane waits for: the open
// batch's deadline or the next registry retry.
func (l *Lane[R]) arm() {
	var at time.Time
	if d, ok := l.win.Deadline(); ok {
		at = d
	}
	if l.stall != nil && (at.IsZero() || l.stall.retry.Before(at)) {
		at = l.stall.retry
	}
	if !l.idleAt.IsZero() && (at.IsZero() || l.idleAt.Before(at)) {
		at = l.idleAt
	}
	if at.IsZero() {
		l.timer.Stop()
		return
	}
	l.timer.Reset(max(time.Until(at), 0))
}

// step works through the backlog: records in order while the lane is not
// stalled; control messages always (a stalled lane gives up what a
// control concerns). It reports whether the lane stopped.
func (l *Lane[R]) step() (stopped bool) {
	defer func() {
		if !stopped && l.ent != nil && l.stall == nil {
			l.idleAt = l.ent.drain(time.Now(), false)
		}
	}()
	for len(l.backlog) > 0 {
		if l.ent != nil && l.ent.isRebuilding() && l.stall == nil {
			// Live records wait for the rebuild; state-only chunks and
			// controls go on, wherever they are queued.
			j := slices.IndexFunc(l.backlog, func(m msg[R]) bool {
				return m.ctl != nil && m.ctl.kind != ctlFinish || m.ctl == nil && m.chunk.StateOnly
			})
			if j < 0 {
				return false
			}
			m := l.backlog[j]
			l.pop(j)
			if m.ctl == nil {
				l.ent.observe(&m.chunk)
				continue
			}
			if l.control(m.ctl, j) {
				return true
			}
			continue
		}
		if l.stall == nil {
			m := &l.backlog[0]
			if m.ctl != nil {
				ctl := m.ctl
				l.pop(0)
				if l.control(ctl, 0) {
					return true
				}
				continue
			}
			l.records(m)
			if l.stall == nil {
				l.pop(0)
			}
			continue
		}
		if time.Now().After(l.stall.retry) {
			l.retryStall()
			continue
		}
		j := slices.IndexFunc(l.backlog, func(m msg[R]) bool { return m.ctl != nil && m.ctl.kind != ctlFinish })
		if j < 0 {
			return false
		}
		ctl := l.backlog[j].ctl
		l.pop(j)
		if l.control(ctl, j) {
			return true
		}
	}
	return false
}

func (l *Lane[R]) pop(i int) {
	l.backlog[i] = msg[R]{}
	l.backlog = slices.Delete(l.backlog, i, i+1)
}

// records processes a chunk from its position on, until it ends or a
// record must wait for the schema registry.
func (l *Lane[R]) records(m *msg[R]) {
	c := &m.chunk
	if l.w.isLabels(c.Topic) { // labels go around the window and the entity state
		l.w.labels(m)
		return
	}
	if c.StateOnly {
		if l.ent != nil {
			l.ent.observe(c)
		}
		m.pos = len(c.Records)
		return
	}
	if len(c.Records) == 0 { // a caught-up partition's high watermark
		if l.ent != nil {
			l.ent.caughtUp(c)
		}
		return
	}
	if l.ent != nil && c.Next > 0 {
		defer l.ent.advance(c)
	}
	now := time.Now() // a chunk arrives at once
	for m.pos < len(c.Records) {
		rec := c.Records[m.pos]
		it := l.item()
		it.Topic, it.Value, it.Kafka, it.Offset, it.Ref = rec.Topic, rec.Value, rec, rec.Offset, c.Refs[m.pos]
		if err := l.cfg.Core.Decode(&it.Record); err != nil {
			l.recycle(it)
			l.stallOn(c, err)
			return
		}
		if l.stall != nil { // decoded after waiting
			l.unstall()
		}
		m.pos++
		// A record that failed to decode goes through the window too, so
		// that a partition's outcomes settle in offset order.
		if l.ent != nil {
			l.ent.enqueue(it, c)
			if l.ent.aheadDue() {
				l.ent.drainAhead()
			}
			continue
		}
		l.win.Add(it, now)
	}
}

func (l *Lane[R]) stallOn(c *Chunk[R], err error) {
	if l.stall == nil {
		l.stall = &stall{topic: c.Topic, partition: c.Partition, backoff: 100 * time.Millisecond}
		if l.cfg.Hooks.Pause != nil {
			l.cfg.Hooks.Pause(c.Topic, c.Partition)
		}
	} else {
		l.stall.backoff = min(2*l.stall.backoff, 5*time.Second)
	}
	l.stall.err = err
	l.stall.retry = time.Now().Add(l.stall.backoff)
	if l.cfg.Hooks.Unavailable != nil {
		l.cfg.Hooks.Unavailable(err)
	}
}

func (l *Lane[R]) retryStall() {
	l.records(&l.backlog[0])
	if l.stall == nil {
		l.pop(0)
	}
}

func (l *Lane[R]) unstall() {
	if l.cfg.Hooks.Resume != nil {
		l.cfg.Hooks.Resume(l.stall.topic, l.stall.partition)
	}
	l.stall = nil
	if l.cfg.Hooks.Available != nil {
		l.cfg.Hooks.Available()
	}
}

// control carries out ctl, which came after backlog[:before] (all of
// which a lane that is not stalled has processed). It reports whether the
// lane stops.
func (l *Lane[R]) control(ctl *control, before int) (stop bool) {
	var err error
	drain := func() {
		if l.ent != nil && !l.ent.isRebuilding() {
			l.ent.drain(time.Now(), true)
		}
	}
	// settle is drain at a revoke or a stop of at-least-once, which
	// cannot wait (see entityMode.settle).
	settle := func(tps map[partitionKey]bool) {
		if l.ent != nil && !l.ent.isRebuilding() {
			l.ent.settle(time.Now(), tps)
		}
	}
	switch ctl.kind {
	case ctlFlush:
		l.abandon(before, ctl.tps)
		settle(ctl.tps)
		l.win.Close(window.Revoke)
		l.w.reset()
		if l.ent != nil { // the partitions' next owner rebuilds their state
			l.ent.reset()
			for k := range ctl.tps {
				l.ent.setRebuilding(k, false)
			}
		}
	case ctlDrop:
		l.drop(before, ctl.tps)
		l.w.aborted()
		l.w.reset()
		if l.ent != nil {
			l.ent.reset()
			for k := range ctl.tps {
				l.ent.setRebuilding(k, false)
			}
		}
	case ctlBarrier:
		if l.stall != nil {
			err = l.stall.err
		} else if l.ent != nil && l.ent.isRebuilding() {
			err = ErrRebuilding
		}
		l.abandon(before, nil)
		drain()
		l.win.Close(window.Transaction)
	case ctlStop:
		l.abandon(before, nil)
		settle(nil)
		l.win.Close(window.Shutdown)
		stop = true
	case ctlFinish: // reached in order: nothing before it waits
		drain()
		l.win.Close(window.Shutdown)
		stop = true
	case ctlRebuild:
		if l.ent != nil {
			for k := range ctl.tps {
				l.ent.setRebuilding(k, true)
			}
		}
	case ctlRebuilt:
		if l.ent != nil {
			for k := range ctl.tps {
				l.ent.setRebuilding(k, false)
			}
		}
	case ctlCommit:
		if l.ent != nil {
			l.ent.committed()
		}
		l.w.committed()
	case ctlAbort:
		if l.ent != nil {
			l.ent.aborted()
		}
		l.w.aborted()
	case ctlLabels:
		l.w.startRebuild(ctl.id)
	case ctlReplay:
		l.w.replayed(ctl.id, ctl.ops)
	case ctlAssign:
		if l.ent != nil {
			now := time.Now()
			for k := range ctl.tps {
				q := l.ent.queue(k)
				if q.next < 0 {
					q.hwm, q.emptySince = unknownHWM, now
				}
			}
		}
	case ctlPosition:
		if l.ent != nil {
			for k := range ctl.tps {
				l.ent.position(k, ctl.offset, ctl.end)
			}
		}
	case ctlDropBefore:
		if l.ent != nil {
			l.ent.state.DropBefore(ctl.since)
		}
	case ctlProbe:
		switch {
		case l.ent == nil:
			err = ErrNoState
		case l.ent.isRebuilding():
			err = ErrRebuilding
		default:
			b := l.cfg.Core.NewBatch() // the caller reads the results after this lane goes on
			b.SetState(l.ent.state)
			b.KeepFeatures(l.cfg.Features)
			b.SetExplain(ctl.explain)
			b.Score(ctl.recs)
		}
	case ctlSync:
		if l.ent != nil && l.stall == nil {
			if l.ent.isRebuilding() {
				err = ErrRebuilding
			} else if l.idleAt = l.ent.drain(time.Now(), false); !l.idleAt.IsZero() {
				err = ErrWaiting
			}
		}
	}
	if ctl.done != nil {
		ctl.done(err)
	}
	return stop
}

// abandon gives up, on a stalled lane or one whose entity state is being
// rebuilt, the unprocessed live records of the listed partitions (all
// when tps is nil) queued before backlog[before]. Any other lane has none.
func (l *Lane[R]) abandon(before int, tps map[partitionKey]bool) {
	if l.stall == nil && (l.ent == nil || !l.ent.isRebuilding()) {
		return
	}
	for i := before - 1; i >= 0; i-- { // newest first
		m := &l.backlog[i]
		if m.ctl != nil || m.chunk.StateOnly || (tps != nil && !tps[partitionKey{m.chunk.Topic, m.chunk.Partition}]) {
			continue
		}
		for k := len(m.chunk.Records) - 1; k >= m.pos; k-- {
			l.sink.Abandon(m.chunk.Records[k], m.chunk.Refs[k])
		}
		m.pos = len(m.chunk.Records)
	}
	if l.stall != nil && (tps == nil || tps[partitionKey{l.stall.topic, l.stall.partition}]) {
		l.unstall()
	}
	l.compact(before)
}

// drop forgets the queued records of lost partitions.
func (l *Lane[R]) drop(before int, tps map[partitionKey]bool) {
	for i := 0; i < before; i++ {
		m := &l.backlog[i]
		if m.ctl == nil && tps[partitionKey{m.chunk.Topic, m.chunk.Partition}] {
			m.pos = len(m.chunk.Records)
		}
	}
	if l.stall != nil && tps[partitionKey{l.stall.topic, l.stall.partition}] {
		l.unstall()
	}
	l.compact(before)
}

// compact removes finished chunks among backlog[:before], except the
// head of a stalled lane.
func (l *Lane[R]) compact(before int) {
	keep := l.backlog[:0]
	for i, m := range l.backlog {
		if i < before && m.ctl == nil && m.pos >= len(m.chunk.Records) && !(i == 0 && l.stall != nil) {
			continue
		}
		keep = append(keep, m)
	}
	clear(l.backlog[len(keep):])
	l.backlog = keep
}

// process scores a closed batch and hands every outcome to the sink.
// Called by the window, on the lane's goroutine.
func (l *Lane[R]) process(b window.Batch[*Item[R]]) {
	l.recs = l.recs[:0]
	for _, it := range b.Items {
		l.recs = append(l.recs, &it.Record)
	}
	l.batch.Score(l.recs)
	scoredAt := schemas.Millis(time.Now())
	var newest time.Time
	models := l.cfg.Core.Models()
	for _, it := range b.Items {
		if it.Dead() {
			l.sink.DeadLetter(it, it.Stage, it.Err)
			continue
		}
		if it.Event.Time.After(newest) {
			newest = it.Event.Time
		}
		it.FillPrediction(&l.pred, schemas.Source{Topic: it.Kafka.Topic, Partition: it.Kafka.Partition, Offset: it.Kafka.Offset}, scoredAt)
		if l.cfg.Features {
			l.fv.Names, l.fv.Values = l.inputNames(it.Scorer), it.Features
			l.pred.Features = &l.fv
		}
		if len(it.Reasons) > 0 {
			l.reasons = it.AppendReasons(l.reasons[:0])
			l.pred.Reasons = l.reasons
		}
		topic := ""
		if r := models.For(it.Topic); r != nil {
			topic = r.OutputTopic()
		}
		l.sink.Prediction(it, &l.pred, topic)
		l.w.predicted(it.Scorer, it.Event.ID, it.Result.Score, time.Time(scoredAt).UnixMilli())
	}
	// challengers after every champion output is handed over: they add
	// their time, never delay the champion's records
	l.w.shadows(b.Items, scoredAt)
	l.w.flush()
	if l.ent != nil {
		l.ent.scored(newest)
	}
	if l.cfg.Hooks.Batch != nil {
		l.cfg.Hooks.Batch(b.Trigger, len(b.Items), b.Opened, newest)
	}
	for _, it := range b.Items {
		l.recycle(it)
	}
	l.win.Recycle(b.Items)
}

// inputNames are a scorer's input names, kept per scorer.
func (l *Lane[R]) inputNames(s *scoring.Scorer) []string {
	n, ok := l.names[s]
	if !ok {
		if len(l.names) > 16 { // scorers reloaded away
			clear(l.names)
		}
		n = s.Plan().Names()
		l.names[s] = n
	}
	return n
}

func (l *Lane[R]) item() *Item[R] {
	if n := len(l.free); n > 0 {
		it := l.free[n-1]
		l.free = l.free[:n-1]
		return it
	}
	if it, ok := l.spare.Get().(*Item[R]); ok {
		return it
	}
	return &Item[R]{}
}

// keepItems is how many recycled items (a record with its decoded event
// and features) a lane keeps for reuse: four batches, more than it holds
// at once (the window's batch and, with entity aggregates, the merge's
// decodeAhead), unless the merge waits for a partition that is behind.
func (l *Lane[R]) keepItems() int { return 4 * l.cfg.MaxSize }

func (l *Lane[R]) recycle(it *Item[R]) {
	var zero R
	it.Record.Reset()
	it.Kafka, it.Ref = nil, zero
	if len(l.free) < l.keepItems() {
		l.free = append(l.free, it)
	} else {
		l.spare.Put(it)
	}
}

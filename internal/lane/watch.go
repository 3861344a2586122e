package lane

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/drift"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/internal/quality"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Watch configures what the lanes do to watch the models besides scoring
// them: join delayed labels to their predictions (quality), count the
// models' inputs and scores against a baseline (drift), and score each
// route's challenger (shadow). Every part is optional; the zero value
// watches nothing. Everything is per lane: a lane's labels, monitors and
// comparisons are its own, merged only by the snapshots that metrics take.
type Watch struct {
	// LabelsTopic's records are labels, not events. Lane p reads partition
	// p of it (labels are keyed by entity: co-partitioned with the inputs)
	// and joins each label to the predictions it made, in its own store of
	// Quality. A label record never gets an output and is never a dead
	// letter (it is not an input event): every one is settled
	// (WatchSink.Settle) once the lane is done with it. One that does not
	// decode with Labels is told to Malformed (counted and logged by the
	// caller); one whose value is not 0 or 1 is counted Invalid by the
	// store. Only predictions of binary classifiers are kept for labels
	// (their score is P(class 1)).
	LabelsTopic string
	Labels      schemas.LabelDecoder
	Quality     *quality.Registry
	Malformed   func(rec *kgo.Record, err error)
	// AtCommit (exactly-once): the predictions and labels of a transaction
	// reach the store when it commits (Set.Committed); an abort drops them,
	// and the records are scored again.
	AtCommit bool
	// MaxDeferred bounds the predictions and labels a lane holds while its
	// label state is being rebuilt (Set.StartLabelRebuild); past it they
	// are dropped and counted (Dropped).
	MaxDeferred int
	Dropped     func(n int)

	// Drift returns the drift group of a route's champion (nil: the route
	// has no baseline). A lane asks once per route and keeps its monitor;
	// a scorer whose inputs do not fit the baseline (a reload changed
	// them) is not counted.
	Drift func(route *modelset.Route) *drift.Group

	// Shadows scores the challenger of every route that has one
	// (modelset.Route.Shadow) on the records its champion predicted, after
	// the champion's outputs are handed over: the challenger's prediction
	// goes to its own topic (WatchSink.Shadow), its failures are counted,
	// never dead-lettered. Agreement returns a new comparison of a route's
	// challenger with its champion (one per lane and route); Suspended
	// reports whether a route's challenger is held off now (its topic
	// failed); ShadowDone is told, per batch and route, the challenger (nil
	// when suspended or not loaded), how many records it was given, how
	// many of them failed (and the first failure), how many were skipped,
	// and the time it added.
	Shadows    bool
	Agreement  func(route *modelset.Route) *quality.Agreement
	Suspended  func(route *modelset.Route) bool
	ShadowDone func(route *modelset.Route, s *scoring.Scorer, scored, failed, skipped int, first error, took time.Duration)
}

func (w *Watch) on() bool {
	return w != nil && (w.LabelsTopic != "" || w.Drift != nil || w.Shadows)
}

// WatchSink is what a lane's sink does besides Sink when the lanes watch
// the models (Config.Watch with labels or shadows).
type WatchSink[R any] interface {
	// Settle is told of a label record the lane is done with and that
	// needs no output (at-least-once acknowledges it; exactly-once commits
	// it with the transaction).
	Settle(rec *kgo.Record, ref R)
	// Shadow publishes pred, the prediction of it by route's challenger,
	// to topic. It never settles the record (the champion's output does),
	// must not block on the destination, and a failure is the challenger's
	// alone. pred is the lane's, reused: encode it before returning.
	Shadow(it *Item[R], route *modelset.Route, pred *schemas.Prediction, topic string)
}

// watchState is a lane's share of the watching.
type watchState[R any] struct {
	l    *Lane[R]
	w    *Watch
	sink WatchSink[R]
	// labels
	store    *quality.Store
	ops      []quality.Op // not yet applied: this batch's, or (AtCommit) this transaction's
	deferred []quality.Op // applicable, but the state is being rebuilt
	dropped  int
	rebuilds map[uint64]bool // label rebuilds in progress
	label    schemas.Label
	binary   map[*scoring.Scorer]bool
	// drift
	monitors map[*modelset.Route]*drift.Monitor
	fits     map[*scoring.Scorer]bool
	x        []float32
	x64      []float64
	scores   []float64
	// shadow
	agree map[*modelset.Route]*quality.Agreement
	spred schemas.Prediction
}

func newWatchState[R any](l *Lane[R], w *Watch, sink Sink[R]) (*watchState[R], error) {
	ws := &watchState[R]{l: l, w: w, rebuilds: map[uint64]bool{}, binary: map[*scoring.Scorer]bool{},
		monitors: map[*modelset.Route]*drift.Monitor{}, fits: map[*scoring.Scorer]bool{}, agree: map[*modelset.Route]*quality.Agreement{}}
	if w.LabelsTopic != "" || w.Shadows {
		s, ok := sink.(WatchSink[R])
		if !ok {
			return nil, fmt.Errorf("lane: the sink %T cannot settle labels or publish challengers (WatchSink)", sink)
		}
		ws.sink = s
	}
	if w.LabelsTopic != "" {
		if w.Labels == nil || w.Quality == nil {
			return nil, fmt.Errorf("lane: labels topic %q without a decoder or a quality registry", w.LabelsTopic)
		}
		ws.store = w.Quality.NewStore()
	}
	if w.Drift != nil {
		l.batch.SetScored(ws.scored)
	}
	l.batch.SetShadows(w.Shadows)
	return ws, nil
}

// isLabels reports whether a chunk's records are labels.
func (ws *watchState[R]) isLabels(topic string) bool {
	return ws != nil && ws.w.LabelsTopic != "" && topic == ws.w.LabelsTopic
}

// labels joins a chunk of label records (from its position on): each
// becomes an op, or is told to Malformed; every one is settled.
func (ws *watchState[R]) labels(m *msg[R]) {
	c := &m.chunk
	for m.pos < len(c.Records) {
		rec, ref := c.Records[m.pos], c.Refs[m.pos]
		m.pos++
		if err := ws.w.Labels.DecodeLabel(rec.Value, &ws.label); err != nil {
			if ws.w.Malformed != nil {
				ws.w.Malformed(rec, fmt.Errorf("LABELS_TOPIC %s partition %d offset %d: %w", rec.Topic, rec.Partition, rec.Offset, err))
			}
		} else { // a value other than 0 or 1 is counted Invalid by the store
			ws.add(quality.Op{ID: ws.store.ID(ws.label.EventID), At: rec.Timestamp.UnixMilli(), IsLabel: true, Label: ws.label.Label})
		}
		ws.sink.Settle(rec, ref)
	}
	ws.flush()
}

// predicted keeps a published prediction for its label.
func (ws *watchState[R]) predicted(s *scoring.Scorer, eventID string, score float64, at int64) {
	if ws == nil || ws.store == nil {
		return
	}
	bin, ok := ws.binary[s]
	if !ok {
		if len(ws.binary) > 16 { // scorers reloaded away
			clear(ws.binary)
		}
		info := s.Info()
		bin = info.Output == scoring.Binary && !info.MultiTarget()
		ws.binary[s] = bin
	}
	if !bin {
		return
	}
	info := s.Info()
	ws.add(quality.Op{ID: ws.store.ID(eventID), At: at, Model: info.Name, Version: info.Version, Score: score})
}

func (ws *watchState[R]) add(op quality.Op) { ws.ops = append(ws.ops, op) }

// flush applies the pending ops, unless they wait for a commit.
func (ws *watchState[R]) flush() {
	if ws == nil || ws.store == nil || ws.w.AtCommit {
		return
	}
	ws.apply()
}

// apply hands the pending ops to the store, or defers them while the
// label state is being rebuilt.
func (ws *watchState[R]) apply() {
	if len(ws.ops) == 0 {
		return
	}
	if len(ws.rebuilds) > 0 {
		room := ws.w.MaxDeferred - len(ws.deferred)
		if ws.w.MaxDeferred <= 0 {
			room = len(ws.ops)
		}
		n := min(max(room, 0), len(ws.ops))
		ws.deferred = append(ws.deferred, ws.ops[:n]...)
		if d := len(ws.ops) - n; d > 0 {
			ws.dropped += d
			if ws.w.Dropped != nil {
				ws.w.Dropped(d)
			}
		}
	} else {
		ws.store.Apply(ws.ops)
	}
	clear(ws.ops)
	ws.ops = ws.ops[:0]
}

// committed is an exactly-once transaction's commit: its ops apply.
func (ws *watchState[R]) committed() {
	if ws != nil && ws.store != nil {
		ws.apply()
	}
}

// aborted is an abort: the transaction's ops are dropped (its records are
// scored again).
func (ws *watchState[R]) aborted() {
	if ws != nil {
		clear(ws.ops)
		ws.ops = ws.ops[:0]
	}
}

// reset forgets the label state: the lane's partitions were revoked or
// lost (their next owner rebuilds it). Drift and agreement counts stay:
// nothing would replay them.
func (ws *watchState[R]) reset() {
	if ws == nil || ws.store == nil {
		return
	}
	ws.w.Quality.Drop(ws.store)
	ws.store = ws.w.Quality.NewStore()
	clear(ws.ops)
	ws.ops, ws.deferred = ws.ops[:0], nil
	clear(ws.rebuilds)
}

// startRebuild marks a label rebuild of the lane as running: until it
// ends (replayed) the lane's new ops wait.
func (ws *watchState[R]) startRebuild(id uint64) {
	if ws != nil && ws.store != nil {
		ws.rebuilds[id] = true
	}
}

// replayed applies a rebuild's ops (in time order, before everything the
// lane did meanwhile), then what waited for it. A rebuild the lane no
// longer expects (its partitions were revoked since) is ignored. The
// replayed records were counted when they were first read, so the
// store's counters restart at zero.
func (ws *watchState[R]) replayed(id uint64, ops []quality.Op) {
	if ws == nil || ws.store == nil || !ws.rebuilds[id] {
		return
	}
	delete(ws.rebuilds, id)
	ws.store.Apply(ops)
	ws.store.ZeroCounts()
	if len(ws.rebuilds) == 0 {
		ws.store.Apply(ws.deferred)
		ws.deferred = nil
		if ws.dropped > 0 {
			ws.l.log().Warn("label state rebuilt; predictions and labels that arrived meanwhile beyond the bound were dropped",
				"dropped", ws.dropped)
			ws.dropped = 0
		}
	}
}

// scored is the batch's hook after each route's champion scored: it
// counts the predicted rows into the route's drift monitor.
func (ws *watchState[R]) scored(route *modelset.Route, s *scoring.Scorer, sb *scoring.Batch, recs []*outcome.Record) {
	m, ok := ws.monitors[route]
	if !ok {
		if g := ws.w.Drift(route); g != nil {
			m = g.NewMonitor()
		}
		ws.monitors[route] = m
	}
	if m == nil {
		return
	}
	fit, ok := ws.fits[s]
	if !ok {
		if len(ws.fits) > 16 {
			clear(ws.fits)
		}
		fit = m.Baseline().Check(s.Plan().Names()) == nil
		if !fit {
			ws.l.log().Warn("the model's inputs do not fit its drift baseline: its drift is not measured until they do",
				"model", s.Info().Name, "version", s.Info().Version)
		}
		ws.fits[s] = fit
	}
	if !fit {
		return
	}
	ws.x, ws.x64, ws.scores = ws.x[:0], ws.x64[:0], ws.scores[:0]
	for i := range recs {
		res := &sb.Results[i]
		if res.Err != nil {
			continue
		}
		if row := sb.Features(i); row != nil {
			ws.x = append(ws.x, row...)
		} else {
			ws.x64 = append(ws.x64, sb.Features64(i)...)
		}
		ws.scores = append(ws.scores, res.Score)
	}
	if len(ws.scores) == 0 {
		return
	}
	now := time.Now()
	if len(ws.x64) > 0 {
		_ = m.ObserveBatch64(now, ws.x64, ws.scores)
	} else {
		_ = m.ObserveBatch(now, ws.x, ws.scores)
	}
}

// shadows scores every route's challenger on the batch's predicted
// records and hands its predictions to the sink.
func (ws *watchState[R]) shadows(items []*Item[R], scoredAt schemas.Millis) {
	if ws == nil || !ws.w.Shadows {
		return
	}
	l := ws.l
	for _, route := range l.cfg.Core.Models().Routes() {
		if route.Spec.Shadow == nil {
			continue
		}
		start := time.Now()
		if (ws.w.Suspended != nil && ws.w.Suspended(route)) || route.Shadow() == nil {
			skipped := 0
			for _, it := range items {
				if !it.Dead() && l.cfg.Core.Models().For(it.Topic) == route {
					skipped++
				}
			}
			if ws.w.ShadowDone != nil && skipped > 0 {
				ws.w.ShadowDone(route, nil, 0, 0, skipped, nil, 0)
			}
			continue
		}
		sh, n := l.batch.ScoreShadow(l.recs, route)
		if n == 0 {
			continue
		}
		a := ws.agree[route]
		if a == nil && ws.w.Agreement != nil {
			a = ws.w.Agreement(route)
			ws.agree[route] = a
		}
		topic := route.ShadowTopic()
		at := time.Time(scoredAt)
		failed := 0
		var first error
		for _, it := range items {
			if it.Shadow.Scorer != sh {
				continue
			}
			if it.Shadow.Err != nil {
				if failed++; first == nil {
					first = it.Shadow.Err
				}
				continue
			}
			sh.FillPrediction(&ws.spred, &it.Event, &it.Shadow.Result, schemas.Source{Topic: it.Kafka.Topic, Partition: it.Kafka.Partition, Offset: it.Kafka.Offset}, scoredAt)
			ws.sink.Shadow(it, route, &ws.spred, topic)
			ws.predicted(sh, it.Event.ID, it.Shadow.Result.Score, at.UnixMilli())
			if a != nil {
				a.Observe(at, it.Result.Score, it.Shadow.Result.Score, int(it.Result.Label), int(it.Shadow.Result.Label))
			}
		}
		if ws.w.ShadowDone != nil {
			ws.w.ShadowDone(route, sh, n, failed, 0, first, time.Since(start))
		}
	}
}

package pipeline

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/drift"
	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/quality"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Watching the models on the stream (DESIGN "Monitoring what the model
// does"): the lanes join LABELS_TOPIC to their predictions, count each
// route's scored rows against its baseline, and score each route's
// challenger (package lane, Watch); the watcher owns what they share —
// the quality registry, the drift groups, the agreements — and publishes
// their snapshots as metrics every few seconds.
//
// Label state is per lane and is rebuilt on assignment (label_rebuild.go,
// LABEL_REBUILD): on a revoke or a loss the lane's store is dropped (its
// counters stay in the totals), and the partition's next owner reads back
// the partition's predictions of the last LABEL_WINDOW from the output
// topics and its labels up to the group's committed offset, and replays
// them into a new store before what it saw meanwhile. Scoring goes on
// during the rebuild (readiness does not wait for it). With
// LABEL_REBUILD=false, or for what a failed or cut-off rebuild did not
// read, the partition's next owner starts without those predictions: their
// labels end as unknown (after LABEL_PENDING_FOR) and are counted so,
// never joined wrongly.

// shadowHold is how long a route's challenger is held off after its topic
// failed to take a record: its records are skipped meanwhile, so that a
// broken challenger topic costs the champion at most one aborted
// transaction (exactly-once) or a little producer buffer (at-least-once).
const shadowHold = 30 * time.Second

// watchInterval is how often the snapshots are published as metrics.
const watchInterval = 5 * time.Second

type watcher struct {
	p       *Pipeline
	labels  string // LABELS_TOPIC, "" without
	decoder schemas.LabelDecoder
	quality *quality.Registry // nil without labels
	drift   map[*modelset.Route]*drift.Group
	shadows bool // some route has a challenger

	// per route with a challenger, fixed at start (read without a lock)
	held   map[*modelset.Route]*atomic.Int64 // unix ns until which the challenger is held off
	shadow map[*modelset.Route]*shadowMetrics

	mu     sync.Mutex
	agree  map[*modelset.Route][]*quality.Agreement
	malLog atomic.Int64 // unix ns of the last malformed-label log line
	// predictions and labels the lanes dropped while they waited for a
	// label rebuild (beyond LABEL_MAX_PREDICTIONS)
	dropped atomic.Int64
}

// shadowMetrics are a route's challenger series (its name is the spec's:
// a reload keeps it).
type shadowMetrics struct {
	ok, failed, skipped prometheus.Counter
	seconds             prometheus.Observer
}

// newWatcher reads the baselines and builds the label decoder and the
// quality registry of a configuration. A baseline that does not describe
// its route's model inputs fails the start, naming both.
func newWatcher(p *Pipeline) (*watcher, error) {
	cfg := p.cfg
	w := &watcher{p: p, labels: cfg.LabelsTopic, drift: map[*modelset.Route]*drift.Group{},
		agree: map[*modelset.Route][]*quality.Agreement{}, held: map[*modelset.Route]*atomic.Int64{},
		shadow: map[*modelset.Route]*shadowMetrics{}}
	if w.labels != "" {
		enc, err := schemas.ParseEncoding(cfg.LabelEncoding)
		if err == nil {
			w.decoder, err = schemas.NewLabelDecoder(enc)
		}
		if err != nil {
			return nil, fmt.Errorf("LABEL_ENCODING=%q: %w", cfg.LabelEncoding, err)
		}
		if w.quality, err = quality.NewRegistry(quality.Options{LabelWindow: cfg.LabelWindow, PendingFor: cfg.LabelPendingFor,
			MaxPredictions: cfg.LabelMaxPredictions}); err != nil {
			return nil, err
		}
	}
	for _, r := range p.models.Routes() {
		if r.Spec.Shadow != nil {
			w.shadows = true
			w.held[r] = new(atomic.Int64)
			route, model, c := routeName(r), r.ShadowName(), p.obs.ShadowPredictions
			w.shadow[r] = &shadowMetrics{ok: c.WithLabelValues(route, model, "ok"), failed: c.WithLabelValues(route, model, "failed"),
				skipped: c.WithLabelValues(route, model, "skipped"), seconds: p.obs.ShadowSeconds.WithLabelValues(route, model)}
			if err := r.ShadowErr(); err != nil {
				p.log.Error("the route's challenger did not load; the champion serves alone until a reload puts it in service",
					"route", routeName(r), "shadow", r.Spec.Shadow.Path, "err", err)
			}
		}
		if r.Spec.Baseline == "" {
			continue
		}
		b, err := drift.ReadFile(r.Spec.Baseline)
		if err == nil {
			err = b.Check(r.Scorer().Plan().Names())
		}
		if err != nil {
			return nil, fmt.Errorf("baseline %q of the model %q (topics %v): %w", r.Spec.Baseline, r.Scorer().Info().Name, r.Spec.Topics, err)
		}
		w.drift[r] = drift.NewGroup(b)
	}
	return w, nil
}

// on reports whether anything is watched.
func (w *watcher) on() bool { return w.labels != "" || len(w.drift) > 0 || w.shadows }

// laneWatch is the lanes' part (atCommit: exactly-once).
func (w *watcher) laneWatch(atCommit bool) *lane.Watch {
	if !w.on() {
		return nil
	}
	lw := &lane.Watch{Shadows: w.shadows, Agreement: w.agreement, Suspended: w.suspended, ShadowDone: w.shadowDone}
	if w.labels != "" {
		lw.LabelsTopic, lw.Labels, lw.Quality, lw.AtCommit = w.labels, w.decoder, w.quality, atCommit
		lw.MaxDeferred = w.p.cfg.LabelMaxPredictions
		lw.Dropped = func(n int) { w.dropped.Add(int64(n)) }
		lw.Malformed = w.malformed
	}
	if len(w.drift) > 0 {
		lw.Drift = func(r *modelset.Route) *drift.Group { return w.drift[r] }
	}
	return lw
}

// malformed counts a label record that does not decode; it is logged at
// most once a minute (the count says how many).
func (w *watcher) malformed(_ *kgo.Record, err error) {
	w.p.obs.LabelsMalformed.Inc()
	now := time.Now().UnixNano()
	if last := w.malLog.Load(); now-last >= int64(time.Minute) && w.malLog.CompareAndSwap(last, now) {
		w.p.log.Warn("malformed label record skipped (counted in streamscore_labels_malformed_total; logged once a minute)", "err", err)
	}
}

func (w *watcher) agreement(r *modelset.Route) *quality.Agreement {
	a := quality.NewAgreement()
	w.mu.Lock()
	w.agree[r] = append(w.agree[r], a)
	w.mu.Unlock()
	return a
}

func (w *watcher) suspended(r *modelset.Route) bool {
	h := w.held[r]
	return h != nil && time.Now().UnixNano() < h.Load()
}

// hold holds a route's challenger off after its topic failed.
func (w *watcher) hold(r *modelset.Route, topic string, err error) {
	h := w.held[r]
	if h == nil {
		return
	}
	now := time.Now()
	if until := h.Load(); now.UnixNano() < until {
		return // already held
	}
	h.Store(now.Add(shadowHold).UnixNano())
	w.p.log.Warn("the challenger's topic did not take its prediction; the challenger is held off (the champion is not affected)",
		"route", routeName(r), "topic", topic, "hold", shadowHold, "err", err)
}

// shadowDone is a lane's report of a route's challenger on one batch.
func (w *watcher) shadowDone(r *modelset.Route, s *scoring.Scorer, scored, failed, skipped int, first error, took time.Duration) {
	m := w.shadow[r]
	if m == nil {
		return
	}
	if skipped > 0 {
		m.skipped.Add(float64(skipped))
	}
	if s == nil {
		return
	}
	if failed > 0 {
		m.failed.Add(float64(failed))
		w.p.log.Debug("the challenger failed on records (the champion is not affected)", "route", routeName(r), "model", s.Info().Name,
			"failed", failed, "of", scored, "first", first)
	}
	m.seconds.Observe(took.Seconds())
}

// written counts n challenger predictions' answer.
func (w *watcher) written(r *modelset.Route, n int, topic string, err error) {
	m := w.shadow[r]
	if m == nil {
		return
	}
	if err != nil {
		m.failed.Add(float64(n))
		w.hold(r, topic, err)
		return
	}
	m.ok.Add(float64(n))
}

// publish sets the metrics from the snapshots at now.
func (w *watcher) publish(now time.Time) {
	if w.quality != nil {
		w.p.obs.SetQuality(w.quality.Snapshot(now))
	}
	for r, g := range w.drift {
		w.p.obs.SetDrift(r.Scorer().Info().Name, g.Baseline(), g.Snapshot(now))
	}
	w.mu.Lock()
	agree := make(map[*modelset.Route][]*quality.Agreement, len(w.agree))
	for r, as := range w.agree {
		agree[r] = as
	}
	w.mu.Unlock()
	for r, as := range agree {
		w.p.obs.SetShadow(routeName(r), r.Scorer().Info().Name, r.ShadowName(), quality.MergeAgreement(now, as...))
	}
}

// run publishes every watchInterval until stop closes.
func (w *watcher) run(stop <-chan struct{}) {
	if !w.on() {
		return
	}
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			w.publish(time.Now())
			return
		case now := <-t.C:
			w.publish(now)
		}
	}
}

// inputPartitions leaves out the labels topic's partitions: the entity
// state and its event-time merge are the inputs'.
func (w *watcher) inputPartitions(tps []lane.Partition) []lane.Partition {
	if w.labels == "" {
		return tps
	}
	out := tps[:0:0]
	for _, tp := range tps {
		if tp.Topic != w.labels {
			out = append(out, tp)
		}
	}
	return out
}

// consumed are the topics the group consumes: the inputs and the labels.
func (w *watcher) consumed() []string {
	topics := append([]string{}, w.p.cfg.Topics()...)
	if w.labels != "" {
		topics = append(topics, w.labels)
	}
	return topics
}

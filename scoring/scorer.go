package scoring

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/streamscore/streamscore/schemas"
)

// Scorer is a model together with its compiled feature plan and policy:
// the unit that is swapped in on reload, so that a model never runs with
// another model's features. A Scorer is immutable and safe for concurrent use.
type Scorer struct {
	model  Model
	m64    Float64Model       // non-nil when the model computes in float64
	m64o   Float64OutputModel // non-nil when its outputs are float64 too
	info   Info
	plan   *Plan
	policy Policy
	// explain is built on the first Explainer call (explain.go).
	explain *explainOnce
}

// MaxOutputs bounds the outputs per row (class probabilities or targets,
// Info.Outputs) of a model a Scorer takes: a batch's output buffer holds
// that many values per event (8 MiB for a batch of 500 at the bound), and
// each prediction carries them all in its scores (some 40 KB of JSON, well
// inside a Kafka record's default 1 MiB). The most among the 185 models of
// the repository's tests and ../shared/reference is 13.
const MaxOutputs = 1 << 12

// NewScorer compiles the feature plan of m (specs may be nil: see Compile).
// A model whose input width the file leaves open (WidthFitter) is first
// fitted to the number of specs. A model with more than MaxOutputs outputs
// per row is refused.
func NewScorer(m Model, specs []FeatureSpec, policy Policy) (*Scorer, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if f, ok := m.(WidthFitter); ok && len(m.Info().Features) == 0 {
		fitted, err := f.FitWidth(len(specs))
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Info().Name, err)
		}
		m = fitted
	}
	info := m.Info()
	if no := info.Outputs(); no < 1 || no > MaxOutputs {
		return nil, fmt.Errorf("model %s has %d outputs per row (%d classes, %d targets); a scorer takes 1 to %d", info.Name, no, info.Classes, info.Targets, MaxOutputs)
	}
	plan, err := CompileFor(info, specs)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", info.Name, err)
	}
	info.Features = plan.Names() // names an unnamed model's inputs after the features file
	s := &Scorer{model: m, info: info, plan: plan, policy: policy, explain: new(explainOnce)}
	if f, ok := m.(Float64Model); ok && f.Float64Input() {
		s.m64 = f
		s.m64o, _ = m.(Float64OutputModel)
	}
	return s, nil
}

// Info describes the model.
func (s *Scorer) Info() Info { return s.info }

// Float64Input reports whether the model takes float64 rows
// (Float64Model): its rows must not be rounded to float32.
func (s *Scorer) Float64Input() bool { return s.m64 != nil }

// Plan is the compiled feature code.
func (s *Scorer) Plan() *Plan { return s.plan }

// Policy is the threshold and bands applied to outputs.
func (s *Scorer) Policy() Policy { return s.policy }

// Model is the evaluator.
func (s *Scorer) Model() Model { return s.model }

// Result is the outcome of one event of a batch: either Err is nil and
// Decision (and Probs for a multi-class model) hold the prediction, or Err
// says why the event cannot be scored and Stage names where it failed.
type Result struct {
	Decision
	// Probs aliases the batch's output buffer: every class probability of a
	// multi-class model, every target's output of a multi-target model
	// (Info.MultiTarget), nil otherwise. Valid until the Batch is reused.
	Probs []float32
	// Probs64 is Probs at full precision for a model whose outputs are
	// float64 (Float64OutputModel), nil otherwise; valid as long as Probs.
	Probs64 []float64
	// Margins are the row's raw scores when the Batch asked for them
	// (WantMargins) and the model reports them (MarginModel), nil
	// otherwise; valid as long as Probs.
	Margins []float64
	Err     error
	Stage   string // "features" or "score" when Err is set
	row     int    // the event's dense row in the batch (valid unless Stage is "features")
}

// Batch is reusable scratch space for Score. It grows to the largest batch
// it has seen and then allocates nothing. A Batch is not safe for
// concurrent use; use one per goroutine.
type Batch struct {
	Results []Result
	// WantMargins asks Score to fill Result.Margins for a MarginModel that
	// computes in float64 (file scoring writes them).
	WantMargins bool
	x, out      []float32
	x64         []float64
	out64, raw  []float64
	rows        []int    // index of the event of each dense row
	missing     []uint32 // per input: rows of the last Score with it missing (Missing)
	// For Features and ExplainResults (explain.go): the row width and
	// input type of the last Score, and scratch rows.
	nf   int
	f64  bool
	ex   []float32
	ex64 []float64
}

// Score extracts features for every event, scores the events whose features
// are valid in one dense call, and fills b.Results (one per event, in order).
// A feature error fails only its own event.
func (s *Scorer) Score(events []*schemas.Event, b *Batch) {
	nf, no := s.plan.Len(), s.info.Outputs()
	b.nf, b.f64 = nf, s.m64 != nil
	b.Results = grow(b.Results, len(events))
	if s.m64 != nil {
		b.x64 = grow(b.x64, len(events)*nf)
	} else {
		b.x = grow(b.x, len(events)*nf)
	}
	b.rows = b.rows[:0]
	b.missing = grow(b.missing, nf)
	clear(b.missing)
	for i, ev := range events {
		b.Results[i] = Result{}
		lo, hi := len(b.rows)*nf, (len(b.rows)+1)*nf
		var err error
		if s.m64 != nil {
			err = s.plan.Extract64(ev, b.x64[lo:hi])
		} else {
			err = s.plan.Extract(ev, b.x[lo:hi])
		}
		if err != nil {
			b.Results[i] = Result{Err: err, Stage: "features"}
			continue
		}
		b.Results[i].row = len(b.rows)
		if s.m64 != nil {
			countMissing(b.x64[lo:hi], b.missing)
		} else {
			countMissing(b.x[lo:hi], b.missing)
		}
		b.rows = append(b.rows, i)
	}
	n := len(b.rows)
	b.out = grow(b.out, n*no)
	if n == 0 {
		return
	}
	var err error
	var margins int
	if s.m64o != nil {
		b.out64 = grow(b.out64, n*no)
		if err = s.m64o.Predict64To64(b.x64[:n*nf], b.out64[:n*no]); err == nil {
			for k, v := range b.out64[:n*no] {
				b.out[k] = float32(v)
			}
		}
	} else if s.m64 != nil {
		err = s.m64.Predict64(b.x64[:n*nf], b.out[:n*no])
	} else {
		err = s.model.Predict(b.x[:n*nf], b.out[:n*no])
	}
	if err != nil {
		for _, i := range b.rows {
			b.Results[i] = Result{Err: fmt.Errorf("model %s: %w", s.info.Name, err), Stage: "score", row: b.Results[i].row}
		}
		return
	}
	if mm, ok := s.model.(MarginModel); ok && b.WantMargins && s.m64 != nil {
		margins = mm.Margins()
		b.raw = grow(b.raw, n*margins)
		if err := mm.PredictMargins64(b.x64[:n*nf], b.raw); err != nil {
			for _, i := range b.rows {
				b.Results[i] = Result{Err: fmt.Errorf("model %s: raw scores: %w", s.info.Name, err), Stage: "score", row: b.Results[i].row}
			}
			return
		}
	}
	for r, i := range b.rows {
		out := b.out[r*no : (r+1)*no]
		if s.m64o != nil {
			out64 := b.out64[r*no : (r+1)*no]
			if !finite64(out64) {
				b.Results[i] = Result{Err: errNonFinite, Stage: "score", row: b.Results[i].row}
				continue
			}
			b.Results[i].Decision = s.policy.Decide64(s.info.Output, out64)
			if s.info.Output == MultiClass || s.info.MultiTarget() {
				b.Results[i].Probs, b.Results[i].Probs64 = out, out64
			}
		} else {
			if !finite(out) {
				b.Results[i] = Result{Err: errNonFinite, Stage: "score", row: b.Results[i].row}
				continue
			}
			b.Results[i].Decision = s.policy.Decide(s.info.Output, out)
			if s.info.Output == MultiClass || s.info.MultiTarget() {
				b.Results[i].Probs = out
			}
		}
		if margins > 0 {
			b.Results[i].Margins = b.raw[r*margins : (r+1)*margins]
		}
	}
}

// AppendFeatures appends to dst the model inputs of result i of the last
// Score — the exact values the model saw (float32 inputs widened exactly)
// — and returns the extended slice; dst is returned unchanged for a result
// whose features failed. Valid until the Batch is reused.
func (b *Batch) AppendFeatures(dst []float64, s *Scorer, i int) []float64 {
	if i >= len(b.Results) || b.Results[i].Stage == "features" {
		return dst
	}
	r := &b.Results[i]
	nf := s.plan.Len()
	lo := r.row * nf
	if s.m64 != nil {
		return append(dst, b.x64[lo:lo+nf]...)
	}
	for _, v := range b.x[lo : lo+nf] {
		dst = append(dst, float64(v))
	}
	return dst
}

func finite64(xs []float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// errNonFinite is the reason given for a row whose model output is NaN or
// infinite (a linear model with a missing input and no impute value, say).
var errNonFinite = errors.New("the model returned a non-finite score")

func finite(xs []float32) bool {
	for _, x := range xs {
		if x != x || x > math.MaxFloat32 || x < -math.MaxFloat32 {
			return false
		}
	}
	return true
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Current holds the scorer in service; the pipeline reads it at the start
// of every batch, so a swap takes effect between batches. Safe for
// concurrent use.
type Current struct{ p atomic.Pointer[Scorer] }

// NewCurrent returns a Current serving s.
func NewCurrent(s *Scorer) *Current {
	c := &Current{}
	c.p.Store(s)
	return c
}

// Load returns the scorer in service.
func (c *Current) Load() *Scorer { return c.p.Load() }

// Swap puts s in service and returns the previous scorer.
func (c *Current) Swap(s *Scorer) *Scorer { return c.p.Swap(s) }

// Prediction builds the published prediction of a scored event.
func (s *Scorer) Prediction(ev *schemas.Event, r *Result, src schemas.Source, scoredAt schemas.Millis) schemas.Prediction {
	var p schemas.Prediction
	s.FillPrediction(&p, ev, r, src, scoredAt)
	return p
}

// FillPrediction is Prediction into p, reusing p's Scores storage: a lane
// fills one Prediction per record without allocating.
func (s *Scorer) FillPrediction(p *schemas.Prediction, ev *schemas.Event, r *Result, src schemas.Source, scoredAt schemas.Millis) {
	scores := p.Scores[:0]
	*p = schemas.Prediction{
		EventID:      ev.ID,
		EntityID:     ev.Entity,
		EventType:    string(ev.Type),
		Score:        r.Score,
		Label:        r.Label,
		RiskSegment:  r.Segment,
		ModelName:    s.info.Name,
		ModelVersion: s.info.Version,
		EventTime:    schemas.Millis(ev.Time),
		ScoredAt:     scoredAt,
		Source:       src,
	}
	switch {
	case r.Probs64 != nil:
		p.Scores = append(scores, r.Probs64...)
	case r.Probs != nil:
		for _, v := range r.Probs {
			scores = append(scores, float64(v))
		}
		p.Scores = scores
	}
}

package outcome

import (
	"time"

	"github.com/streamscore/streamscore/schemas"

	"github.com/streamscore/streamscore/scoring"
)

// ExplainFor picks the predictions whose feature contributions Score
// computes (REASONS_FOR).
type ExplainFor uint8

const (
	ExplainNone    ExplainFor = iota
	ExplainFlagged            // predictions with label 1
	ExplainAll                // every prediction
)

// Explain configures a Batch's reason codes: after each route's scoring,
// one call explains the picked predictions of the batch together
// (scoring.Scorer.ExplainResults).
type Explain struct {
	For ExplainFor
	// TopK > 0 fills Record.Reasons with the K features of largest
	// absolute contribution to the predicted class's margin.
	TopK int
	// All fills Record.Contributions with every contribution of every
	// class or target (the layout of scoring.Explainer for one row).
	All bool
	// Report, when set, is told after each route's explaining: the
	// scorer, how many predictions it explained, the time it took, and
	// the error when it failed (the predictions then carry no reasons;
	// the scorer's Explainer was checked when it went into service, so
	// this does not happen with a sound model).
	Report func(s *scoring.Scorer, n int, took time.Duration, err error)
}

// SetExplain makes Score compute reason codes (the zero Explain: none).
func (b *Batch) SetExplain(e Explain) { b.explain = e }

// explainRoute computes the contributions of the picked results of the
// route just scored (b.recs[i] ↔ b.sb.Results[i]).
func (b *Batch) explainRoute(s *scoring.Scorer) {
	b.pick = b.pick[:0]
	for i := range b.recs {
		res := &b.sb.Results[i]
		if res.Err == nil && (b.explain.For == ExplainAll || res.Label == 1) {
			b.pick = append(b.pick, i)
		}
	}
	if len(b.pick) == 0 {
		return
	}
	cl := s.ContributionLen()
	if n := len(b.pick) * cl; cap(b.contrib) < n {
		b.contrib = make([]float32, n)
	}
	out := b.contrib[:len(b.pick)*cl]
	start := time.Now()
	err := s.ExplainResults(&b.sb, b.pick, out)
	if b.explain.Report != nil {
		b.explain.Report(s, len(b.pick), time.Since(start), err)
	}
	if err != nil {
		return
	}
	info := s.Info()
	width := len(info.Features) + 1
	for k, i := range b.pick {
		r, c := b.recs[i], out[k*cl:(k+1)*cl]
		if b.explain.All {
			r.Contributions = append(r.Contributions[:0], c...)
		}
		if b.explain.TopK > 0 {
			g := scoring.ExplainedGroup(info, r.Result.Decision)
			r.Reasons = scoring.TopReasons(r.Reasons[:0], c[g*width:(g+1)*width], b.reasonRow(i), b.explain.TopK)
		}
	}
}

// reasonRow is result i's model inputs as its reasons show them: a
// float64 model's row (LightGBM) rounded to float32, as contributions are.
func (b *Batch) reasonRow(i int) []float32 {
	if x := b.sb.Features(i); x != nil {
		return x
	}
	x64 := b.sb.Features64(i)
	b.row32 = b.row32[:0]
	for _, v := range x64 {
		b.row32 = append(b.row32, float32(v))
	}
	return b.row32
}

// AppendReasons appends the record's reasons, named as its features, to
// dst (a NaN value is a missing input).
func (r *Record) AppendReasons(dst []schemas.Reason) []schemas.Reason {
	plan := r.Scorer.Plan()
	for _, x := range r.Reasons {
		dst = append(dst, schemas.Reason{Feature: plan.Name(x.Feature), Value: float64(x.Value), Contribution: float64(x.Contribution)})
	}
	return dst
}

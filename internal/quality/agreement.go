package quality

import (
	"math"
	"sync"
	"time"

	"github.com/streamscore/streamscore/internal/rolling"
)

// Agreement compares a challenger (shadow) model with its champion on the
// events both scored, over the rolling windows: how often their labels
// (decisions) agree, and the mean absolute difference of their scores.
// One per lane and route; safe for concurrent use (one mutex, not shared).
type Agreement struct {
	mu sync.Mutex
	w  [len(windows)]*rolling.Window // [0] events, [1] agreeing labels, [2] Σ|Δscore| in units of 1e-9
}

// NewAgreement returns an empty comparison.
func NewAgreement() *Agreement {
	a := &Agreement{}
	for i, w := range windows {
		a.w[i], _ = rolling.New(w.span, 3)
	}
	return a
}

// diffUnit is the resolution of the summed score differences.
const diffUnit = 1e-9

// Observe records one event scored by both at time at (its record's
// timestamp).
func (a *Agreement) Observe(at time.Time, championScore, challengerScore float64, championLabel, challengerLabel int) {
	t := at.UnixMilli()
	d := math.Abs(championScore - challengerScore)
	if d != d || d > 1e9 { // NaN or absurd: counted as disagreeing by a full unit
		d = 1
	}
	agree := uint64(0)
	if championLabel == challengerLabel {
		agree = 1
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.w {
		if r := w.Row(t); r != nil {
			r[0]++
			r[1] += agree
			r[2] += uint64(math.Round(d / diffUnit))
		}
	}
}

// AgreementWindow is the comparison over one window.
type AgreementWindow struct {
	Name  string
	Span  time.Duration
	Count uint64 // events both scored in the window (to its step, Span/60)
	// Ratio is the share of those events whose labels agree; MeanAbsDiff
	// the mean |champion score − challenger score| (1e-9 resolution). Both
	// NaN without events.
	Ratio, MeanAbsDiff float64
}

// MergeAgreement sums the comparisons of several lanes at now, shortest
// window first.
func MergeAgreement(now time.Time, as ...*Agreement) []AgreementWindow {
	t := now.UnixMilli()
	out := make([]AgreementWindow, len(windows))
	for i, w := range windows {
		var sum [3]uint64
		for _, a := range as {
			a.mu.Lock()
			a.w[i].Sum(t, sum[:])
			a.mu.Unlock()
		}
		out[i] = AgreementWindow{Name: w.name, Span: w.span, Count: sum[0], Ratio: math.NaN(), MeanAbsDiff: math.NaN()}
		if sum[0] > 0 {
			out[i].Ratio = float64(sum[1]) / float64(sum[0])
			out[i].MeanAbsDiff = float64(sum[2]) * diffUnit / float64(sum[0])
		}
	}
	return out
}

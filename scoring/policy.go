package scoring

import (
	"fmt"
	"math"
)

// Risk segments.
const (
	Low    = "Low"
	Medium = "Medium"
	High   = "High"
)

// Policy turns a model output row into the published score, label and risk
// segment (SCORE_THRESHOLD, RISK_BANDS).
type Policy struct {
	Threshold float64    // label = 1 when score > Threshold (a tie is class 0)
	Bands     [2]float64 // Low below Bands[0], Medium from it, High from Bands[1]
}

// DefaultPolicy is SCORE_THRESHOLD=0.5, RISK_BANDS=0.3,0.6.
var DefaultPolicy = Policy{Threshold: 0.5, Bands: [2]float64{0.3, 0.6}}

// Validate checks that the bands are ordered and every value is finite.
func (p Policy) Validate() error {
	for _, v := range []float64{p.Threshold, p.Bands[0], p.Bands[1]} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("threshold and bands must be finite, got %v", v)
		}
	}
	if p.Bands[0] > p.Bands[1] {
		return fmt.Errorf("risk bands must be ascending, got %v,%v", p.Bands[0], p.Bands[1])
	}
	return nil
}

// Decision is a scored row.
type Decision struct {
	Score   float64
	Label   int32
	Segment string
}

// Decide reads one output row of a model. For Binary and Regression the
// score is the first output (target 0 of a multi-target model), label =
// score > Threshold. For MultiClass the
// score is the top class probability and the label its index (the first
// index on a tie). The score is the float32 output widened exactly.
func (p Policy) Decide(kind OutputKind, row []float32) Decision { return decide(p, kind, row) }

// Decide64 is Decide for a model whose outputs are float64: the score is
// the output itself.
func (p Policy) Decide64(kind OutputKind, row []float64) Decision { return decide(p, kind, row) }

func decide[T float32 | float64](p Policy, kind OutputKind, row []T) Decision {
	var d Decision
	switch kind {
	case MultiClass:
		best := 0
		for k := 1; k < len(row); k++ {
			if row[k] > row[best] {
				best = k
			}
		}
		d.Score, d.Label = float64(row[best]), int32(best)
	default:
		d.Score = float64(row[0])
		if d.Score > p.Threshold {
			d.Label = 1
		}
	}
	d.Segment = p.Segment(d.Score)
	return d
}

// Segment maps a score to Low, Medium or High.
func (p Policy) Segment(score float64) string {
	switch {
	case score >= p.Bands[1]:
		return High
	case score >= p.Bands[0]:
		return Medium
	}
	return Low
}

package httpapi

import (
	"math"

	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/schemas"
)

// explained is a prediction of /v1/predict?explain=true: the prediction
// and every contribution.
type explained struct {
	schemas.Prediction
	Contributions []contributionSet `json:"contributions"`
}

// contributionSet is one class's (or target's) contributions to its
// margin: one per feature, and the bias; they sum to the margin.
type contributionSet struct {
	Group    int                 `json:"group"`
	Bias     float64             `json:"bias"`
	Features map[string]*float64 `json:"features"`
}

func contributions(rec *outcome.Record) []contributionSet {
	plan := rec.Scorer.Plan()
	width := plan.Len() + 1
	var out []contributionSet
	for g := 0; (g+1)*width <= len(rec.Contributions); g++ {
		c := rec.Contributions[g*width : (g+1)*width]
		set := contributionSet{Group: g, Bias: float64(c[width-1]), Features: make(map[string]*float64, width-1)}
		for f := 0; f < width-1; f++ {
			v := float64(c[f])
			if math.IsNaN(v) {
				set.Features[plan.Name(f)] = nil
				continue
			}
			set.Features[plan.Name(f)] = &v
		}
		out = append(out, set)
	}
	return out
}

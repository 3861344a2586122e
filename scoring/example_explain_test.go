package scoring_test

import (
	"fmt"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/xgboost"
)

// Reason codes for one scored event: after Score, explain the results that
// need it and keep the three largest contributions (in log-odds for this
// logistic model).
func ExampleScorer_Explain() {
	m, err := xgboost.Load("xgboost/testdata/xgb_fraud.json", "fraud")
	if err != nil {
		panic(err)
	}
	s, err := scoring.NewScorer(m, nil, scoring.DefaultPolicy)
	if err != nil {
		panic(err)
	}
	// At start: builds the tables, or says why the model cannot explain.
	if _, err := s.Explainer(); err != nil {
		panic(err)
	}
	num := schemas.NumberValue
	ev := &schemas.Event{Fields: []schemas.Field{
		{Name: "amount", Value: num(2400)}, {Name: "hour", Value: num(3)},
		{Name: "merchant_risk", Value: num(0.9)}, {Name: "tx_count_1h", Value: num(9)},
		{Name: "distance_km", Value: num(800)}, {Name: "account_age_days", Value: num(20)},
		{Name: "device_score", Value: num(0.1)}, // velocity_ratio missing
	}}
	var b scoring.Batch
	s.Score([]*schemas.Event{ev}, &b)
	r := &b.Results[0]
	contrib := make([]float32, s.ContributionLen())
	if err := s.Explain(&b, 0, contrib); err != nil {
		panic(err)
	}
	fmt.Printf("score %.4f label %d\n", r.Score, r.Label)
	g := scoring.ExplainedGroup(s.Info(), r.Decision)
	nf := len(s.Info().Features)
	set := contrib[g*(nf+1) : (g+1)*(nf+1)]
	for _, reason := range scoring.TopReasons(nil, set, b.Features(0), 3) {
		fmt.Printf("%s = %v: %+.3f\n", s.Info().Features[reason.Feature], reason.Value, reason.Contribution)
	}
	// Output:
	// score 0.7141 label 1
	// merchant_risk = 0.9: +1.808
	// tx_count_1h = 9: +1.197
	// amount = 2400: +1.047
}

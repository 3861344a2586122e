package metrics

import (
	"testing"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/linear"
)

// A batch's missing counts land on streamscore_feature_missing_total
// {model,feature}, input by input, with no allocation per batch.
func TestMissingCounters(t *testing.T) {
	m, err := linear.Parse([]byte(`{"format":"streamscore-linear","link":"logistic","features":["amount","support_calls"],
		"coefficients":[0.1,0.2],"missing":{"amount":0,"support_calls":0}}`), "churn")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scoring.NewScorer(m, nil, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	reg := New()
	ctrs := reg.MissingCounters(s.Info().Name, s.Plan().Names())
	// present at 0 before the first miss
	if got := missing(t, reg, "support_calls"); got != 0 {
		t.Fatalf("before: %v", got)
	}
	// the header said "supportcalls": support_calls is missing on every row
	ev := func(amount float64) *schemas.Event {
		return &schemas.Event{Fields: []schemas.Field{{Name: "amount", Value: schemas.NumberValue(amount)},
			{Name: "supportcalls", Value: schemas.NumberValue(3)}}}
	}
	var b scoring.Batch
	s.Score([]*schemas.Event{ev(1), ev(2), ev(3)}, &b)
	ctrs.Add(b.Missing())
	s.Score([]*schemas.Event{ev(4), {}}, &b)
	ctrs.Add(b.Missing())
	if got := missing(t, reg, "support_calls"); got != 5 {
		t.Errorf("support_calls missing = %v, want 5", got)
	}
	if got := missing(t, reg, "amount"); got != 1 {
		t.Errorf("amount missing = %v, want 1", got)
	}
	if allocs := testing.AllocsPerRun(100, func() { ctrs.Add(b.Missing()) }); allocs != 0 {
		t.Errorf("Add allocates %v", allocs)
	}
	ctrs.Add([]uint32{0, 0, 7}) // a longer count slice is cut, not a panic
}

// missing reads streamscore_feature_missing_total{model="churn",feature} from
// the registry, as a scrape would (-1: no such series).
func missing(t *testing.T, reg *Metrics, feature string) float64 {
	t.Helper()
	mfs, err := reg.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "streamscore_feature_missing_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["model"] == "churn" && labels["feature"] == feature {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

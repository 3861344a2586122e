package metrics

import "testing"

// TestExplainMetrics: the reason-code collectors are registered under
// their documented names.
func TestExplainMetrics(t *testing.T) {
	m := New()
	m.ExplainSeconds.WithLabelValues("fraud").Add(0.25)
	m.Explained.WithLabelValues("fraud").Add(3)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, x := range mf.GetMetric() {
			if c := x.GetCounter(); c != nil && len(x.GetLabel()) == 1 && x.GetLabel()[0].GetValue() == "fraud" {
				got[mf.GetName()] = c.GetValue()
			}
		}
	}
	if got["streamscore_explain_seconds_total"] != 0.25 || got["streamscore_explained_predictions_total"] != 3 {
		t.Fatalf("gathered %v", got)
	}
}

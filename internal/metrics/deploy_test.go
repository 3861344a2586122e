package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDeployReferencesExistingMetrics: every streamscore_* metric named by
// the Grafana dashboard and the alert rules is one this package registers.
func TestDeployReferencesExistingMetrics(t *testing.T) {
	m := New()
	m.Consumed.WithLabelValues("t").Inc() // vectors appear in Gather once used
	m.Predictions.WithLabelValues("t", "m").Inc()
	m.DeadLetters.WithLabelValues("decode").Inc()
	m.Batches.WithLabelValues("size").Inc()
	m.ScoringSeconds.WithLabelValues("m").Observe(1)
	m.SetLag("t", 0, 1)
	m.SetModel("t", "m", "v", "f")
	m.Reloads.WithLabelValues("ok").Inc()
	m.Scores.WithLabelValues("m").Observe(0.5)
	m.HTTPRequests.WithLabelValues("h", "200").Inc()
	m.HTTPSeconds.WithLabelValues("h").Observe(1)
	m.MissingCounters("m", []string{"f"})
	m.ExplainSeconds.WithLabelValues("m").Add(1)
	m.Explained.WithLabelValues("m").Inc()
	sampleMonitoring(t, m) // quality, drift and shadow series from snapshots
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, mf := range mfs {
		known[mf.GetName()] = true
	}
	name := regexp.MustCompile(`streamscore_[a-z_]+`)
	for _, file := range []string{"../../deploy/grafana/dashboards/streamscore.json", "../../deploy/grafana/dashboards/streamscore-model.json",
		"../../deploy/prometheus/alerts.yml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(file, ".json") {
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
		}
		found := 0
		for _, n := range name.FindAllString(string(b), -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			if !known[base] {
				t.Errorf("%s uses %s, which is not a registered metric", file, n)
			}
			found++
		}
		if found == 0 {
			t.Errorf("%s names no streamscore metric", file)
		}
	}
}

package metrics

import (
	"math"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/streamscore/streamscore/internal/drift"
	"github.com/streamscore/streamscore/internal/quality"
)

// sampleMonitoring sets one snapshot of each kind from real stores, so
// that every monitoring metric has a sample.
func sampleMonitoring(t testing.TB, m *Metrics) {
	t.Helper()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := quality.New(quality.Options{LabelWindow: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.Prediction("a", "fraud", "v1", 0.9, now.Add(-time.Minute))
	s.Prediction("b", "fraud", "v1", 0.2, now.Add(-time.Minute))
	s.Prediction("c", "fraud", "v1", 0.7, now.Add(-time.Minute))
	s.Label("a", 1, now)
	s.Label("b", 0, now)
	s.Label("b", 1, now) // duplicate
	s.Label("x", 7, now) // invalid
	m.SetQuality(s.Snapshot(now))

	bld := drift.NewBuilder([]string{"amount", "hour"})
	for i := 0; i < 100; i++ {
		bld.Add([]float64{float64(i), float64(i % 24)}, float64(i)/100)
	}
	bl, err := bld.Build(10)
	if err != nil {
		t.Fatal(err)
	}
	mon := drift.NewMonitor(bl)
	mon.ObserveBatch(now, []float32{5, 3, 500, float32(math.NaN())}, []float64{0.1, 0.95})
	ws, _ := drift.Merge(now, mon)
	m.SetDrift("fraud", bl, ws)

	a := quality.NewAgreement()
	a.Observe(now, 0.9, 0.8, 1, 1)
	a.Observe(now, 0.4, 0.6, 0, 1)
	m.SetShadow("transactions", "fraud", "fraud-v2", quality.MergeAgreement(now, a))
	m.ShadowPredictions.WithLabelValues("transactions", "fraud-v2", "ok").Inc()
	m.ShadowSeconds.WithLabelValues("transactions", "fraud-v2").Observe(0.001)
}

func gather(t *testing.T, m *Metrics) map[string][]*dto.Metric {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*dto.Metric{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()
	}
	return out
}

func value(ms []*dto.Metric, labels map[string]string) (float64, bool) {
next:
	for _, m := range ms {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func TestMonitoringMetrics(t *testing.T) {
	m := New()
	got := gather(t, m)
	if _, ok := got["streamscore_labels_total"]; ok {
		t.Fatal("label metrics before any snapshot: a service without LABELS_TOPIC would show them")
	}
	sampleMonitoring(t, m)
	got = gather(t, m)
	w1h := map[string]string{"model": "fraud", "version": "v1", "window": "1h"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"streamscore_model_auc", w1h, 1},
		{"streamscore_model_labelled_pairs", w1h, 2},
		{"streamscore_model_label_rate", w1h, 0.5},
		{"streamscore_model_brier", w1h, (0.01 + 0.04) / 2},
		{"streamscore_labels_total", map[string]string{"result": "joined"}, 2},
		{"streamscore_labels_total", map[string]string{"result": "duplicate"}, 1},
		{"streamscore_labels_total", map[string]string{"result": "invalid"}, 1},
		{"streamscore_label_predictions_kept", nil, 3},
		{"streamscore_drift_rows", map[string]string{"model": "fraud", "window": "1h"}, 2},
		{"streamscore_feature_missing_ratio", map[string]string{"model": "fraud", "feature": "hour", "window": "1h"}, 0.5},
		{"streamscore_feature_baseline_missing_ratio", map[string]string{"model": "fraud", "feature": "hour"}, 0},
		{"streamscore_shadow_agreement_ratio", map[string]string{"route": "transactions", "challenger": "fraud-v2", "window": "24h"}, 0.5},
		{"streamscore_shadow_events", map[string]string{"route": "transactions", "window": "7d"}, 2},
	} {
		v, ok := value(got[c.name], c.labels)
		if !ok || math.Abs(v-c.want) > 1e-12 {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	// 2 of 3 predictions labelled
	if v, _ := value(got["streamscore_model_label_join_ratio"], w1h); math.Abs(v-2.0/3) > 1e-12 {
		t.Errorf("join ratio %v, want 2/3", v)
	}
	// drift: a value beyond every training value and a missing one in a
	// feature never missing in training: large PSIs
	if v, _ := value(got["streamscore_feature_psi"], map[string]string{"feature": "hour", "window": "1h"}); v < 1 {
		t.Errorf("hour PSI %v, want > 1", v)
	}
	// a promotion replaces the route's series
	m.SetShadow("transactions", "fraud-v2", "fraud-v3", nil)
	if _, ok := gather(t, m)["streamscore_shadow_events"]; ok {
		t.Error("the old champion/challenger series outlived SetShadow")
	}
}

// TestUndefinedMeasuresHaveNoSample: AUC with one class only is absent,
// not NaN.
func TestUndefinedMeasuresHaveNoSample(t *testing.T) {
	m := New()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, _ := quality.New(quality.Options{LabelWindow: time.Hour})
	s.Prediction("a", "fraud", "v1", 0.9, now)
	s.Label("a", 1, now)
	m.SetQuality(s.Snapshot(now))
	got := gather(t, m)
	if _, ok := value(got["streamscore_model_auc"], nil); ok {
		t.Error("AUC of positives only has a sample")
	}
	if _, ok := value(got["streamscore_model_log_loss"], map[string]string{"window": "1h"}); !ok {
		t.Error("log loss of one pair has no sample")
	}
}

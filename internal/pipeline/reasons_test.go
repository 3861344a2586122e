package pipeline

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/metrics"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/xgboost"
)

// TestReasonCodes: with REASONS_TOP_K every picked prediction carries the
// K features of largest contribution, as the model's own explainer gives
// them for the event's input row (reference: the explainer on that row,
// outside the pipeline); REASONS_FOR=flagged picks only label 1. JSON and
// Avro predictions carry the same reasons.
func TestReasonCodes(t *testing.T) {
	model, err := xgboost.Load(fraudModel, "")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := scoring.NewExplainer(model)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		enc  schemas.Encoding
		for_ string
	}{{schemas.JSON, "all"}, {schemas.JSON, "flagged"}, {schemas.Avro, "all"}} {
		t.Run(string(tc.enc)+"/"+tc.for_, func(t *testing.T) {
			addrs := testkafka.Cluster(t, topics()...)
			want := map[string]sent{}
			produceEvents(t, addrs, tc.enc, schemas.Transaction, "transactions", 0, 300, want)
			cfg := testConfig(t, addrs, string(tc.enc))
			cfg.ReasonsTopK, cfg.ReasonsFor = 3, tc.for_
			_, stop := runFor(t, cfg)
			recs := testkafka.ReadN(t, addrs, "predictions", len(want), 30*time.Second)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			dec, _ := schemas.NewPredictionDecoder(tc.enc)
			contrib := make([]float32, len(fraudFeatures)+1)
			flagged, explained := 0, 0
			for _, r := range recs {
				p, err := dec.Decode(r.Value)
				if err != nil {
					t.Fatal(err)
				}
				w := want[p.EventID]
				if err := ref.Explain(w.row, contrib); err != nil {
					t.Fatal(err)
				}
				reasons := scoring.TopReasons(nil, contrib, w.row, 3)
				if p.Label == 1 {
					flagged++
				}
				if tc.for_ == "flagged" && p.Label == 0 {
					reasons = nil
				}
				if len(p.Reasons) > 0 {
					explained++
				}
				if len(p.Reasons) != len(reasons) {
					t.Fatalf("%s (label %d): %d reasons, want %d: %+v", p.EventID, p.Label, len(p.Reasons), len(reasons), p.Reasons)
				}
				for i, x := range reasons {
					g := p.Reasons[i]
					sameValue := float64(x.Value) == g.Value || math.IsNaN(float64(x.Value)) && math.IsNaN(g.Value)
					if g.Feature != fraudFeatures[x.Feature] || !sameValue || g.Contribution != float64(x.Contribution) {
						t.Fatalf("%s reason %d: %+v, want %s %v %v", p.EventID, i, g, fraudFeatures[x.Feature], x.Value, x.Contribution)
					}
				}
			}
			if explained == 0 || tc.for_ == "flagged" && (flagged == 0 || flagged == len(recs)) {
				t.Fatalf("%d explained, %d flagged of %d: the case tests nothing", explained, flagged, len(recs))
			}
		})
	}
}

// TestReasonsNeedAModelThatExplains: REASONS_TOP_K with a model that
// cannot explain fails at start, saying why.
func TestReasonsNeedAModelThatExplains(t *testing.T) {
	addrs := testkafka.Cluster(t, topics()...)
	cfg := testConfig(t, addrs, "json")
	cfg.ModelPath, cfg.ReasonsTopK = "../../scoring/load/testdata/churn.linear.json", 2
	_, err := New(context.Background(), cfg, WithKafkaOptions(testkafka.ClientOpts()...))
	if !errors.Is(err, scoring.ErrCannotExplain) || err == nil || !containsAll(err.Error(), "REASONS_TOP_K=2", "linear") {
		t.Fatalf("err = %v", err)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestMissingInputsCounted: streamscore_feature_missing_total counts, per
// model input, the scored records that had it missing, and the explain
// metrics count the explained predictions.
func TestMissingInputsCounted(t *testing.T) {
	addrs := testkafka.Cluster(t, topics()...)
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 400, want)
	cfg := testConfig(t, addrs, "json")
	cfg.ReasonsTopK, cfg.ReasonsFor = 2, "all"
	obs := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithMetrics(obs))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	testkafka.ReadN(t, addrs, "predictions", len(want), 30*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expect := make([]float64, len(fraudFeatures))
	for _, w := range want {
		for i, v := range w.row {
			if v != v {
				expect[i]++
			}
		}
	}
	mfs, err := obs.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "streamscore_feature_missing_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "feature" {
					got[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	for i, f := range fraudFeatures {
		if got[f] != expect[i] {
			t.Errorf("feature %s: %v missing counted, want %v", f, got[f], expect[i])
		}
	}
	if n := sumMetric(t, obs, "streamscore_explained_predictions_total"); n != float64(len(want)) {
		t.Errorf("%v explained predictions, want %d", n, len(want))
	}
	if s := sumMetric(t, obs, "streamscore_explain_seconds_total"); s <= 0 {
		t.Errorf("explain seconds %v", s)
	}
}

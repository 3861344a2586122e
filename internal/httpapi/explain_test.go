package httpapi

import (
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/load"
)

// TestPredictExplain: ?explain=true returns every contribution of every
// class, equal to the model's own explainer on the event's row, summing to
// the margin; a model that cannot explain is a 400 saying why.
func TestPredictExplain(t *testing.T) {
	ready := true
	srv, fraud, multi := testServer(t, &ready)
	dec, err := schemas.NewDecoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	if err != nil {
		t.Fatal(err)
	}
	var ev schemas.Event
	if err := dec.Decode([]byte(fmt.Sprintf(event, 1, 500)), &ev); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		topic  string
		s      *scoring.Scorer
		groups int
	}{{"transactions", fraud, 1}, {"other", multi, multi.Info().Outputs()}} {
		e, err := tc.s.Explainer()
		if err != nil {
			t.Fatal(err)
		}
		var b scoring.Batch
		tc.s.Score([]*schemas.Event{&ev}, &b)
		want := make([]float32, tc.s.ContributionLen())
		if err := e.Explain(b.Features(0), want); err != nil {
			t.Fatal(err)
		}
		c, m := call(t, srv, "POST", "/v1/predict?explain=true&topic="+tc.topic, fmt.Sprintf(event, 1, 500))
		preds, _ := m["predictions"].([]any)
		if c != 200 || len(preds) != 1 {
			t.Fatalf("%s: %d %v", tc.topic, c, m)
		}
		sets, _ := preds[0].(map[string]any)["contributions"].([]any)
		if len(sets) != tc.groups {
			t.Fatalf("%s: %d contribution sets, want %d: %v", tc.topic, len(sets), tc.groups, preds[0])
		}
		names := tc.s.Plan().Names()
		width := len(names) + 1
		for g, raw := range sets {
			set := raw.(map[string]any)
			feats := set["features"].(map[string]any)
			sum := set["bias"].(float64)
			if sum != float64(want[g*width+width-1]) {
				t.Errorf("%s group %d: bias %v, want %v", tc.topic, g, sum, want[g*width+width-1])
			}
			for f, name := range names {
				v, _ := feats[name].(float64)
				if v != float64(want[g*width+f]) {
					t.Errorf("%s group %d %s: %v, want %v", tc.topic, g, name, v, want[g*width+f])
				}
				sum += v
			}
			if tc.groups == 1 {
				score := preds[0].(map[string]any)["score"].(float64)
				if margin := math.Log(score / (1 - score)); math.Abs(sum-margin) > 1e-4*math.Max(1, math.Abs(margin)) {
					t.Errorf("%s: contributions sum to %v, margin %v", tc.topic, sum, margin)
				}
			}
		}
	}

	m, err := load.Model("../../scoring/load/testdata/churn.linear.json", load.Auto, "")
	if err != nil {
		t.Fatal(err)
	}
	lin, err := scoring.NewScorer(m, nil, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Models: modelset.Static(map[string]*scoring.Scorer{"transactions": lin}), Names: schemas.DefaultFieldNames,
		Inputs: []Input{{"transactions", schemas.Transaction}}})
	if err != nil {
		t.Fatal(err)
	}
	ls := httptest.NewServer(h)
	defer ls.Close()
	c, body := call(t, ls, "POST", "/v1/predict?explain=true", fmt.Sprintf(event, 1, 500))
	if msg, _ := body["error"].(string); c != 400 || !strings.Contains(msg, "cannot explain") {
		t.Fatalf("linear model: %d %v", c, body)
	}
}

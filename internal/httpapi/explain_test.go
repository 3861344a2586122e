package httpapi

import (
	"encoding/json"
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

// TestOIPContributions: parameters.contributions adds the output
// "contributions", [N, G, F+1] in pred_contribs' layout: for the binary
// model each row's values sum to the score's log-odds; for the
// multi-class one (null = missing) they are the model explainer's, class
// by class. Without the parameter there is no such output.
func TestOIPContributions(t *testing.T) {
	ready := true
	srv, _, multi := testServer(t, &ready)
	rows := [][]float64{{100, 3, 0.5, 1, 20, 300, 0.1, 1.2}, {5000, 23, 0.9, 8, 900, 2, 0.9, 5}}
	body, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{"name": "input", "shape": []int{2, 8}, "datatype": "FP32", "data": rows}},
		"parameters": map[string]any{"contributions": true}})
	c, m := call(t, srv, "POST", "/v2/models/xgb_fraud/infer", string(body))
	outs, _ := m["outputs"].([]any)
	if c != 200 || len(outs) != 2 {
		t.Fatalf("infer: %d %v", c, m)
	}
	ct := outs[1].(map[string]any)
	if ct["name"] != "contributions" || fmt.Sprint(ct["shape"]) != "[2 1 9]" {
		t.Fatalf("contributions output %v", ct)
	}
	data := ct["data"].([]any)
	scores := outs[0].(map[string]any)["data"].([]any)
	for r := 0; r < 2; r++ {
		var sum float64
		for f := 0; f < 9; f++ {
			sum += data[r*9+f].(float64)
		}
		p := scores[r].(float64)
		if logit := math.Log(p / (1 - p)); math.Abs(sum-logit) > 1e-4*math.Max(1, math.Abs(logit)) {
			t.Errorf("row %d: contributions sum to %v, the score's log-odds are %v", r, sum, logit)
		}
	}
	c, m = call(t, srv, "POST", "/v2/models/xgb_multi/infer",
		`{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[0.1,null,0.3,0.4,-2,1.5,3,0]}],"parameters":{"contributions":true}}`)
	outs, _ = m["outputs"].([]any)
	if c != 200 || len(outs) != 3 || fmt.Sprint(outs[2].(map[string]any)["shape"]) != "[2 3 5]" {
		t.Fatalf("multi infer: %d %v", c, m)
	}
	e, err := multi.Explainer()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 2*3*5)
	if err := e.Explain([]float32{0.1, nan32(), 0.3, 0.4, -2, 1.5, 3, 0}, want); err != nil {
		t.Fatal(err)
	}
	for i, v := range outs[2].(map[string]any)["data"].([]any) {
		if float32(v.(float64)) != want[i] {
			t.Errorf("multi contribution %d: %v, explainer %v", i, v, want[i])
		}
	}
	c, m = call(t, srv, "POST", "/v2/models/xgb_multi/infer", `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`)
	if outs, _ := m["outputs"].([]any); c != 200 || len(outs) != 2 {
		t.Errorf("without the parameter: %d %v", c, m)
	}
}

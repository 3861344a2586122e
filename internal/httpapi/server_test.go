package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/load"
)

const refDir = "../../scoring/xgboost/testdata/"

func testServer(t *testing.T, ready *bool) (*httptest.Server, *scoring.Scorer, *scoring.Scorer) {
	t.Helper()
	mk := func(path string) *scoring.Scorer {
		m, err := load.Model(path, load.Auto, "")
		if err != nil {
			t.Fatal(err)
		}
		s, err := scoring.NewScorer(m, nil, scoring.DefaultPolicy)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	fraud, multi := mk(refDir+"xgb_fraud.json"), mk(refDir+"xgb_multi.json")
	set := modelset.Static(map[string]*scoring.Scorer{"transactions": fraud, "other": multi})
	h, err := New(Options{Models: set, Names: schemas.DefaultFieldNames, MaxBodyBytes: 4096, MaxBatch: 5,
		Inputs: []Input{{"transactions", schemas.Transaction}, {"other", schemas.Transaction}},
		Ready: func() (bool, string) {
			if *ready {
				return true, "ok"
			}
			return false, "no partitions assigned"
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, fraud, multi
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, m
}

func TestHealthAndReadiness(t *testing.T) {
	ready := false
	srv, _, _ := testServer(t, &ready)
	if c, _ := call(t, srv, "GET", "/healthz", ""); c != 200 {
		t.Errorf("healthz %d", c)
	}
	if c, m := call(t, srv, "GET", "/readyz", ""); c != 503 || m["reason"] != "no partitions assigned" {
		t.Errorf("readyz not ready: %d %v", c, m)
	}
	if c, m := call(t, srv, "GET", "/v2/health/ready", ""); c != 503 || m["ready"] != false {
		t.Errorf("oip ready: %d %v", c, m)
	}
	ready = true
	if c, m := call(t, srv, "GET", "/readyz", ""); c != 200 || m["ready"] != true {
		t.Errorf("readyz ready: %d %v", c, m)
	}
	if c, m := call(t, srv, "GET", "/v2/health/live", ""); c != 200 || m["live"] != true {
		t.Errorf("live: %d %v", c, m)
	}
	if c, m := call(t, srv, "GET", "/nope", ""); c != 404 || m["error"] == nil {
		t.Errorf("unknown path: %d %v", c, m)
	}
}

const event = `{"event_id":"e%d","customer_id":"c1","event_time":"2026-11-27T10:00:00Z","amount":%d,"hour":3}`

func TestPredict(t *testing.T) {
	ready := true
	srv, fraud, _ := testServer(t, &ready)
	want := func(amount float32) float64 {
		x := []float32{amount, 3, nan32(), nan32(), nan32(), nan32(), nan32(), nan32()}
		out := make([]float32, 1)
		fraud.Model().Predict(x, out)
		return float64(out[0])
	}
	c, m := call(t, srv, "POST", "/v1/predict", fmt.Sprintf(event, 1, 500))
	preds, _ := m["predictions"].([]any)
	if c != 200 || len(preds) != 1 {
		t.Fatalf("single: %d %v", c, m)
	}
	p := preds[0].(map[string]any)
	if p["event_id"] != "e1" || p["entity_id"] != "c1" || p["score"] != want(500) || p["model_name"] != "xgb_fraud" ||
		p["event_time"] != "2026-11-27T10:00:00.000Z" {
		t.Errorf("prediction %v (want score %v)", p, want(500))
	}
	list := "[" + fmt.Sprintf(event, 1, 10) + `,{"event_id":"x"},` + fmt.Sprintf(event, 3, 20000) + "]"
	c, m = call(t, srv, "POST", "/v1/predict", list)
	preds, _ = m["predictions"].([]any)
	if c != 200 || len(preds) != 3 || preds[1].(map[string]any)["stage"] != "decode" || preds[2].(map[string]any)["score"] != want(20000) {
		t.Errorf("list: %d %v", c, m)
	}
	for _, tc := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/v1/predict", `{"event_id":"x"}`, 400, "decode:"},
		{"/v1/predict", `{"event_id":"e","customer_id":"c","event_time":0,"amount":"lots"}`, 400, `feature "amount"`},
		{"/v1/predict", ``, 400, "body"},
		{"/v1/predict", `[]`, 400, "empty"},
		{"/v1/predict", strings.Repeat(" ", 5000) + "{}", 413, "HTTP_MAX_BODY_BYTES"},
		{"/v1/predict", "[" + strings.Repeat("{},", 5) + "{}]", 413, "HTTP_MAX_BATCH"},
		{"/v1/predict?topic=nope", fmt.Sprintf(event, 1, 1), 400, "topic"},
	} {
		c, m := call(t, srv, "POST", tc.path, tc.body)
		if msg, _ := m["error"].(string); c != tc.code || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %.40q: %d %v, want %d naming %q", tc.path, tc.body, c, m, tc.code, tc.want)
		}
	}
}

func nan32() float32 { var z float32; return z / z }

func TestOpenInferenceProtocol(t *testing.T) {
	ready := true
	srv, fraud, multi := testServer(t, &ready)
	c, m := call(t, srv, "GET", "/v2/models/xgb_fraud", "")
	inputs, _ := m["inputs"].([]any)
	if c != 200 || len(inputs) != 1 || fmt.Sprint(inputs[0].(map[string]any)["shape"]) != "[-1 8]" {
		t.Errorf("metadata: %d %v", c, m)
	}
	if c, m := call(t, srv, "GET", "/v2/models/nope", ""); c != 404 || m["error"] == nil {
		t.Errorf("unknown model: %d %v", c, m)
	}
	if c, m := call(t, srv, "GET", "/v2/models/xgb_multi/ready", ""); c != 200 || m["ready"] != true {
		t.Errorf("model ready: %d %v", c, m)
	}
	rows := [][]float64{{100, 3, 0.5, 1, 20, 300, 0.1, 1.2}, {5000, 23, 0.9, 8, 900, 2, 0.9, 5}}
	x := make([]float32, 0, 16)
	for _, r := range rows {
		for _, v := range r {
			x = append(x, float32(v))
		}
	}
	want := make([]float32, 2)
	fraud.Model().Predict(x, want)
	for _, dt := range []string{"FP32", "FP64"} {
		body, _ := json.Marshal(map[string]any{"id": "r1", "inputs": []any{map[string]any{"name": "input", "shape": []int{2, 8}, "datatype": dt, "data": rows}}})
		c, m := call(t, srv, "POST", "/v2/models/xgb_fraud/infer", string(body))
		outs, _ := m["outputs"].([]any)
		if c != 200 || len(outs) != 1 || m["id"] != "r1" {
			t.Fatalf("%s infer: %d %v", dt, c, m)
		}
		data := outs[0].(map[string]any)["data"].([]any)
		if float32(data[0].(float64)) != want[0] || float32(data[1].(float64)) != want[1] {
			t.Errorf("%s scores %v, model %v", dt, data, want)
		}
	}
	// multi-class: every class probability, and the top one as score, as
	// the model computes them (null is missing)
	body := `{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[0.1,null,0.3,0.4,-2,1.5,3,0]}]}`
	c, m = call(t, srv, "POST", "/v2/models/xgb_multi/infer", body)
	outs, _ := m["outputs"].([]any)
	if c != 200 || len(outs) != 2 || fmt.Sprint(outs[1].(map[string]any)["shape"]) != "[2 3]" ||
		outs[0].(map[string]any)["name"] != "score" || outs[1].(map[string]any)["name"] != "scores" {
		t.Fatalf("multi infer: %d %v", c, m)
	}
	mx := []float32{0.1, nan32(), 0.3, 0.4, -2, 1.5, 3, 0}
	probs := make([]float32, 2*3)
	if err := multi.Model().Predict(mx, probs); err != nil {
		t.Fatal(err)
	}
	score, _ := outs[0].(map[string]any)["data"].([]any)
	scores, _ := outs[1].(map[string]any)["data"].([]any)
	if len(score) != 2 || len(scores) != 6 {
		t.Fatalf("multi infer data: %v", m)
	}
	for r := 0; r < 2; r++ {
		top := max(probs[r*3], probs[r*3+1], probs[r*3+2])
		if got := float32(score[r].(float64)); got != top {
			t.Errorf("row %d: score %v, model's top class probability %v", r, got, top)
		}
		for k := 0; k < 3; k++ {
			if got := float32(scores[r*3+k].(float64)); got != probs[r*3+k] {
				t.Errorf("row %d class %d: %v, model %v", r, k, got, probs[r*3+k])
			}
		}
	}
	for _, tc := range []struct{ body, want string }{
		{`{"inputs":[]}`, "inputs:"},
		{`{"inputs":[{"shape":[1,8],"datatype":"INT64","data":[1,2,3,4,5,6,7,8]}]}`, "inputs[0].datatype"},
		{`{"inputs":[{"shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]}`, "inputs[0].shape"},
		{`{"inputs":[{"shape":[1,8],"datatype":"FP32","data":[1,2,3]}]}`, "inputs[0].data"},
		{`{"inputs":[{"shape":[1,8],"datatype":"FP32","data":["a",2,3,4,5,6,7,8]}]}`, "inputs[0].data"},
		{`{"inputs":[{"shape":[9,8],"datatype":"FP32","data":[]}]}`, "HTTP_MAX_BATCH"},
		{`not json`, "body"},
	} {
		c, m := call(t, srv, "POST", "/v2/models/xgb_fraud/infer", tc.body)
		if msg, _ := m["error"].(string); (c != 400 && c != 413) || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %v, want an error naming %s", tc.body, c, m, tc.want)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	ready := true
	srv, _, _ := testServer(t, &ready)
	call(t, srv, "GET", "/healthz", "")
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(b, []byte(`streamscore_http_requests_total{code="200",handler="healthz"} 1`)) {
		t.Errorf("metrics:\n%s", b[:min(len(b), 2000)])
	}
}

package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
)

// TestDemoScoresWhatItProduces: the demo scores what it produces with the
// bundled models, on co-partitioned topics (the pipeline refuses others
// when the fraud model's aggregates need the entity state), and tells the
// story of a customer whose purchase scores higher after failed logins.
func TestDemoScoresWhatItProduces(t *testing.T) {
	for _, enc := range []schemas.Encoding{schemas.JSON, schemas.Avro} {
		t.Run(string(enc), func(t *testing.T) {
			var out bytes.Buffer
			checked := make(chan []string, 1)
			sum, err := Run(context.Background(), Options{
				Port: 0, Rate: 1000, Duration: 8 * time.Second, Encoding: enc, Out: &out,
				Environ:  map[string]string{"BATCH_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s"},
				HTTPAddr: "127.0.0.1:0", HTTPListening: func(addr string) { go func() { checked <- checkHTTP(addr) }() },
			})
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			select {
			case problems := <-checked:
				for _, problem := range problems {
					t.Error("HTTP API: " + problem)
				}
			case <-time.After(10 * time.Second):
				t.Error("the demo did not serve its HTTP API")
			}
			text := out.String()
			for _, want := range []string{"embedded Kafka broker listening on 127.0.0.1:", "HTTP API on http://127.0.0.1:", "/v1/predict", "scored", "latency p50", "sample: fraud", "sample: takeover",
				"transactions -> model fraud", "activity -> model takeover", "stopped after",
				"story: cust-story fails to log in 6 times from NG, on a new device -> takeover", "story: the same purchase scored"} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			// the story: the same purchase, before and after the failed
			// logins, as the fraud model scores it from the history
			if !(sum.StoryBefore < 0.1 && sum.StoryAfter > 0.5) {
				t.Errorf("story: the same purchase scored %v before the failed logins and %v after\n%s", sum.StoryBefore, sum.StoryAfter, text)
			}
			if sum.Predictions < 3000 || sum.DeadLetters != 0 || sum.Consumed != sum.Predictions+sum.DeadLetters || sum.Consumed > sum.Sent {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

// checkHTTP uses the demo's HTTP API as run's is used, while the demo
// runs, and returns what is wrong.
func checkHTTP(addr string) []string {
	var problems []string
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if c, body := get("/healthz"); c != 200 {
		problems = append(problems, fmt.Sprintf("/healthz: %d %s", c, body))
	}
	ready := false
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline) && !ready; time.Sleep(100 * time.Millisecond) {
		c, _ := get("/readyz")
		ready = c == 200
	}
	if !ready {
		c, body := get("/readyz")
		problems = append(problems, fmt.Sprintf("/readyz: %d %s", c, body))
	}
	ev := fmt.Sprintf(`{"event_id":"e1","customer_id":"c1","event_time":%d,"amount":950,"channel":"web","card_present":false,"merchant_category":"crypto","country":"NG"}`, time.Now().UnixMilli())
	resp, err := http.Post("http://"+addr+"/v1/predict", "application/json", strings.NewReader(ev))
	if err != nil {
		problems = append(problems, "/v1/predict: "+err.Error())
	} else {
		var body struct {
			Predictions []struct {
				EventID   string  `json:"event_id"`
				ModelName string  `json:"model_name"`
				Score     float64 `json:"score"`
			} `json:"predictions"`
		}
		err := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(body.Predictions) != 1 || body.Predictions[0].EventID != "e1" ||
			body.Predictions[0].ModelName != "fraud" || body.Predictions[0].Score <= 0 || body.Predictions[0].Score >= 1 {
			problems = append(problems, fmt.Sprintf("/v1/predict: %d %+v %v", resp.StatusCode, body, err))
		}
	}
	// the stream's predictions show once the first are acknowledged
	c, body := 0, ""
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, body = get("/metrics"); c == 200 && strings.Contains(body, "streamscore_predictions_total{") && strings.Contains(body, `handler="predict"`) {
			break
		}
	}
	if c != 200 || !strings.Contains(body, "streamscore_predictions_total{") || !strings.Contains(body, `handler="predict"`) {
		problems = append(problems, fmt.Sprintf("/metrics: %d, %d bytes without the predictions or the request", c, len(body)))
	}
	return problems
}

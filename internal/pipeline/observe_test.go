package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/metrics"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// sumMetric adds up every series of a metric family (counters and
// histogram counts).
func sumMetric(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			switch {
			case s.Counter != nil:
				total += s.Counter.GetValue()
			case s.Histogram != nil:
				total += float64(s.Histogram.GetSampleCount())
			case s.Gauge != nil:
				total += s.Gauge.GetValue()
			}
		}
	}
	return total
}

func TestMetricsAddUpAndPredictParity(t *testing.T) {
	addrs := testkafka.Cluster(t, topics()...)
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 200, want)
	testkafka.Produce(t, addrs,
		&kgo.Record{Topic: "transactions", Value: []byte("garbage")},
		&kgo.Record{Topic: "transactions", Value: []byte(`{"event_id":"b","customer_id":"c","event_time":0,"amount":"x"}`)})
	cfg := testConfig(t, addrs, "json")
	cfg.InputTopics = []string{"transactions"}
	obs := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithMetrics(obs))
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	if ok, reason := p.Ready(); ok {
		t.Errorf("ready before running (%s)", reason)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	preds := testkafka.ReadN(t, addrs, "predictions", 200, 30*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if resp != nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The same events through /v1/predict give the stream's scores.
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	var events []json.RawMessage
	streamScore := map[string]float64{}
	for _, r := range preds {
		pr, _ := dec.Decode(r.Value)
		streamScore[pr.EventID] = pr.Score
	}
	enc, _ := schemas.NewEventEncoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	for id, s := range want {
		ev := &schemas.Event{Fields: []schemas.Field{{Name: "event_id", Value: schemas.StringValue(id)},
			{Name: "customer_id", Value: schemas.StringValue(s.entity)}, {Name: "event_time", Value: schemas.NumberValue(0)}}}
		for k, f := range fraudFeatures {
			if s.row[k] == s.row[k] {
				ev.Fields = append(ev.Fields, schemas.Field{Name: f, Value: schemas.NumberValue(float64(s.row[k]))})
			}
		}
		b, _ := enc.Append(nil, ev)
		events = append(events, b)
		if len(events) == 100 {
			break
		}
	}
	body, _ := json.Marshal(events)
	resp, err := http.Post(srv.URL+"/v1/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Predictions []schemas.Prediction `json:"predictions"`
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &out); err != nil || len(out.Predictions) != 100 {
		t.Fatalf("predict: %v %s", err, b[:min(200, len(b))])
	}
	for _, pr := range out.Predictions {
		if s, ok := streamScore[pr.EventID]; !ok || s != pr.Score {
			t.Errorf("%s: /v1/predict %v, stream %v", pr.EventID, pr.Score, s)
		}
	}

	// while running: client metrics and per-partition lag (dropped on close)
	mfs, _ := obs.Registry.Gather()
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if all := strings.Join(names, " "); !strings.Contains(all, "streamscore_kafka_") || !strings.Contains(all, "streamscore_consumer_lag_records") {
		t.Errorf("franz-go client metrics or lag missing: %s", all)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	consumed := sumMetric(t, obs, "streamscore_records_consumed_total")
	predictions := sumMetric(t, obs, "streamscore_predictions_total")
	dead := sumMetric(t, obs, "streamscore_dead_letters_total")
	if consumed != 202 || predictions != 200 || dead != 2 || consumed != predictions+dead {
		t.Errorf("consumed %v, predictions %v, dead letters %v", consumed, predictions, dead)
	}
	if e2e := sumMetric(t, obs, "streamscore_end_to_end_seconds"); e2e != consumed {
		t.Errorf("end-to-end observations %v, consumed %v", e2e, consumed)
	}
	if scores := sumMetric(t, obs, "streamscore_prediction_score"); scores != 200 {
		t.Errorf("score observations %v", scores)
	}
	if b := sumMetric(t, obs, "streamscore_batches_total"); b < 1 {
		t.Errorf("batches %v", b)
	}
	if sumMetric(t, obs, "streamscore_model_info") != 1 || sumMetric(t, obs, "streamscore_last_batch_timestamp_seconds") == 0 {
		t.Error("model info or last batch time missing")
	}
}

// TestReadinessFollowsTheBroker: ready while the broker answers, not ready
// (with the reason) once it is gone.
func TestReadinessFollowsTheBroker(t *testing.T) {
	c, addrs := testCluster(t)
	cfg := testConfig(t, addrs, "json")
	cfg.InputTopics = []string{"transactions"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithPingInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, func() bool { ok, _ := p.Ready(); return ok }, "ready")
	c.Close()
	waitFor(t, func() bool { ok, reason := p.Ready(); return !ok && strings.Contains(reason, "unreachable") }, "not ready after the broker went away")
	cancel()
	<-done
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testCluster(t *testing.T) (*kfake.Cluster, []string) {
	return testkafka.ClusterHandle(t, topics()...)
}

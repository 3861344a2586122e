package pipeline

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring/xgboost"
)

const fraudModel = "../../scoring/xgboost/testdata/xgb_fraud.json"

// fraudFeatures are the inputs of the reference fraud model.
var fraudFeatures = []string{"amount", "hour", "merchant_risk", "tx_count_1h", "distance_km", "account_age_days", "device_score", "velocity_ratio"}

// genEvent makes event i of a kind with random feature values (some absent)
// and returns it with the model input row it must produce.
func genEvent(rng *rand.Rand, kind schemas.EventType, i int) (*schemas.Event, []float32) {
	ev := &schemas.Event{Fields: []schemas.Field{
		{Name: "event_id", Value: schemas.StringValue(fmt.Sprintf("%s-%d", kind, i))},
		{Name: "customer_id", Value: schemas.StringValue(fmt.Sprintf("c%d", rng.IntN(50)))},
		{Name: "event_time", Value: schemas.NumberValue(float64(1795787100000 + int64(i)*1000))},
	}}
	row := make([]float32, len(fraudFeatures))
	for k, f := range fraudFeatures {
		row[k] = float32(math.NaN())
		if kind == schemas.Activity && f == "amount" || rng.IntN(10) == 0 {
			continue // absent: missing
		}
		v := math.Round(rng.Float64()*50000) / 100
		ev.Fields = append(ev.Fields, schemas.Field{Name: f, Value: schemas.NumberValue(v)})
		row[k] = float32(v)
	}
	return ev, row
}

type sent struct {
	entity string
	row    []float32
}

// produceEvents writes n events of a kind to topic and returns what each
// event id should produce. Avro transactions carry only amount of the
// model's features (their schema has no others), so the rest are missing.
func produceEvents(t *testing.T, addrs []string, enc schemas.Encoding, kind schemas.EventType, topic string, from, n int, want map[string]sent) {
	t.Helper()
	produceEventsWith(t, addrs, enc, kind, topic, from, n, want, nil)
}

// produceEventsWith is produceEvents with a hook that may change each event
// before it is encoded (fields the model ignores).
func produceEventsWith(t *testing.T, addrs []string, enc schemas.Encoding, kind schemas.EventType, topic string, from, n int,
	want map[string]sent, change func(*schemas.Event)) {
	t.Helper()
	e, err := schemas.NewEventEncoder(enc, kind, schemas.DefaultFieldNames)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(from), uint64(len(kind))))
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		ev, row := genEvent(rng, kind, i)
		if change != nil {
			change(ev)
		}
		if enc == schemas.Avro {
			for k, f := range fraudFeatures {
				if f != "amount" || kind == schemas.Activity {
					row[k] = float32(math.NaN())
				}
			}
		}
		b, err := e.Append(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := ev.Field("event_id")
		ent, _ := ev.Field("customer_id")
		want[id.Str] = sent{ent.Str, row}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(ent.Str), Value: b,
			Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-abc-def-01")}}})
	}
	testkafka.Produce(t, addrs, recs...)
}

func testConfig(t *testing.T, addrs []string, enc string) config.Config {
	t.Helper()
	cfg, err := config.Load(map[string]string{
		"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions,activity",
		"INPUT_ENCODING": enc, "OUTPUT_ENCODING": enc, "MODEL_PATH": fraudModel,
		"BATCH_INTERVAL": "20ms", "BATCH_MAX_SIZE": "64", "COMMIT_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runFor starts a pipeline and returns a stop function that drains it and
// returns Run's error.
func runFor(t *testing.T, cfg config.Config) (*Pipeline, func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return p, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("Run did not return after cancel; goroutines:\n%s", b.String())
			return nil
		}
	}
}

func topics() []testkafka.Topic {
	return []testkafka.Topic{{Name: "transactions", Partitions: 3}, {Name: "activity", Partitions: 2},
		{Name: "predictions", Partitions: 3}, {Name: "predictions-dlq", Partitions: 1}}
}

func TestEndToEnd(t *testing.T) {
	model, err := xgboost.Load(fraudModel, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []schemas.Encoding{schemas.JSON, schemas.Avro} {
		t.Run(string(enc), func(t *testing.T) {
			addrs := testkafka.Cluster(t, topics()...)
			want := map[string]sent{}
			produceEvents(t, addrs, enc, schemas.Transaction, "transactions", 0, 300, want)
			produceEvents(t, addrs, enc, schemas.Activity, "activity", 0, 200, want)
			bad := []*kgo.Record{
				{Topic: "transactions", Key: []byte("k1"), Value: []byte("\xff\xfe garbage")},
				{Topic: "activity", Key: []byte("k2"), Value: nil}, // tombstone
			}
			if enc == schemas.Avro { // a good event cut in half
				e, _ := schemas.NewEventEncoder(enc, schemas.Transaction, schemas.DefaultFieldNames)
				ev, _ := genEvent(rand.New(rand.NewPCG(9, 9)), schemas.Transaction, 99999)
				b, _ := e.Append(nil, ev)
				bad = append(bad, &kgo.Record{Topic: "transactions", Key: []byte("k4"), Value: b[:len(b)/2]})
			}
			if enc == schemas.JSON { // decodes, but a feature has the wrong type
				bad = append(bad, &kgo.Record{Topic: "transactions", Key: []byte("k3"),
					Value: []byte(`{"event_id":"x","customer_id":"c","event_time":0,"amount":"12.50"}`)})
			}
			testkafka.Produce(t, addrs, bad...)

			cfg := testConfig(t, addrs, string(enc))
			p, stop := runFor(t, cfg)
			preds := testkafka.ReadN(t, addrs, "predictions", len(want), 30*time.Second)
			dlq := testkafka.ReadN(t, addrs, "predictions-dlq", len(bad), 10*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("drain: %v", err)
			}
			checkPredictions(t, enc, preds, want, model)
			checkDeadLetters(t, dlq, bad)
			if s := p.Stats(); s.Consumed.Load() != s.Predictions.Load()+s.DeadLetters.Load() ||
				s.Consumed.Load() != int64(len(want)+len(bad)) {
				t.Errorf("stats: consumed %d, predictions %d, dead letters %d", s.Consumed.Load(), s.Predictions.Load(), s.DeadLetters.Load())
			}
			checkCommittedAtEnd(t, addrs, cfg.GroupID)

			// Restart: only the new events are scored.
			more := map[string]sent{}
			produceEvents(t, addrs, enc, schemas.Transaction, "transactions", 1000, 40, more)
			_, stop = runFor(t, cfg)
			all := testkafka.ReadN(t, addrs, "predictions", len(want)+len(more), 30*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("second drain: %v", err)
			}
			for k, v := range more {
				want[k] = v
			}
			checkPredictions(t, enc, all, want, model)
			checkCommittedAtEnd(t, addrs, cfg.GroupID)
		})
	}
}

func checkPredictions(t *testing.T, enc schemas.Encoding, recs []*kgo.Record, want map[string]sent, model *xgboost.Model) {
	t.Helper()
	dec, _ := schemas.NewPredictionDecoder(enc)
	if len(recs) != len(want) {
		t.Errorf("%d predictions for %d events", len(recs), len(want))
	}
	seen := map[string]bool{}
	out := make([]float32, 1)
	for _, r := range recs {
		pr, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatalf("decode prediction: %v", err)
		}
		w, ok := want[pr.EventID]
		if !ok || seen[pr.EventID] {
			t.Errorf("unexpected or duplicate prediction for %q", pr.EventID)
			continue
		}
		seen[pr.EventID] = true
		if string(r.Key) != w.entity || pr.EntityID != w.entity {
			t.Errorf("%s: key %q entity %q, want %q", pr.EventID, r.Key, pr.EntityID, w.entity)
		}
		if err := model.Predict(w.row, out); err != nil {
			t.Fatal(err)
		}
		if pr.Score != float64(out[0]) {
			t.Errorf("%s: score %v, model says %v", pr.EventID, pr.Score, out[0])
		}
		if wantLabel := int32(0); pr.Score > 0.5 && pr.Label != 1 || pr.Score <= 0.5 && pr.Label != wantLabel {
			t.Errorf("%s: label %d for score %v", pr.EventID, pr.Label, pr.Score)
		}
		if pr.ModelName != "xgb_fraud" || pr.ModelVersion == "" || pr.Source.Topic == "" ||
			!strings.HasPrefix(pr.EventID, pr.EventType) {
			t.Errorf("prediction fields: %+v", pr)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != "traceparent" {
			t.Errorf("%s: headers %v, want the traceparent copied", pr.EventID, r.Headers)
		}
	}
}

func checkDeadLetters(t *testing.T, dlq []*kgo.Record, bad []*kgo.Record) {
	t.Helper()
	if len(dlq) != len(bad) {
		t.Fatalf("%d dead letters, want %d", len(dlq), len(bad))
	}
	byKey := map[string]*kgo.Record{}
	for _, r := range dlq {
		byKey[string(r.Key)] = r
	}
	for _, b := range bad {
		r := byKey[string(b.Key)]
		if r == nil || string(r.Value) != string(b.Value) {
			t.Errorf("dead letter for key %s missing or altered", b.Key)
			continue
		}
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		wantStage := producer.StageDecode
		if string(b.Key) == "k3" {
			wantStage = producer.StageFeatures
		}
		if h[producer.HeaderStage] != wantStage || h[producer.HeaderError] == "" || h[producer.HeaderSourceTopic] != b.Topic ||
			h[producer.HeaderSourceOffset] == "" || h[producer.HeaderFailedAt] == "" {
			t.Errorf("dead letter headers for %s: %v", b.Key, h)
		}
		if _, err := strconv.Atoi(h[producer.HeaderSourcePartition]); err != nil {
			t.Errorf("partition header %q", h[producer.HeaderSourcePartition])
		}
	}
}

func checkCommittedAtEnd(t *testing.T, addrs []string, group string) {
	t.Helper()
	ends := testkafka.EndOffsets(t, addrs, "transactions", "activity")
	committed := testkafka.Committed(t, addrs, group)
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(o.Topic, o.Partition)
		if o.Offset == 0 {
			return
		}
		if !ok || c.At != o.Offset {
			t.Errorf("%s[%d]: committed %v, end %d", o.Topic, o.Partition, c.At, o.Offset)
		}
	})
}

func TestNewFailsClearly(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 1}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	cfg := testConfig(t, addrs, "json")
	cfg.InputTopics = []string{"transactions"}
	ctx := context.Background()
	if _, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...)); err == nil || !strings.Contains(err.Error(), `topic "predictions"`) {
		t.Errorf("missing output topic: %v", err)
	}
	cfg.ModelPath = "testdata/nonexistent.json"
	if _, err := New(ctx, cfg); err == nil || !strings.Contains(err.Error(), "MODEL_PATH") {
		t.Errorf("missing model: %v", err)
	}
	cfg.ModelPath = fraudModel
	cfg.FeaturesPath = "testdata/nonexistent.yaml"
	if _, err := New(ctx, cfg); err == nil || !strings.Contains(err.Error(), "FEATURES_PATH") {
		t.Errorf("missing features file: %v", err)
	}
}

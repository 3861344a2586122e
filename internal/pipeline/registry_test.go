package pipeline

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/internal/testregistry"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
)

// TestSchemaRegistryEndToEnd: producers frame records in the Confluent
// wire format with an evolved writer schema (srfake is franz-go's
// in-memory registry, a test double); predictions are framed with the id
// the registry gave prediction.avsc; an unknown id is a dead letter.
func TestSchemaRegistryEndToEnd(t *testing.T) {
	fake := srfake.New()
	defer fake.Close()
	writer := `{"type":"record","name":"Transaction","namespace":"io.streamscore.events","fields":[
		{"name":"event_id","type":"string"},{"name":"customer_id","type":"string"},
		{"name":"event_time","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"amount","type":"float"},{"name":"hour","type":"int"},
		{"name":"promo_code","type":["null","string"],"default":null}]}`
	id, _, err := fake.RegisterSchema("transactions-value", sr.Schema{Schema: writer, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := goavro.NewCodec(writer)
	var h sr.ConfluentHeader
	addrs := testkafka.Cluster(t, topics()...)
	var recs []*kgo.Record
	for i := 0; i < 30; i++ {
		b, _ := h.AppendEncode(nil, id, nil)
		b, err = codec.BinaryFromNative(b, map[string]any{"event_id": "e" + string(rune('A'+i)), "customer_id": "c",
			"event_time": time.UnixMilli(1795787100000), "amount": float32(10 * i), "hour": int32(i % 24), "promo_code": nil})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: "transactions", Value: b})
	}
	unknown, _ := h.AppendEncode(nil, 4242, nil)
	recs = append(recs, &kgo.Record{Topic: "transactions", Key: []byte("unknown"), Value: append(unknown, 0, 0)})
	testkafka.Produce(t, addrs, recs...)

	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "avro-confluent", "OUTPUT_ENCODING": "avro-confluent", "SCHEMA_REGISTRY_URL": fake.URL(),
		"MODEL_PATH": fraudModel, "BATCH_INTERVAL": "20ms"})
	_, stop := runFor(t, cfg)
	preds := testkafka.ReadN(t, addrs, "predictions", 30, 30*time.Second)
	dead := testkafka.ReadN(t, addrs, "predictions-dlq", 1, 10*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !fake.SubjectExists("predictions-value") {
		t.Error("prediction schema not registered under predictions-value")
	}
	reg, _ := schemas.NewRegistry(fake.URL(), "", "")
	dec := schemas.NewConfluentPredictionDecoder(reg)
	if len(preds) != 30 {
		t.Fatalf("%d predictions", len(preds))
	}
	for _, r := range preds {
		p, err := dec.Decode(r.Value)
		if err != nil || !strings.HasPrefix(p.EventID, "e") || p.ModelName != "xgb_fraud" {
			t.Fatalf("prediction %+v, %v", p, err)
		}
	}
	if len(dead) != 1 || string(dead[0].Key) != "unknown" {
		t.Fatalf("dead letters %v", dead)
	}
	reason, found := "", false
	for _, hd := range dead[0].Headers {
		if hd.Key == producer.HeaderError {
			reason, found = string(hd.Value), true
		}
	}
	if !found || !strings.Contains(reason, "schema id 4242") {
		t.Errorf("dead letter reason %q (header %s present: %v)", reason, producer.HeaderError, found)
	}
}

// TestSchemaRegistryOutage: the registry stops answering schema lookups
// (503) before the first record is decoded. No record becomes a dead
// letter: the service waits, unready with the reason; a shutdown meanwhile
// commits nothing past the waiting records. Once the registry answers,
// every event is predicted (exactly once under exactly-once).
func TestSchemaRegistryOutage(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			reg := testregistry.New(t)
			reg.Down.Store(true)
			addrs := testkafka.Cluster(t, topics()...)
			const n = 40
			recs, ids := reg.Transactions(t, "e", n, time.UnixMilli(1795787100000))
			testkafka.Produce(t, addrs, recs...)
			cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
				"INPUT_ENCODING": "avro-confluent", "OUTPUT_ENCODING": "json", "SCHEMA_REGISTRY_URL": reg.URL(),
				"MODEL_PATH": fraudModel, "BATCH_INTERVAL": "20ms", "COMMIT_INTERVAL": "50ms", "DELIVERY": delivery,
				"SHUTDOWN_TIMEOUT": "5s"})

			// A first run stops during the outage.
			p, stop := start(t, cfg, slog.New(slog.DiscardHandler))
			waitReason(t, p, "schema registry unavailable")
			if err := stop(); err != nil {
				t.Fatalf("shutdown during the outage: %v", err)
			}
			// The records are unkeyed: they land on any of the partitions, so
			// every partition is checked, and the check covers them all.
			committed := testkafka.Committed(t, addrs, cfg.GroupID)
			stored := int64(0)
			testkafka.EndOffsets(t, addrs, "transactions").Each(func(o kadm.ListedOffset) {
				stored += o.Offset
				if c, ok := committed.Lookup("transactions", o.Partition); ok && c.At > 0 {
					t.Errorf("transactions[%d]: committed %d of %d while no record could be decoded", o.Partition, c.At, o.Offset)
				}
			})
			if stored != n {
				t.Fatalf("the partitions hold %d records, want %d", stored, n)
			}
			if s := p.Stats(); s.DeadLetters.Load() != 0 || s.Predictions.Load() != 0 {
				t.Fatalf("during the outage: %d predictions, %d dead letters", s.Predictions.Load(), s.DeadLetters.Load())
			}

			// A second run sees the registry come back.
			p, stop = start(t, cfg, slog.New(slog.DiscardHandler))
			waitReason(t, p, "schema registry unavailable")
			reg.Down.Store(false)
			var readOpts []kgo.Opt
			if delivery == "exactly-once" {
				readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			}
			preds := testkafka.ReadN(t, addrs, "predictions", n, 30*time.Second, readOpts...)
			waitFor(t, func() bool { ok, _ := p.Ready(); return ok }, "ready once the registry answers")
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			checkEventIDs(t, predictionCounts(t, preds), ids, delivery == "exactly-once")
			if dead := p.Stats().DeadLetters.Load(); dead != 0 {
				t.Fatalf("%d dead letters", dead)
			}
		})
	}
}

package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/streamscore/streamscore/internal/testkafka"
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
	for _, hd := range dead[0].Headers {
		if hd.Key == producer.HeaderError && !strings.Contains(string(hd.Value), "schema id 4242") {
			t.Errorf("dead letter reason %q", hd.Value)
		}
	}
}

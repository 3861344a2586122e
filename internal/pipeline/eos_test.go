package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// TestExactlyOnce: with DELIVERY=exactly-once, a read_committed reader sees
// exactly one prediction or dead letter per input, across a restart.
func TestExactlyOnce(t *testing.T) {
	addrs := testkafka.Cluster(t, topics()...)
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 500, want)
	testkafka.Produce(t, addrs, &kgo.Record{Topic: "transactions", Key: []byte("bad"), Value: []byte("not json")})
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "DELIVERY": "exactly-once",
		"BATCH_MAX_SIZE": "50", "KAFKA_GROUP_INSTANCE_ID": "eos-0"})
	committed := kgo.FetchIsolationLevel(kgo.ReadCommitted())
	p, stop := runFor(t, cfg)
	testkafka.ReadN(t, addrs, "predictions", 200, 30*time.Second, committed)
	if err := stop(); err != nil { // a restart in the middle
		t.Fatal(err)
	}
	first := p.Stats().Predictions.Load()
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 1000, 100, want)
	_, stop = runFor(t, cfg)
	preds := testkafka.ReadN(t, addrs, "predictions", len(want), 30*time.Second, committed)
	dead := testkafka.ReadN(t, addrs, "predictions-dlq", 1, 5*time.Second, committed)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	seen := map[string]bool{}
	for _, r := range preds {
		pr, _ := dec.Decode(r.Value)
		if seen[pr.EventID] {
			t.Fatalf("%s delivered twice", pr.EventID)
		}
		seen[pr.EventID] = true
	}
	if len(seen) != len(want) || len(dead) != 1 {
		t.Fatalf("%d predictions for %d events, %d dead letters", len(seen), len(want), len(dead))
	}
	checkCommittedAtEnd(t, addrs, cfg.GroupID)
	t.Logf("%d events, first run %d predictions, then restart: %d committed predictions, no duplicates", len(want), first, len(preds))
}

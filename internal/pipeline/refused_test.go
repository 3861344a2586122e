package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
)

// TestRefusedPrediction: the predictions topic has max.message.bytes=4096
// and one event's customer id is 6000 bytes, so its prediction (keyed by
// the entity) is too large. That one event becomes a dead letter with
// stage produce; the events batched around it are predicted, in both
// delivery modes (exactly once under exactly-once), and the offsets are
// committed to the end.
func TestRefusedPrediction(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2},
				testkafka.Topic{Name: "activity", Partitions: 1}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
			adm := kadm.NewClient(testkafka.Client(t, addrs))
			limit := "4096"
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := adm.CreateTopic(ctx, 2, -1, map[string]*string{"max.message.bytes": &limit}, "predictions"); err != nil {
				t.Fatal(err)
			}
			want := map[string]sent{}
			produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 150, want)
			id := randomID(6000)
			huge := &kgo.Record{Topic: "transactions", Partition: 0, Key: []byte("huge"),
				Value: []byte(`{"event_id":"huge","customer_id":"` + id + `","event_time":1795787100000,"amount":5}`)}
			testkafka.Produce(t, addrs, huge)
			produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 1000, 150, want)
			cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
				"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "BATCH_INTERVAL": "20ms",
				"BATCH_MAX_SIZE": "500", "COMMIT_INTERVAL": "50ms", "DELIVERY": delivery})
			var readOpts []kgo.Opt
			if delivery == "exactly-once" {
				readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			}
			p, stop := runFor(t, cfg)
			preds := readAllEvents(t, addrs, want, readOpts...)
			dead := testkafka.ReadN(t, addrs, "predictions-dlq", 1, 15*time.Second, readOpts...)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			seen := predictedEvents(preds)
			for id := range want {
				if seen[id] == 0 || delivery == "exactly-once" && seen[id] != 1 {
					t.Fatalf("%s: %d predictions", id, seen[id])
				}
			}
			if len(dead) != 1 || string(dead[0].Key) != "huge" || string(dead[0].Value) != string(huge.Value) {
				t.Fatalf("want exactly the oversized event dead-lettered, unchanged; got %d dead letters", len(dead))
			}
			h := map[string]string{}
			for _, x := range dead[0].Headers {
				h[x.Key] = string(x.Value)
			}
			if h[producer.HeaderStage] != producer.StageProduce || !strings.Contains(h[producer.HeaderError], "MESSAGE_TOO_LARGE") {
				t.Fatalf("dead letter headers %v", h)
			}
			if n := p.Stats().DeadLetters.Load(); n != 1 {
				t.Errorf("%d dead letters counted, want 1", n)
			}
			checkCommittedAtEnd(t, addrs, cfg.GroupID)
			t.Logf("%d events predicted, the oversized one dead-lettered: %q; %d predictions, %d dead letters counted",
				len(want), h[producer.HeaderError], p.Stats().Predictions.Load(), p.Stats().DeadLetters.Load())
		})
	}
}

package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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
	// The restart must come in the middle of the stream: the first run
	// committed some of the input, not all of it, and exactly the records
	// it published outputs for (each transaction commits its own input).
	first := p.Stats().Predictions.Load()
	firstOut := first + p.Stats().DeadLetters.Load()
	var committedIn int64
	commits := testkafka.Committed(t, addrs, cfg.GroupID)
	testkafka.EndOffsets(t, addrs, "transactions").Each(func(o kadm.ListedOffset) {
		if c, ok := commits.Lookup("transactions", o.Partition); ok && c.At > 0 {
			committedIn += c.At
		}
	})
	if first < 200 || committedIn >= 501 || committedIn != firstOut {
		t.Fatalf("first run: %d predictions and %d dead letters, %d of 501 input records committed: not a restart mid-stream",
			first, firstOut-first, committedIn)
	}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 1000, 100, want)
	_, stop = runFor(t, cfg)
	preds := testkafka.ReadN(t, addrs, "predictions", len(want), 30*time.Second, committed)
	dead := testkafka.ReadN(t, addrs, "predictions-dlq", 1, 5*time.Second, committed)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	checkEventIDs(t, predictionCounts(t, preds), ids, true)
	if len(preds) != len(want) || len(dead) != 1 || string(dead[0].Key) != "bad" || string(dead[0].Value) != "not json" {
		t.Fatalf("%d predictions for %d events, dead letters %v", len(preds), len(want), dead)
	}
	checkCommittedAtEnd(t, addrs, cfg.GroupID)
	t.Logf("%d events, first run %d predictions, then restart: %d committed predictions, no duplicates", len(want), first, len(preds))
}

// TestExactlyOnceStopHandsPartitionsOn: an exactly-once member is static
// (its instance id defaults to its transactional id), and a static member
// that closes stays in the group until its session times out. Without a
// configured KAFKA_GROUP_INSTANCE_ID a stopped instance is taken out of the
// group, so the other instance takes its partitions over at once, not
// after the session timeout (30 s here).
func TestExactlyOnceStopHandsPartitionsOn(t *testing.T) {
	addrs := testkafka.Cluster(t, topics()...)
	env := map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "DELIVERY": "exactly-once",
		"BATCH_MAX_SIZE": "50", "SHUTDOWN_TIMEOUT": "5s"}
	opts := append(testkafka.ClientOpts(), kgo.SessionTimeout(30*time.Second), kgo.HeartbeatInterval(300*time.Millisecond))
	member := func(txid string) func() error {
		env["KAFKA_TRANSACTIONAL_ID"] = txid // two instances on one host need their own
		cfg := loadConfig(t, env)
		ctx, cancel := context.WithCancel(context.Background())
		p, err := New(ctx, cfg, WithKafkaOptions(opts...))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		return func() error { cancel(); return <-done }
	}
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 300, want)
	stopA := member("eos-a")
	stopB := member("eos-b")
	defer stopB()
	committed := kgo.FetchIsolationLevel(kgo.ReadCommitted())
	testkafka.ReadN(t, addrs, "predictions", len(want), 20*time.Second, committed)
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 1000, 300, want) // on every partition
	preds := testkafka.ReadN(t, addrs, "predictions", len(want), 10*time.Second, committed)
	took := time.Since(stopped)
	if len(preds) < len(want) {
		t.Fatalf("10 s after one of two instances stopped, %d of %d events have a prediction: its partitions were not taken over",
			len(preds), len(want))
	}
	t.Logf("one of two instances stopped: the other took its partitions over, %d predictions %v later", len(preds), took.Round(100*time.Millisecond))
}

package pipeline

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// TestOutputTopicRecreatedMidStream: the predictions topic is deleted
// after a third of the events and recreated a few seconds later while the
// stream goes on. A destination that fails is never a record's fault:
// nothing is dead-lettered, the service is unready meanwhile, and once the
// topic is back every later event is predicted (exactly once under
// exactly-once) and the offsets are committed to the end — in both
// delivery modes.
func TestOutputTopicRecreatedMidStream(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			addrs := testkafka.Cluster(t, topics()...)
			cfg := testConfig(t, addrs, "json")
			cfg.InputTopics, cfg.Delivery = []string{"transactions"}, delivery
			var readOpts []kgo.Opt
			if delivery == "exactly-once" {
				readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			}
			first := map[string]sent{}
			produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 1000, first)
			p, stop := startReady(t, cfg, slog.New(slog.DiscardHandler))
			if got := readAllEvents(t, addrs, first, readOpts...); len(got) < len(first) {
				t.Fatalf("%d of %d predictions before the topic is deleted", len(got), len(first))
			}
			adm := kadm.NewClient(testkafka.Client(t, addrs))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if _, err := adm.DeleteTopic(ctx, "predictions"); err != nil {
				t.Fatal(err)
			}
			rest := map[string]sent{}
			produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 1000, 2000, rest)
			waitFor(t, func() bool { ok, _ := p.Ready(); return !ok }, "unready while the predictions topic is gone")
			time.Sleep(2 * time.Second)
			if _, err := adm.CreateTopic(ctx, 3, -1, nil, "predictions"); err != nil {
				t.Fatal(err)
			}
			got := predictedEvents(readAllEvents(t, addrs, rest, readOpts...))
			waitFor(t, func() bool {
				ok, reason := p.Ready()
				if !ok {
					t.Logf("not ready: %s (%d of %d later events predicted)", reason, len(got), len(rest))
				}
				return ok
			}, "ready again")
			if err := stop(); err != nil {
				t.Fatalf("drain: %v", err)
			}
			if dead := testkafka.ReadN(t, addrs, "predictions-dlq", 1, time.Second, readOpts...); len(dead) != 0 {
				t.Fatalf("%d good events dead-lettered", len(dead))
			}
			for id := range rest {
				n := got[id]
				if n == 0 || delivery == "exactly-once" && n != 1 {
					t.Fatalf("event %s: %d predictions after the topic came back (of %d events, %d predicted)", id, n, len(rest), len(got))
				}
			}
			checkCommittedAtEnd(t, addrs, cfg.GroupID)
		})
	}
}

package pipeline

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// TestEntityMergeKnowsEmptyPartitions: the input topics are empty when
// the service starts, and ENTITY_MAX_IDLE is a minute. franz-go hands
// over no fetch response in which no partition has records, so no fetch
// ever tells the event-time merge that the empty activity partitions are
// caught up; the merge learns it at assignment. An event produced once
// the service is ready (and its first fetches came back empty) is
// predicted within seconds, not after the minute. So is one whose
// transaction aborted, after which the lanes no longer know where the
// partitions stand (its prediction is too large for the predictions
// topic: it becomes a dead letter when its records are scored again; the
// fetch that brings them again tells the merge about the others).
func TestEntityMergeKnowsEmptyPartitions(t *testing.T) {
	for _, tc := range []struct {
		name, delivery string
		abort          bool
	}{
		{"at-least-once", "at-least-once", false},
		{"exactly-once", "exactly-once", false},
		{"exactly-once after an abort", "exactly-once", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topics := entityTopics()
			if tc.abort {
				topics = topics[:2] // predictions made with a size limit below
			}
			addrs := testkafka.Cluster(t, topics...)
			if tc.abort {
				adm := kadm.NewClient(testkafka.Client(t, addrs))
				limit := "4096"
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := adm.CreateTopic(ctx, 3, -1, map[string]*string{"max.message.bytes": &limit}, "predictions"); err != nil {
					t.Fatal(err)
				}
				if _, err := adm.CreateTopic(ctx, 1, -1, nil, "predictions-dlq"); err != nil {
					t.Fatal(err)
				}
			}
			cfg, sc := entityConfig(t, addrs, tc.delivery)
			cfg.EntityMaxIdle = time.Minute
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var fetched fetchCount
			p, err := New(ctx, cfg, WithKafkaOptions(append(testkafka.ClientOpts(), kgo.WithHooks(&fetched))...), WithScorer(sc))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("drain: %v", err)
				}
			})
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if ok, _ := p.Ready(); ok {
					break
				}
				if time.Now().After(deadline) {
					_, why := p.Ready()
					t.Fatalf("not ready after 30 s: %s", why)
				}
			}
			// Two fetch responses more: the first fetch of the partitions has
			// come back (empty) before the events are produced.
			for n, deadline := fetched.Load()+2, time.Now().Add(10*time.Second); fetched.Load() < n; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no fetch response for 10 s")
				}
			}
			var readOpts []kgo.Opt
			if tc.delivery == "exactly-once" {
				readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			}
			ev := entitytest.Log(3, 1)[0]
			ev.Kind = schemas.Transaction
			start := time.Now()
			if tc.abort {
				huge := ev
				huge.ID, huge.Entity = "huge", randomID(6000) // keyed by the entity: too large a prediction
				entitytest.Produce(t, addrs, []entitytest.Event{huge})
				if got := testkafka.ReadN(t, addrs, "predictions-dlq", 1, 20*time.Second, readOpts...); len(got) != 1 {
					t.Fatalf("%d dead letters within 20 s of the event, want 1", len(got))
				}
				t.Logf("aborted, and the event dead-lettered after %v", time.Since(start).Round(time.Millisecond))
				start = time.Now()
			}
			entitytest.Produce(t, addrs, []entitytest.Event{ev})
			if got := testkafka.ReadN(t, addrs, "predictions", 1, 20*time.Second, readOpts...); len(got) != 1 {
				t.Fatalf("%d predictions within 20 s of the event, want 1", len(got))
			}
			t.Logf("predicted %v after it was produced", time.Since(start).Round(time.Millisecond))
		})
	}
}

// fetchCount counts the fetch responses the clients read.
type fetchCount struct{ atomic.Int64 }

func (f *fetchCount) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 1 && err == nil { // Fetch
		f.Add(1)
	}
}

// randomID is n random letters (the broker measures compressed batches).
func randomID(n int) string {
	id := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range id {
		id[i] = 'a' + byte(rng.IntN(26))
	}
	return string(id)
}

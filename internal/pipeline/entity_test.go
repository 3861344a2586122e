package pipeline

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

func entityConfig(t *testing.T, addrs []string, delivery string) (config.Config, *scoring.Scorer) {
	t.Helper()
	cfg := testConfig(t, addrs, "json")
	cfg.Delivery, cfg.PredictionFeatures = delivery, true
	return cfg, entitytest.Scorer(t)
}

// checkEntityFeatures compares every prediction's features with the
// reference; each event must have at least one prediction (exactly one
// under exactly-once).
func checkEntityFeatures(t *testing.T, log []entitytest.Event, preds []*kgo.Record, once bool) {
	t.Helper()
	byID := map[string]entitytest.Event{}
	for _, e := range log {
		byID[e.ID] = e
	}
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	seen := map[string]int{}
	bad := 0
	for _, r := range preds {
		p, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatalf("decode prediction: %v", err)
		}
		e, ok := byID[p.EventID]
		if !ok {
			t.Fatalf("prediction for unknown event %q", p.EventID)
		}
		seen[p.EventID]++
		if p.Features == nil {
			t.Fatalf("%s: no features in the prediction", p.EventID)
		}
		if !slices.Equal(p.Features.Names, entitytest.Names) {
			t.Fatalf("%s: features %v, want %v", p.EventID, p.Features.Names, entitytest.Names)
		}
		for _, d := range entitytest.Diff(log, e, p.Features.Values) {
			if bad++; bad < 10 {
				t.Error(d)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d feature values differ from the reference", bad)
	}
	for _, e := range log {
		if n := seen[e.ID]; n == 0 || once && n != 1 {
			t.Fatalf("event %s: %d predictions", e.ID, n)
		}
	}
}

func entityTopics() []testkafka.Topic {
	return []testkafka.Topic{{Name: "transactions", Partitions: 3}, {Name: "activity", Partitions: 3},
		{Name: "predictions", Partitions: 3}, {Name: "predictions-dlq", Partitions: 1}}
}

// TestEntityFeaturesMatchTheReference: a log of both kinds through `run`
// in both delivery modes, stopped and restarted in the middle (the second
// run rebuilds the state from the topics): every prediction's features
// equal the brute-force reference.
func TestEntityFeaturesMatchTheReference(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			addrs := testkafka.Cluster(t, entityTopics()...)
			log := entitytest.Log(7, 1200)
			half := len(log) / 2
			entitytest.Produce(t, addrs, log[:half])
			cfg, sc := entityConfig(t, addrs, delivery)
			var readOpts []kgo.Opt
			if delivery == "exactly-once" {
				readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			}
			run := func(n int) []*kgo.Record {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithScorer(sc))
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- p.Run(ctx) }()
				recs := testkafka.ReadN(t, addrs, "predictions", n, 60*time.Second, readOpts...)
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("drain: %v", err)
				}
				return recs
			}
			run(half)
			entitytest.Produce(t, addrs, log[half:])
			preds := run(len(log))
			checkEntityFeatures(t, log, preds, delivery == "exactly-once")
		})
	}
}

// TestEntityFeaturesThroughRebalance: one member starts alone, two more
// join mid-stream and one of them leaves later, in both delivery modes;
// each rebalance moves partitions, whose new owner rebuilds their state
// from the topics. Every prediction's features equal the reference.
func TestEntityFeaturesThroughRebalance(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			addrs := testkafka.Cluster(t, entityTopics()...)
			log := entitytest.Log(11, 1500)
			third := len(log) / 3
			cfg, sc := entityConfig(t, addrs, delivery)
			var readOpts []kgo.Opt
			if delivery == "exactly-once" {
				readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			}
			start := func(name string) (stop func()) {
				c := cfg
				c.TransactionalID, c.GroupInstanceID = "streamscore-"+name, ""
				ctx, cancel := context.WithCancel(context.Background())
				p, err := New(ctx, c, WithKafkaOptions(testkafka.ClientOpts()...), WithScorer(sc))
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- p.Run(ctx) }()
				var once bool
				stop = func() {
					if once {
						return
					}
					once = true
					cancel()
					if err := <-done; err != nil {
						t.Errorf("member %s: drain: %v", name, err)
					}
				}
				t.Cleanup(stop)
				return stop
			}
			entitytest.Produce(t, addrs, log[:third])
			start("a")
			testkafka.ReadN(t, addrs, "predictions", third, 60*time.Second, readOpts...)
			entitytest.ProduceInOrder(t, addrs, log[third:2*third])
			stopB := start("b")
			start("c")
			testkafka.ReadN(t, addrs, "predictions", 2*third, 60*time.Second, readOpts...)
			entitytest.ProduceInOrder(t, addrs, log[2*third:])
			stopB()
			preds := testkafka.ReadN(t, addrs, "predictions", len(log), 90*time.Second, readOpts...)
			checkEntityFeatures(t, log, preds, delivery == "exactly-once")
		})
	}
}

// TestEntityFetchShare: with entity aggregates, the consumer of either
// delivery gives each input partition an equal share of a fetch and
// returns a fetch that finds nothing within 50 ms, so that a partition an
// event-time merge waits for is fetched soon (exactly-once made its
// client before it knew the partition counts, and had neither).
func TestEntityFetchShare(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			addrs := testkafka.Cluster(t, entityTopics()...)
			cfg, sc := entityConfig(t, addrs, delivery)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithScorer(sc))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cancel(); _ = p.Run(ctx) }) // closes the clients
			var cl *kgo.Client
			switch r := p.runner.(type) {
			case *atLeastOnce:
				cl = r.group.Client()
			case *exactlyOnce:
				cl = r.sess.Client()
			}
			want := max(fetchMaxBytes(cfg)/6, 64<<10) // 3 + 3 input partitions
			if got := cl.OptValue(kgo.FetchMaxPartitionBytes); got != want {
				t.Errorf("FetchMaxPartitionBytes %v, want %d", got, want)
			}
			if got := cl.OptValue(kgo.FetchMaxWait); got != 50*time.Millisecond {
				t.Errorf("FetchMaxWait %v, want 50ms", got)
			}
		})
	}
}

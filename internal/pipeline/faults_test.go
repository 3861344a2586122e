package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// TestFaults injects broker faults while events stream; in every case each
// event gets its prediction (exactly one per event under exactly-once, as a
// read_committed reader sees it) and the committed offsets end at the end
// offsets.
func TestFaults(t *testing.T) {
	tests := []struct {
		name     string
		brokers  int
		delivery string
		inject   func(c *kfake.Cluster) // before the run
		during   func(c *kfake.Cluster) // once predictions flow
	}{
		{name: "produce errors", inject: func(c *kfake.Cluster) {
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "predictions", Err: kerr.NotLeaderForPartition, Count: 20})
		}},
		{name: "dead-letter produce errors", inject: func(c *kfake.Cluster) {
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "predictions-dlq", Err: kerr.RequestTimedOut, Count: 5})
		}},
		// (NOT_LEADER without a leadership change would make the client
		// wait for a new leader epoch that never comes; real leader changes
		// are the "leader moves" case.)
		{name: "fetch errors", inject: func(c *kfake.Cluster) {
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: "transactions", Err: kerr.UnknownServerError, Count: 20})
		}},
		{name: "list offsets errors", inject: func(c *kfake.Cluster) {
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Err: kerr.LeaderNotAvailable, Count: 5})
		}},
		{name: "commit errors", inject: func(c *kfake.Cluster) {
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.NotCoordinator, Count: 5})
		}},
		{name: "dropped connections", inject: func(c *kfake.Cluster) {
			var n atomic.Int32
			c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
				if n.Add(1) <= 5 {
					c.KeepControl()
					return nil, errors.New("connection dropped by the test"), true
				}
				return nil, nil, false
			})
		}},
		{name: "leader moves", brokers: 3, during: func(c *kfake.Cluster) {
			for p := int32(0); p < 3; p++ {
				c.MoveTopicPartition("transactions", p, (c.LeaderFor("transactions", p)+1)%3)
				c.MoveTopicPartition("predictions", p, (c.LeaderFor("predictions", p)+1)%3)
			}
		}},
		{name: "coordinator moves", brokers: 3, during: func(c *kfake.Cluster) { c.RehashCoordinators() }},
		{name: "exactly-once, produce errors", delivery: "exactly-once", inject: func(c *kfake.Cluster) {
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "predictions", Err: kerr.NotLeaderForPartition, Count: 10})
		}},
		{name: "exactly-once, transaction coordinator errors", delivery: "exactly-once", inject: func(c *kfake.Cluster) {
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.AddPartitionsToTxn}, Err: kerr.ConcurrentTransactions, Count: 5})
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.ConcurrentTransactions, Count: 3})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, addrs := testkafka.ClusterWith(t, []kfake.Opt{kfake.NumBrokers(max(tt.brokers, 1))}, topics()...)
			want := map[string]sent{}
			produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 1500, want)
			testkafka.Produce(t, addrs, &kgo.Record{Topic: "transactions", Key: []byte("bad"), Value: []byte("garbage")})
			delivery := tt.delivery
			if delivery == "" {
				delivery = "at-least-once"
			}
			cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
				"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "BATCH_INTERVAL": "20ms",
				"BATCH_MAX_SIZE": "100", "COMMIT_INTERVAL": "50ms", "DELIVERY": delivery})
			if tt.inject != nil {
				tt.inject(c)
			}
			p, stop := runFor(t, cfg)
			if tt.during != nil {
				deadline := time.Now().Add(20 * time.Second)
				for p.Stats().Predictions.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				tt.during(c)
			}
			var readOpts []kgo.Opt
			if delivery == "exactly-once" {
				readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			}
			preds := readAllEvents(t, addrs, want, readOpts...)
			dead := testkafka.ReadN(t, addrs, "predictions-dlq", 1, 10*time.Second, readOpts...)
			if err := stop(); err != nil {
				t.Fatalf("drain: %v", err)
			}
			seen := predictedEvents(preds)
			for id := range want {
				if seen[id] == 0 {
					t.Fatalf("%s has no prediction (%d of %d predicted)", id, len(seen), len(want))
				}
				if delivery == "exactly-once" && seen[id] > 1 {
					t.Fatalf("%s delivered %d times under exactly-once", id, seen[id])
				}
			}
			if len(dead) < 1 {
				t.Error("the malformed record has no dead letter")
			}
			checkCommittedAtEnd(t, addrs, cfg.GroupID)
			t.Logf("%d events: %d predictions (%d duplicates)", len(want), len(preds), len(preds)-len(want))
		})
	}
}

// predictedEvents counts JSON prediction records per event id.
func predictedEvents(preds []*kgo.Record) map[string]int {
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	seen := map[string]int{}
	for _, r := range preds {
		pr, _ := dec.Decode(r.Value) // an undecodable record counts under ""
		seen[pr.EventID]++
	}
	return seen
}

// readAllEvents reads predictions until every wanted event has one (or 45s
// pass), then briefly for stragglers. Unlike ReadN it counts events, not
// records: with duplicates, n records may hold fewer than n events.
func readAllEvents(t *testing.T, addrs []string, want map[string]sent, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := testkafka.Client(t, addrs, append([]kgo.Opt{kgo.ConsumeTopics("predictions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	seen := map[string]bool{}
	var out []*kgo.Record
	for len(seen) < len(want) && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			if p, err := dec.Decode(r.Value); err == nil && want[p.EventID].row != nil {
				seen[p.EventID] = true
			}
		})
	}
	extra, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	out = append(out, cl.PollFetches(extra).Records()...)
	return out
}

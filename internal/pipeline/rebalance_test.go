package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/testkafka"
)

// TestRebalanceLosesNothing: three members join and leave while 100k
// events stream. Every event gets a prediction, and no partition's
// committed offset ever moves backwards at the broker (a late commit from a
// member that lost the partition would move it back over records the new
// owner had already committed).
func TestRebalanceLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Log("shortened: 20k events with -short")
	}
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	c, addrs := testkafka.ClusterHandle(t, testkafka.Topic{Name: "transactions", Partitions: 6},
		testkafka.Topic{Name: "predictions", Partitions: 6}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	type commit struct {
		partition int32
		offset    int64
	}
	var mu sync.Mutex
	var commits []commit
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.OffsetCommitRequest)
		mu.Lock()
		for _, tp := range r.Topics {
			for _, p := range tp.Partitions {
				commits = append(commits, commit{p.Partition, p.Offset})
			}
		}
		mu.Unlock()
		return nil, nil, false // kfake handles it; we only watch
	})

	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "BATCH_INTERVAL": "20ms",
		"BATCH_MAX_SIZE": "200", "COMMIT_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s"})
	member := func() (*Pipeline, func() error) {
		ctx, cancel := context.WithCancel(context.Background())
		p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		return p, func() error { cancel(); return <-done }
	}

	// events stream in the background for the whole dance
	prod := testkafka.Client(t, addrs, kgo.ProducerLinger(5*time.Millisecond))
	produced := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := 0; i < n; i += 1000 {
			var recs []*kgo.Record
			for j := i; j < i+1000 && j < n; j++ {
				recs = append(recs, &kgo.Record{Topic: "transactions", Key: []byte(fmt.Sprintf("c%d", j%101)),
					Value: []byte(fmt.Sprintf(`{"event_id":"e%d","customer_id":"c%d","event_time":0,"amount":%d}`, j, j%101, j%300))})
			}
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				produced <- err
				return
			}
			time.Sleep(30 * time.Millisecond)
		}
		produced <- nil
	}()
	_, stopA := member()
	time.Sleep(500 * time.Millisecond)
	_, stopB := member()
	time.Sleep(500 * time.Millisecond)
	_, stopC := member()
	time.Sleep(700 * time.Millisecond)
	if err := stopB(); err != nil {
		t.Errorf("B: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := stopA(); err != nil {
		t.Errorf("A: %v", err)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for j := range ids {
		ids[j] = fmt.Sprintf("e%d", j)
	}
	seen := readEvents(t, addrs, ids, 90*time.Second)
	if err := stopC(); err != nil {
		t.Errorf("C: %v", err)
	}
	checkEventIDs(t, seen, ids, false)
	preds := 0
	for _, k := range seen {
		preds += k
	}
	mu.Lock()
	defer mu.Unlock()
	last := map[int32]int64{}
	for i, cm := range commits {
		if prev, ok := last[cm.partition]; ok && cm.offset < prev {
			t.Fatalf("commit %d: partition %d moved back from %d to %d", i, cm.partition, prev, cm.offset)
		}
		last[cm.partition] = cm.offset
	}
	checkCommittedAtEnd(t, addrs, cfg.GroupID)
	t.Logf("%d events, 3 members joining and leaving: %d predictions (%d duplicates), %d commits observed, none backwards",
		n, preds, preds-n, len(commits))
}

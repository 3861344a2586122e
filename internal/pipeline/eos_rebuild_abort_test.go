package pipeline

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/internal/testkafka"
)

// TestExactlyOnceAbortsDuringRebuild: a second exactly-once instance
// starts on committed history, and its entity-state rebuild is held (the
// rebuild's ListOffsets by time is not answered) until three of its
// transactions have aborted because the state was still being rebuilt,
// with more events arriving meanwhile. Every aborted transaction's records
// were fetched and pushed to the lanes; after the rebuild the lanes score
// what the session fetches again from the committed offsets. Every event
// must then have exactly one committed prediction (read_committed), with
// the reference features: nothing buffered before an abort is scored
// alongside its fetched-again copy, and nothing is skipped.
func TestExactlyOnceAbortsDuringRebuild(t *testing.T) {
	c, addrs := testkafka.ClusterHandle(t, entityTopics()...)
	log := entitytest.Log(13, 1500)
	first, second := len(log)/3, 2*len(log)/3
	cfg, sc := entityConfig(t, addrs, "exactly-once")
	committed := kgo.FetchIsolationLevel(kgo.ReadCommitted())
	run := func(l *slog.Logger) (*Pipeline, func()) {
		p, stop := start(t, cfg, l, WithScorer(sc))
		return p, func() {
			if err := stop(); err != nil {
				t.Errorf("drain: %v", err)
			}
		}
	}

	// The first instance commits the first third: the second has history
	// to rebuild.
	entitytest.Produce(t, addrs, log[:first])
	_, stop := run(slog.New(slog.DiscardHandler))
	testkafka.ReadN(t, addrs, "predictions", first, 60*time.Second, committed)
	stop()

	// Hold the rebuild: it looks up the offset of a time (ListOffsets with
	// a timestamp); the live consumer starts from committed offsets and
	// asks for none.
	release := make(chan struct{})
	var held sync.Once
	heldCh := make(chan struct{})
	c.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, tp := range req.(*kmsg.ListOffsetsRequest).Topics {
			for _, part := range tp.Partitions {
				if part.Timestamp >= 0 {
					held.Do(func() { close(heldCh) })
					c.SleepControl(func() { <-release })
					return nil, nil, false
				}
			}
		}
		return nil, nil, false
	})
	var logs syncBuffer
	entitytest.Produce(t, addrs, log[first:second])
	p, stop := run(slog.New(slog.NewTextHandler(&logs, nil)))
	aborts := func() int {
		n := 0
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "transaction aborted") && strings.Contains(line, "still being rebuilt") {
				n++
			}
		}
		return n
	}
	waitFor(t, func() bool { return aborts() >= 1 }, "a transaction aborted during the rebuild")
	entitytest.Produce(t, addrs, log[second:]) // arrives while the rebuild is held
	waitFor(t, func() bool { return aborts() >= 3 }, "three transactions aborted during the rebuild")
	select {
	case <-heldCh:
	default:
		t.Fatal("the rebuild never asked for the offset of a time")
	}
	close(release)
	preds := testkafka.ReadN(t, addrs, "predictions", len(log), 60*time.Second, committed)
	stop()
	if extra := testkafka.ReadN(t, addrs, "predictions", len(log)+1, 2*time.Second, committed); len(extra) != len(log) {
		t.Fatalf("%d committed predictions for %d events", len(extra), len(log))
	}
	checkEntityFeatures(t, log, preds, true)
	// Every prediction the lanes handed to the producer was counted with a
	// committed transaction, one per record consumed: a record of an
	// aborted transaction scored after the rebuild, between transactions,
	// is refused by the client (not in a transaction) and shows only here.
	if c, n := p.stats.Consumed.Load(), p.stats.Predictions.Load(); c != int64(len(log)-first) || n != c {
		t.Fatalf("the second instance consumed %d records and committed %d predictions; want %d of each", c, n, len(log)-first)
	}
	if strings.Contains(logs.String(), "not in a transaction") {
		t.Fatal("outputs were produced outside a transaction")
	}
	if !strings.Contains(logs.String(), "entity state rebuilt") {
		t.Fatal("the second instance's rebuild did not finish")
	}
	t.Logf("%d transactions aborted during the rebuild", aborts())
}

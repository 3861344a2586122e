package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/metrics"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// TestEndError: a transaction that cannot end stops the run with an error
// that keeps its cause and says what happened: fenced by another producer
// of the id, or refused by the brokers (both the end of the run), or
// unconfirmed (a transport error or a retriable code: errEndUnconfirmed,
// Run starts a new session).
func TestEndError(t *testing.T) {
	cfg := config.Config{GroupID: "g", GroupInstanceID: "i"}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{kerr.ProducerFenced, `another producer with transactional id "g-i" took over`},
		{kerr.InvalidProducerEpoch, "took over"},
		{errors.New("unable to dial: connection refused"), "end transaction of 7 records (transactional id \"g-i\"): the brokers did not confirm it"},
		{kerr.CoordinatorNotAvailable, "the brokers did not confirm it"},
		{kerr.TransactionalIDAuthorizationFailed, "end transaction of 7 records (transactional id \"g-i\"): TRANSACTIONAL_ID_AUTHORIZATION_FAILED"},
	} {
		err := endError(cfg, 7, tt.err)
		unconfirmed := strings.Contains(tt.want, "did not confirm")
		if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) || errors.Is(err, errEndUnconfirmed) != unconfirmed {
			t.Errorf("endError(%v) = %v; want it to wrap the cause and say %q", tt.err, err, tt.want)
		}
	}
}

// TestExactlyOnceRestartsAfterUnconfirmedEnd: when the brokers do not
// answer a transaction's end (here: its EndTxn requests fail until the
// client gives up, as when the broker restarts), the run goes on with a
// new session instead of stopping, and every event still has exactly one
// committed prediction.
func TestExactlyOnceRestartsAfterUnconfirmedEnd(t *testing.T) {
	const events = 2000
	c, addrs := testkafka.ClusterHandle(t, testkafka.Topic{Name: "transactions", Partitions: 3},
		testkafka.Topic{Name: "predictions", Partitions: 3}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, events, want)
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "DELIVERY": "exactly-once",
		"BATCH_MAX_SIZE": "200", "SHUTDOWN_TIMEOUT": "5s"})
	var failed atomic.Int32
	c.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if failed.Load() < 8 {
			failed.Add(1)
			return nil, errors.New("broker restarting"), true // the connection closes unanswered
		}
		return nil, nil, false
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := New(ctx, cfg, WithKafkaOptions(append(testkafka.ClientOpts(), kgo.RequestRetries(2),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))...))
	if err != nil {
		t.Fatal(err)
	}
	first := p.current()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	committed := kgo.FetchIsolationLevel(kgo.ReadCommitted())
	preds := testkafka.ReadN(t, addrs, "predictions", events, 30*time.Second, committed)
	select {
	case err := <-done:
		t.Fatalf("Run returned while the stream went on: %v", err)
	default:
	}
	if failed.Load() < 8 {
		t.Fatalf("only %d EndTxn requests failed: the end was never unconfirmed", failed.Load())
	}
	if e, ok := p.current().(*exactlyOnce); !ok || e == first {
		t.Fatal("the exactly-once session was not replaced")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after the drain: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	checkEventIDs(t, predictionCounts(t, preds), ids, true)
	if extra := testkafka.ReadN(t, addrs, "predictions", events+1, 2*time.Second, committed); len(extra) != events {
		t.Fatalf("%d committed predictions for %d events", len(extra), events)
	}
}

// TestCarriedFigures: across a change of source (a new exactly-once
// session's lanes), the counters carry on and the gauges are the new
// source's; the metrics are registered once.
func TestCarriedFigures(t *testing.T) {
	var c carried[metrics.EntityFigures]
	c.add = addEntityFigures
	registered := 0
	var read func() metrics.EntityFigures
	register := func(fn func() metrics.EntityFigures) { registered++; read = fn }
	c.set(func() metrics.EntityFigures {
		return metrics.EntityFigures{Bytes: 100, Late: 3, Replayed: 10, RebuildSeconds: 1.5}
	}, register)
	if f := read(); f.Bytes != 100 || f.Late != 3 || f.Replayed != 10 {
		t.Fatalf("first source: %+v", f)
	}
	c.set(func() metrics.EntityFigures { return metrics.EntityFigures{Bytes: 7, Late: 1, Evicted: 2} }, register)
	c.set(func() metrics.EntityFigures { return metrics.EntityFigures{Bytes: 9, Entities: 4, Late: 5} }, register)
	want := metrics.EntityFigures{Bytes: 9, Entities: 4, Late: 3 + 1 + 5, Evicted: 2, Replayed: 10, RebuildSeconds: 1.5}
	if f := read(); f != want || registered != 1 {
		t.Fatalf("after two changes: %+v (registered %d times), want %+v", f, registered, want)
	}
}

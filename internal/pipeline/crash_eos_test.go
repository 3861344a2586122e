package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// killSwitch is a dialer whose connections can all be cut at once, and no
// new one made: what the broker sees of a process killed with SIGKILL (the
// kernel closes its sockets; no LeaveGroup, no EndTxn is ever sent).
type killSwitch struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

var errKilled = errors.New("killed")

func (k *killSwitch) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errKilled
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

// dialed tells whether one of its connections has this local address.
func (k *killSwitch) dialed(addr string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range k.conns {
		if c.LocalAddr().String() == addr {
			return true
		}
	}
	return false
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// TestExactlyOnceSurvivesQuickKills is issue 16's crash check in process:
// 6,000 events and 60 malformed records on 3 partitions, six exactly-once
// instances with the same configuration (no KAFKA_GROUP_INSTANCE_ID) each
// killed 200 to 900 ms after it started, then one left to finish while
// 3,000 more events arrive. A killed instance's connections are cut (see
// killSwitch). The group timeouts are shorter than franz-go's defaults
// (session 5 s and rebalance 6 s, not 45 s and 60 s), and the last instance
// has 10 s, two session timeouts, to commit every output once.
//
// With dynamic members, the dead ones stay in the group, and kfake (the
// pinned version) neither expires a member whose JoinGroup answer went to a
// closed connection nor keeps alive a live member waiting in JoinGroup: the
// last instance is dropped from the group while it waits, its JoinGroup is
// never answered, and it consumes nothing until the request times out and
// a later rebalance completes.
func TestExactlyOnceSurvivesQuickKills(t *testing.T) {
	const events, malformed, later, kills = 6000, 60, 3000, 6
	_, addrs := testkafka.ClusterWith(t, []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500 * time.Millisecond)},
		testkafka.Topic{Name: "transactions", Partitions: 3}, testkafka.Topic{Name: "predictions", Partitions: 3},
		testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, events, want)
	var bad []*kgo.Record
	for i := range malformed {
		bad = append(bad, &kgo.Record{Topic: "transactions", Key: fmt.Appendf(nil, "bad%d", i), Value: []byte(`{"event_id": trunc`)})
	}
	testkafka.Produce(t, addrs, bad...)
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "DELIVERY": "exactly-once",
		"BATCH_INTERVAL": "20ms", "BATCH_MAX_SIZE": "200", "SHUTDOWN_TIMEOUT": "2s"})
	group := []kgo.Opt{kgo.SessionTimeout(5 * time.Second), kgo.RebalanceTimeout(6 * time.Second),
		kgo.HeartbeatInterval(300 * time.Millisecond), kgo.RequestTimeoutOverhead(2 * time.Second)}

	var stopped sync.WaitGroup
	var logs syncBuffer // the last instance's, with the Kafka client's debug log
	instance := func(ks *killSwitch, log *slog.Logger) context.CancelFunc {
		ctx, cancel := context.WithCancel(context.Background())
		opts := append(append(testkafka.ClientOpts(), group...), kgo.Dialer(ks.dial))
		p, err := New(ctx, cfg, WithKafkaOptions(opts...), WithLogger(log))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		stopped.Add(1)
		go func() {
			defer stopped.Done()
			p.Run(ctx)
		}()
		return cancel
	}
	rng := rand.New(rand.NewPCG(16, 1))
	var instances []*killSwitch
	for range kills {
		ks := new(killSwitch)
		instances = append(instances, ks)
		cancel := instance(ks, slog.New(slog.DiscardHandler))
		time.Sleep(time.Duration(200+rng.IntN(700)) * time.Millisecond)
		ks.kill()
		cancel() // the instance can no longer reach the broker; let its goroutines wind down
	}
	last := new(killSwitch)
	instances = append(instances, last)
	cancel := instance(last, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer cancel()
	began := time.Now()
	// events keep coming: the last instance has work even if the killed
	// ones finished the backlog
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 100_000, later, want)
	committed := kgo.FetchIsolationLevel(kgo.ReadCommitted())
	preds := testkafka.ReadN(t, addrs, "predictions", events+later, 10*time.Second, committed)
	took := time.Since(began)
	dead := testkafka.ReadN(t, addrs, "predictions-dlq", malformed, time.Second, committed)

	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	count := func(preds []*kgo.Record) (events, dups int) {
		seen := map[string]bool{}
		for _, r := range preds {
			pr, err := dec.Decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			seen[pr.EventID] = true
		}
		return len(seen), len(preds) - len(seen)
	}
	got, dups := count(preds)
	if got != events+later || dups != 0 || len(dead) != malformed {
		before := describeGroup(t, addrs, cfg.GroupID, instances)
		time.Sleep(20 * time.Second) // many session and rebalance timeouts
		then, _ := count(testkafka.ReadN(t, addrs, "predictions", events+later, 2*time.Second, committed))
		t.Fatalf("10 s after the last of %d killed instances started: %d of %d events have a committed prediction (%d duplicates), %d of %d dead letters; group %s\n"+
			"20 s later: %d events have one; group %s\nthe last instance's log:\n%s",
			kills, got, events+later, dups, len(dead), malformed, before, then, describeGroup(t, addrs, cfg.GroupID, instances), groupLines(logs.String(), 60))
	}
	cancel()
	done := make(chan struct{})
	go func() { stopped.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second): // SHUTDOWN_TIMEOUT is 2 s
		var b strings.Builder
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("instances did not stop within 15 s of their context's end (SHUTDOWN_TIMEOUT=2s); goroutines:\n%s", b.String())
	}
	t.Logf("%d events and %d malformed, %d instances killed, then %d more events: every output committed once, %v after the last start",
		events, malformed, kills, later, took.Round(100*time.Millisecond))
}

// describeGroup tells the group's state and each member's partitions,
// naming the instance (by the client address of its connections) each
// member is: "killed 0" to "killed 5" or "last".
func describeGroup(t *testing.T, addrs []string, group string, instances []*killSwitch) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs, err := kadm.NewClient(testkafka.Client(t, addrs)).DescribeGroups(ctx, group)
	if err != nil {
		return err.Error()
	}
	g := gs[group]
	var b strings.Builder
	fmt.Fprintf(&b, "%s:", g.State)
	for _, m := range g.Members {
		who := "unknown"
		for i, ks := range instances {
			if ks.dialed(m.ClientHost) {
				who = fmt.Sprintf("killed %d", i)
				if i == len(instances)-1 {
					who = "last"
				}
			}
		}
		var parts []int32
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range a.Topics {
				parts = append(parts, tp.Partitions...)
			}
		}
		fmt.Fprintf(&b, " [%s: partitions %v]", who, parts)
	}
	return b.String()
}

// groupLines returns the last n lines of a log at info or above, but for
// the Kafka client's several lines per transaction: what is left tells of
// the group (joins, syncs, assignments) and errors.
func groupLines(log string, n int) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "level=DEBUG") && !strings.Contains(l, "transact") && !strings.Contains(l, "flushing") {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}

// TestExactlyOnceFencesPredecessorAtStart: an exactly-once instance killed
// between committing its offsets to the transaction (TxnOffsetCommit) and
// ending it (EndTxn) leaves the group's offsets unstable: a successor's
// OffsetFetch (require_stable) is answered UNSTABLE_OFFSET_COMMIT until the
// transaction is aborted. The successor, with the same transactional id,
// aborts it as it initializes its producer id; it must do so at start, not
// when it first produces, which it cannot before its offsets are fetched:
// else it waits out the transaction timeout (40 s).
func TestExactlyOnceFencesPredecessorAtStart(t *testing.T) {
	const events = 3000
	c, addrs := testkafka.ClusterHandle(t, testkafka.Topic{Name: "transactions", Partitions: 3},
		testkafka.Topic{Name: "predictions", Partitions: 3}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, events, want)
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "DELIVERY": "exactly-once",
		"BATCH_MAX_SIZE": "200", "SHUTDOWN_TIMEOUT": "2s"})
	run := func(ks *killSwitch) func() {
		ctx, cancel := context.WithCancel(context.Background())
		p, err := New(ctx, cfg, WithKafkaOptions(append(testkafka.ClientOpts(), kgo.Dialer(ks.dial))...))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); p.Run(ctx) }()
		return func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("Run did not return within 15 s of its context's end (SHUTDOWN_TIMEOUT=2s)")
			}
		}
	}
	first := new(killSwitch)
	killed := make(chan struct{})
	c.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
		first.kill() // the first transaction has its offsets; it never ends
		close(killed)
		return nil, errKilled, true
	})
	stopFirst := run(first)
	select {
	case <-killed:
	case <-time.After(20 * time.Second):
		t.Fatal("the first instance never ended a transaction")
	}
	stopFirst()
	began := time.Now()
	stop := run(new(killSwitch))
	defer stop()
	preds := testkafka.ReadN(t, addrs, "predictions", events, 10*time.Second, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if len(preds) != events {
		t.Fatalf("10 s after the successor started, %d of %d events have a committed prediction", len(preds), events)
	}
	t.Logf("predecessor killed with its transaction's offsets pending: all %d committed %v after the successor started",
		events, time.Since(began).Round(100*time.Millisecond))
}

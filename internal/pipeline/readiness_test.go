package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring/xgboost"
)

// startReady runs a pipeline with a fast broker ping and waits until it is
// ready; stop cancels it and returns Run's error.
func startReady(t *testing.T, cfg config.Config, log *slog.Logger, opts ...Option) (*Pipeline, func() error) {
	t.Helper()
	p, stop := start(t, cfg, log, opts...)
	waitFor(t, func() bool { ok, _ := p.Ready(); return ok }, "ready")
	return p, stop
}

// start runs a pipeline with a fast broker ping (and opts); stop cancels
// it and returns Run's error, the same error on every call. The test's
// cleanup stops it too, when the test ended without.
func start(t *testing.T, cfg config.Config, log *slog.Logger, opts ...Option) (*Pipeline, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts = append([]Option{WithKafkaOptions(testkafka.ClientOpts()...), WithPingInterval(100 * time.Millisecond), WithLogger(log)}, opts...)
	p, err := New(ctx, cfg, opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { _ = stop() })
	return p, stop
}

func waitReason(t *testing.T, p *Pipeline, want string) {
	t.Helper()
	waitFor(t, func() bool { ok, reason := p.Ready(); return !ok && strings.Contains(reason, want) }, "not ready: "+want)
}

// TestReadinessTopicDeleted: a topic deleted while running makes the
// service unready, naming the topic, and logs it. A recreated output topic
// is produced to again. A recreated input topic keeps the service unready
// with a reason that asks for a restart (franz-go never follows a
// recreated topic), and after the restart the new topic is scored.
func TestReadinessTopicDeleted(t *testing.T) {
	for _, tt := range []struct{ delivery, topic string }{
		{"at-least-once", "transactions"},
		{"at-least-once", "predictions"},
		{"exactly-once", "transactions"},
	} {
		t.Run(tt.delivery+"/"+tt.topic, func(t *testing.T) {
			addrs := testkafka.Cluster(t, topics()...)
			cfg := testConfig(t, addrs, "json")
			cfg.InputTopics, cfg.Delivery = []string{"transactions"}, tt.delivery
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			p, stop := startReady(t, cfg, log)
			adm := kadm.NewClient(testkafka.Client(t, addrs))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := adm.DeleteTopic(ctx, tt.topic); err != nil {
				t.Fatal(err)
			}
			waitReason(t, p, `topic "`+tt.topic+`" does not exist`)
			if !strings.Contains(logs.String(), `level=ERROR msg="not ready: topic \"`+tt.topic+`\" does not exist`) {
				t.Errorf("no error logged:\n%s", logs.String())
			}
			if _, err := adm.CreateTopic(ctx, 2, -1, nil, tt.topic); err != nil {
				t.Fatal(err)
			}
			if tt.topic == "transactions" {
				waitReason(t, p, "restart streamscore")
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				p, stop = startReady(t, cfg, log)
			}
			waitFor(t, func() bool { ok, _ := p.Ready(); return ok }, "ready after the topic is back")
			want := map[string]sent{}
			produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 20, want)
			var readOpts []kgo.Opt
			if tt.delivery == "exactly-once" {
				readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			}
			preds := readAllEvents(t, addrs, want, readOpts...)
			if len(preds) < len(want) {
				t.Fatalf("%d predictions for %d events after the topic came back", len(preds), len(want))
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReadinessAuthorization: with real ACLs (kfake checks them), denying
// the scorer's principal READ on its input topic while it runs makes it
// unready with a reason that names the topic and says to check the ACLs;
// removing the deny makes it ready again.
func TestReadinessAuthorization(t *testing.T) {
	const mech, user, pass = "SCRAM-SHA-256", "scorer", "sc0rer-pw"
	allowAll := func(r kmsg.ACLResourceType, name string) kfake.ACL {
		return kfake.ACL{Resource: r, Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationAll, Allow: true}
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(), kfake.Superuser(mech, "admin", "admin-pw"),
		kfake.User(mech, user, pass, allowAll(kmsg.ACLResourceTypeTopic, "*"), allowAll(kmsg.ACLResourceTypeGroup, "*"),
			allowAll(kmsg.ACLResourceTypeCluster, "kafka-cluster"), allowAll(kmsg.ACLResourceTypeTransactionalId, "*"))}
	_, addrs := testkafka.ClusterWith(t, opts, topics()...)
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "BATCH_INTERVAL": "20ms",
		"KAFKA_SASL_MECHANISM": mech, "KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": pass})
	var logs syncBuffer
	p, stop := startReady(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))

	admin := kadm.NewClient(testkafka.Client(t, addrs, kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha256Mechanism())))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deny := kadm.NewACLs().Topics("transactions").Deny("User:" + user).DenyHosts("*").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	if res, err := admin.CreateACLs(ctx, deny); err != nil || res[0].Err != nil {
		t.Fatalf("create deny ACL: %v %v", err, res)
	}
	waitReason(t, p, `not authorized for topic "transactions"`)
	if !strings.Contains(logs.String(), "TOPIC_AUTHORIZATION_FAILED") {
		t.Errorf("the broker's error is not logged:\n%s", logs.String())
	}
	if _, err := admin.DeleteACLs(ctx, deny); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { ok, _ := p.Ready(); return ok }, "ready after the deny is removed")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestTruncatedDeadLetters: the dead-letter topic takes at most 2 KiB per
// record and 6 KiB malformed records arrive among good events, so their
// dead letters are refused whole. Each is written again truncated
// (carrying the source coordinates), every good event is predicted
// (exactly once under exactly-once), and the offsets are committed to the
// end: progress never stalls on one record, in both delivery modes.
func TestTruncatedDeadLetters(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2},
				testkafka.Topic{Name: "activity", Partitions: 1}, testkafka.Topic{Name: "predictions", Partitions: 2})
			adm := kadm.NewClient(testkafka.Client(t, addrs))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			limit := "2048"
			if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"max.message.bytes": &limit}, "predictions-dlq"); err != nil {
				t.Fatal(err)
			}
			want := map[string]sent{}
			produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 100, want)
			rng := rand.New(rand.NewPCG(3, 4))
			var junk []*kgo.Record
			for i := range 3 {
				v := make([]byte, 6000) // incompressible
				for k := range v {
					v[k] = byte(rng.Uint32())
				}
				junk = append(junk, &kgo.Record{Topic: "transactions", Partition: int32(i % 2), Key: []byte(fmt.Sprintf("junk%d", i)), Value: v})
			}
			testkafka.Produce(t, addrs, junk...)
			produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 100, 100, want)
			cfg := testConfig(t, addrs, "json")
			cfg.InputTopics, cfg.Delivery = []string{"transactions"}, delivery
			_, stop := runFor(t, cfg)
			var isolation []kgo.Opt
			if delivery == "exactly-once" {
				isolation = []kgo.Opt{kgo.FetchIsolationLevel(kgo.ReadCommitted())}
			}
			preds := testkafka.ReadN(t, addrs, "predictions", len(want), 30*time.Second, isolation...)
			dead := testkafka.ReadN(t, addrs, "predictions-dlq", len(junk), 10*time.Second, isolation...)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			model, _ := xgboost.Load(fraudModel, "")
			checkPredictions(t, schemas.JSON, preds, want, model)
			if len(dead) != len(junk) {
				t.Fatalf("%d dead letters, want %d", len(dead), len(junk))
			}
			for _, r := range dead {
				h := map[string]string{}
				for _, x := range r.Headers {
					h[x.Key] = string(x.Value)
				}
				var src *kgo.Record
				for _, j := range junk {
					if string(j.Key) == string(r.Key) {
						src = j
					}
				}
				if src == nil || h[producer.HeaderTruncated] != "true" || h[producer.HeaderStage] != producer.StageDecode ||
					h[producer.HeaderSourceTopic] != "transactions" || h[producer.HeaderSourceOffset] == "" ||
					!strings.HasPrefix(string(src.Value), string(r.Value)) || len(r.Value) < 1000 {
					t.Errorf("dead letter %q (%d bytes of value): headers %v", r.Key, len(r.Value), h)
				}
			}
			checkCommittedAtEnd(t, addrs, cfg.GroupID)
		})
	}
}

// TestReadinessConsumptionStalled: a client that answers pings but reads
// nothing while records wait (here: every fetch's connection is dropped,
// as after a broker restart) makes the service unready, naming what
// waits, and ready again once records are read. An idle stream with the
// same broken fetches stays ready: nothing waits.
func TestReadinessConsumptionStalled(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			c, addrs := testkafka.ClusterHandle(t, topics()...)
			cfg := testConfig(t, addrs, "json")
			cfg.InputTopics, cfg.Delivery = []string{"transactions"}, delivery
			var logs syncBuffer
			p, stop := startReady(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			want := map[string]sent{}
			produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 60, want)
			testkafka.ReadN(t, addrs, "predictions", 60, 30*time.Second)

			var broken atomic.Bool
			broken.Store(true)
			c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if broken.Load() {
					return nil, errors.New("fetch connection dropped by the test"), true
				}
				return nil, nil, false
			})
			// idle: nothing waits, so nothing is stalled
			time.Sleep(8 * 100 * time.Millisecond) // several checks (ping 100ms)
			if ok, reason := p.Ready(); !ok {
				t.Fatalf("idle stream with broken fetches not ready: %s", reason)
			}
			produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 60, 60, want)
			waitReason(t, p, "not consuming: ")
			_, reason := p.Ready()
			if !strings.Contains(reason, "transactions/") || !strings.Contains(reason, "rejoining the group") {
				t.Errorf("reason does not name the waiting partitions: %s", reason)
			}
			broken.Store(false)
			waitFor(t, func() bool { ok, _ := p.Ready(); return ok }, "ready again")
			testkafka.ReadN(t, addrs, "predictions", 120, 30*time.Second)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), `level=ERROR msg="not ready: not consuming: `) {
				t.Errorf("the stall was not logged at error level:\n%s", logs.String())
			}
		})
	}
}

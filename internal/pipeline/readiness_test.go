package pipeline

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// startReady runs a pipeline with a fast broker ping and waits until it is
// ready; stop cancels it and returns Run's error.
func startReady(t *testing.T, cfg config.Config, log *slog.Logger) (*Pipeline, func() error) {
	t.Helper()
	p, stop := start(t, cfg, log)
	waitFor(t, func() bool { ok, _ := p.Ready(); return ok }, "ready")
	return p, stop
}

// start runs a pipeline with a fast broker ping; stop cancels it and
// returns Run's error.
func start(t *testing.T, cfg config.Config, log *slog.Logger) (*Pipeline, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithPingInterval(100*time.Millisecond), WithLogger(log))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return p, func() error { cancel(); return <-done }
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

// TestReadinessDeadLettersStuck: the dead-letter topic takes at most 1 KiB
// per record and a 4 KiB malformed record arrives, so its dead letter can
// never be written. The record is not lost (its offset is not committed)
// and the service says why it is not ready, in both delivery modes.
func TestReadinessDeadLettersStuck(t *testing.T) {
	for _, tt := range []struct{ delivery, want string }{
		{"at-least-once", `dead letters cannot be written to "predictions-dlq"`},
		{"exactly-once", "transactions keep aborting"},
	} {
		t.Run(tt.delivery, func(t *testing.T) {
			addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 1},
				testkafka.Topic{Name: "activity", Partitions: 1}, testkafka.Topic{Name: "predictions", Partitions: 1})
			adm := kadm.NewClient(testkafka.Client(t, addrs))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			limit := "1024"
			if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"max.message.bytes": &limit}, "predictions-dlq"); err != nil {
				t.Fatal(err)
			}
			junk := make([]byte, 4096) // incompressible
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			testkafka.Produce(t, addrs, &kgo.Record{Topic: "transactions", Key: []byte("junk"), Value: junk})
			cfg := testConfig(t, addrs, "json")
			cfg.InputTopics, cfg.Delivery, cfg.ShutdownTimeout = []string{"transactions"}, tt.delivery, time.Second
			ctxRun, stopRun := context.WithCancel(context.Background())
			p, err := New(ctxRun, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithPingInterval(100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- p.Run(ctxRun) }()
			waitReason(t, p, tt.want)
			stopRun()
			<-done // at-least-once: an error, the record stayed unacknowledged
			committed := testkafka.Committed(t, addrs, cfg.GroupID)
			if c, ok := committed.Lookup("transactions", 0); ok && c.At > 0 {
				t.Fatalf("offset %d committed past a record whose dead letter was never written", c.At)
			}
		})
	}
}

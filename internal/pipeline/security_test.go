package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/kafkaconn"
	"github.com/streamscore/streamscore/internal/testkafka"
)

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var secrets = map[string][2]string{ // mechanism -> user, password
	"PLAIN":         {"alice", "pl41n-s3cret-pw"},
	"SCRAM-SHA-256": {"bob", "scr4m256-s3cret-pw"},
	"SCRAM-SHA-512": {"carol", "scr4m512-s3cret-pw"},
}

func secureCluster(t *testing.T) (testkafka.Certs, []string) {
	t.Helper()
	certs := testkafka.NewCerts(t)
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.TLS(certs.Server), kfake.EnableSASL()}
	for m, up := range secrets {
		opts = append(opts, kfake.Superuser(m, up[0], up[1]))
	}
	_, addrs := testkafka.ClusterWith(t, opts, topics()...)
	return certs, addrs
}

func secureConfig(t *testing.T, addrs []string, caFile, mech, user, pass string) config.Config {
	t.Helper()
	return loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "BATCH_INTERVAL": "20ms",
		"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CA_FILE": caFile, "KAFKA_SASL_MECHANISM": mech,
		"KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": pass, "LOG_LEVEL": "debug"})
}

func TestTLSAndSASL(t *testing.T) {
	certs, addrs := secureCluster(t)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for mech, up := range secrets {
		t.Run(mech, func(t *testing.T) {
			cfg := secureConfig(t, addrs, certs.CAFile, mech, up[0], up[1])
			cfg.GroupID = "g-" + mech
			conn, err := kafkaconn.ForConfig(cfg, "test-producer")
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(conn...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var recs []*kgo.Record
			for i := 0; i < 20; i++ {
				recs = append(recs, &kgo.Record{Topic: "transactions",
					Value: []byte(`{"event_id":"` + mech + `-` + string(rune('a'+i)) + `","customer_id":"c","event_time":0,"amount":5}`)})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			p, err := New(ctx, cfg, WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			runCtx, stop := context.WithCancel(ctx)
			go func() { done <- p.Run(runCtx) }()
			deadline := time.Now().Add(20 * time.Second)
			for p.Stats().Predictions.Load() < 20 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if p.Stats().Predictions.Load() < 20 {
				t.Fatalf("%d predictions over TLS + %s", p.Stats().Predictions.Load(), mech)
			}
		})
	}
	t.Run("wrong password fails fast and says so", func(t *testing.T) {
		cfg := secureConfig(t, addrs, certs.CAFile, "SCRAM-SHA-512", "carol", "not-the-password")
		start := time.Now()
		_, err := New(context.Background(), cfg, WithLogger(log))
		if err == nil || !strings.Contains(err.Error(), "authentication failed") || strings.Contains(err.Error(), "not-the-password") {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("took %v: not fast", d)
		}
	})
	t.Run("wrong CA fails and says so", func(t *testing.T) {
		other := testkafka.NewCerts(t)
		cfg := secureConfig(t, addrs, other.CAFile, "PLAIN", "alice", secrets["PLAIN"][1])
		_, err := New(context.Background(), cfg, WithLogger(log))
		if err == nil || !strings.Contains(err.Error(), "KAFKA_TLS_CA_FILE") {
			t.Fatalf("err = %v", err)
		}
	})
	for _, up := range secrets {
		if strings.Contains(logs.String(), up[1]) {
			t.Errorf("a password appears in the logs")
		}
	}
	if logs.String() == "" {
		t.Error("no logs captured")
	}
}

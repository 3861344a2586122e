//go:build interop

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/schemas"
)

// TestEntityFeaturesSurviveKills: a log of both kinds on co-partitioned
// topics; the real `streamscore run` with an aggregate features file
// (every function, where lists, both kinds) and PREDICTION_FEATURES=true is
// SIGKILLed four times and restarted, the log growing by a fifth before
// each start, then left to finish, in both delivery modes. Every event gets a prediction (exactly one under
// exactly-once, read_committed), and every prediction's features equal the
// brute-force evaluation of DESIGN.md's definition: each restart rebuilds
// the state from the topics.
func TestEntityFeaturesSurviveKills(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			bin := binaries(t)
			broker := devkafka(t, "transactions:3,activity:3,predictions:3,predictions-dlq:1")
			log := entitytest.Log(11, 12000)
			part := len(log) / 5 // one part before each instance: the log grows between kills
			dir := t.TempDir()
			features := filepath.Join(dir, "features.yaml")
			model := filepath.Join(dir, "agg.json")
			missing := map[string]float64{}
			zeros := make([]float64, len(entitytest.Names))
			for _, n := range entitytest.Names {
				missing[n] = 0
			}
			m, _ := json.Marshal(map[string]any{"format": "streamscore-linear", "link": "identity", "features": entitytest.Names,
				"coefficients": zeros, "intercept": 0.5, "missing": missing})
			if err := os.WriteFile(model, m, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(features, []byte(entitytest.Features), 0o644); err != nil {
				t.Fatal(err)
			}
			env := []string{"PATH=" + os.Getenv("PATH"), "KAFKA_BROKERS=" + broker, "INPUT_TOPICS=transactions,activity",
				"INPUT_ENCODING=json", "OUTPUT_ENCODING=json", "MODEL_PATH=" + model, "FEATURES_PATH=" + features,
				"PREDICTION_FEATURES=true", "HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=warn", "DELIVERY=" + delivery,
				"BATCH_MAX_SIZE=50", "COMMIT_INTERVAL=100ms", "KAFKA_GROUP_INSTANCE_ID=entity-kill-0"}
			start := func(name string) *exec.Cmd { return startRun(t, bin, env, filepath.Join(dir, name+".log")) }
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
			for k := 0; k < 4; k++ {
				entitytest.Produce(t, []string{broker}, log[k*part:(k+1)*part])
				cmd := start(fmt.Sprintf("killed-%d", k))
				time.Sleep(300*time.Millisecond + time.Duration(rng.Int64N(int64(900*time.Millisecond))))
				cmd.Process.Kill() // SIGKILL: no drain, no commit
				cmd.Wait()
			}
			before := endOffsets(t, broker, "predictions")
			if before == 0 {
				t.Fatal("the killed instances produced nothing: the kills did not land mid-stream")
			}
			entitytest.Produce(t, []string{broker}, log[4*part:])
			final := start("final")
			defer func() {
				final.Process.Signal(os.Interrupt)
				final.Wait()
			}()
			byID := map[string]entitytest.Event{}
			for _, e := range log {
				byID[e.ID] = e
			}
			seen := map[string]int{}
			bad := 0
			opts := []kgo.Opt{kgo.SeedBrokers(broker), kgo.ConsumeTopics("predictions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
			if delivery == "exactly-once" {
				opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
			deadline := time.Now().Add(120 * time.Second)
			for len(seen) < len(log) && time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				fs := cl.PollFetches(ctx)
				cancel()
				fs.EachRecord(func(r *kgo.Record) {
					p, err := dec.Decode(r.Value)
					if err != nil {
						t.Fatalf("prediction %q: %v", r.Value, err)
					}
					e, ok := byID[p.EventID]
					if !ok || p.Features == nil {
						t.Fatalf("prediction for %q: unknown event or no features", p.EventID)
					}
					seen[p.EventID]++
					for _, d := range entitytest.Diff(log, e, p.Features.Values) {
						if bad++; bad <= 10 {
							t.Error(d)
						}
					}
				})
			}
			if len(seen) < len(log) {
				b, _ := os.ReadFile(filepath.Join(dir, "final.log"))
				t.Fatalf("%d of %d events predicted within 120 s\n%s", len(seen), len(log), tail(string(b)))
			}
			if bad > 0 {
				t.Fatalf("%d feature values differ from the reference", bad)
			}
			dups := 0
			for _, n := range seen {
				dups += n - 1
			}
			if delivery == "exactly-once" && dups > 0 {
				t.Fatalf("exactly-once: %d duplicate predictions", dups)
			}
			t.Logf("%s: %d events, 4 SIGKILLs (predictions topic at %d records before the last start): every prediction's features equal the reference; %d duplicates",
				delivery, len(log), before, dups)
		})
	}
}

// endOffsets sums the end offsets of topic's partitions.
func endOffsets(t *testing.T, broker, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	offs.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

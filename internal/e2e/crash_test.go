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

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashLosesNothing: 100k events (some malformed) in a devkafka
// process; streamscore run is killed with SIGKILL at random moments ten
// times and restarted, then left to finish. Every input record must have
// at least one prediction or dead letter (at-least-once); duplicates are
// counted and reported.
func TestCrashLosesNothing(t *testing.T) {
	bin := binaries(t)
	broker := devkafka(t, "transactions:6,predictions:6,predictions-dlq:1")
	const n = 100_000
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, 0, n)
	for i := 0; i < n; i++ {
		v := fmt.Sprintf(`{"event_id":"e%d","customer_id":"c%d","event_time":%d,"amount":%d}`, i, i%97, 1795787100000+i, i%1000)
		if i%1000 == 999 {
			v = fmt.Sprintf(`{"event_id":"e%d", broken`, i) // a dead letter
		}
		recs = append(recs, &kgo.Record{Topic: "transactions", Key: []byte(fmt.Sprintf("e%d", i)), Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "KAFKA_BROKERS=" + broker, "INPUT_ENCODING=json", "OUTPUT_ENCODING=json",
		"MODEL_PATH=../../scoring/xgboost/testdata/xgb_fraud.json", "HTTP_ADDR=127.0.0.1:0", "COMMIT_INTERVAL=200ms",
		"KAFKA_GROUP_INSTANCE_ID=crash-test-0", "LOG_LEVEL=warn"}
	rng := rand.New(rand.NewPCG(7, 8))
	const kills = 10
	for k := 0; k < kills; k++ {
		cmd := exec.Command(filepath.Join(bin, "streamscore"), "run")
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		cmd.Process.Kill() // SIGKILL: no drain, no commit
		cmd.Wait()
	}
	final := exec.Command(filepath.Join(bin, "streamscore"), "run")
	final.Env = env
	logs, _ := os.Create(filepath.Join(t.TempDir(), "final.log"))
	final.Stdout, final.Stderr = logs, logs
	if err := final.Start(); err != nil {
		t.Fatal(err)
	}
	defer final.Process.Kill()

	// Read every prediction and dead letter until each input has one.
	rd, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("predictions", "predictions-dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := make(map[string]int, n)
	outputs := 0
	for len(seen) < n && ctx.Err() == nil {
		rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			outputs++
			id := string(r.Key) // dead letters keep the input key
			if r.Topic == "predictions" {
				var p struct {
					EventID string `json:"event_id"`
				}
				json.Unmarshal(r.Value, &p)
				id = p.EventID
			}
			seen[id]++
		})
	}
	final.Process.Signal(os.Interrupt)
	final.Wait()
	missing := 0
	for i := 0; i < n; i++ {
		if seen[fmt.Sprintf("e%d", i)] == 0 {
			missing++
		}
	}
	if missing > 0 {
		b, _ := os.ReadFile(logs.Name())
		t.Fatalf("%d of %d input records have neither a prediction nor a dead letter\n%s", missing, n, b)
	}
	dups := outputs - n
	t.Logf("%d records, %d SIGKILLs: %d outputs, %d duplicates (%.0f per kill), 0 lost", n, kills, outputs, dups, float64(dups)/kills)
}

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
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashLosesNothing: 100k events (some malformed) in a devkafka
// process; streamscore run is killed with SIGKILL at random moments ten
// times and restarted, then left to finish. Every input record must have
// at least one prediction or dead letter (at-least-once), and exactly one
// as a read_committed reader sees it (exactly-once); duplicates are counted.
func TestCrashLosesNothing(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) { crashTest(t, delivery) })
	}
}

func crashTest(t *testing.T, delivery string) {
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
		"KAFKA_GROUP_INSTANCE_ID=crash-test-0", "LOG_LEVEL=warn", "DELIVERY=" + delivery}
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
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
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
	// wait a little for stragglers (duplicates would show up now)
	extra, cancelExtra := context.WithTimeout(context.Background(), 2*time.Second)
	rd.PollFetches(extra).EachRecord(func(r *kgo.Record) { outputs++ })
	cancelExtra()
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
	if delivery == "exactly-once" {
		if dups != 0 {
			t.Fatalf("exactly-once: %d duplicates seen by a read_committed reader", dups)
		}
		// librdkafka's read_committed count agrees
		out, err := exec.Command("kcat", "-C", "-b", broker, "-t", "predictions", "-e", "-q", "-o", "beginning",
			"-X", "isolation.level=read_committed", "-f", "x\n").Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(out), "\n"); got != n-n/1000 {
			t.Fatalf("kcat read_committed counts %d predictions, want %d", got, n-n/1000)
		}
	}
	t.Logf("%s: ", delivery)
	t.Logf("%d records, %d SIGKILLs: %d outputs, %d duplicates (%.0f per kill), 0 lost", n, kills, outputs, dups, float64(dups)/kills)
}

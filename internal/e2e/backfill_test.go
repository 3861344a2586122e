//go:build interop

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBackfillInterruptAndResume: the real binary backfills a range to a
// topic at a limited rate, is interrupted with SIGINT (exit 130, resume
// command printed), and the resumed run completes the range: every
// in-range event has exactly one prediction, no other event has any.
func TestBackfillInterruptAndResume(t *testing.T) {
	bin := binaries(t)
	broker := devkafka(t, "transactions:3,predictions:3,predictions-dlq:1")
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := map[string]bool{}
	var recs []*kgo.Record
	for i := 0; i < 3000; i++ {
		ts := from.Add(time.Duration(i%40-5) * time.Hour) // 5h before the range to 10h after
		id := fmt.Sprintf("e%d", i)
		v := fmt.Sprintf(`{"event_id":%q,"customer_id":"c%d","event_time":%d,"amount":%d}`, id, i%9, ts.UnixMilli(), i%500)
		recs = append(recs, &kgo.Record{Topic: "transactions", Value: []byte(v), Timestamp: ts})
		if !ts.Before(from) && ts.Before(to) {
			want[id] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	resume := filepath.Join(dir, "resume.json")
	env := []string{"PATH=" + os.Getenv("PATH"), "KAFKA_BROKERS=" + broker, "INPUT_ENCODING=json", "OUTPUT_ENCODING=json",
		"MODEL_PATH=../../scoring/xgboost/testdata/xgb_fraud.json", "BATCH_MAX_SIZE=100", "LOG_FORMAT=text"}
	cmd := exec.Command(filepath.Join(bin, "streamscore"), "backfill", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339),
		"--max-rate", "1500", "--resume", resume)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || !strings.Contains(stderr.String(), "streamscore backfill --resume "+resume) {
		t.Fatalf("interrupt: %v\n%s", err, stderr.String())
	}
	cmd = exec.Command(filepath.Join(bin, "streamscore"), "backfill", "--resume", resume)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if _, err := os.Stat(resume); !os.IsNotExist(err) {
		t.Errorf("resume file left after a complete run")
	}
	_, values := kcatConsume(t, broker, "predictions", len(want), 30*time.Second)
	seen := map[string]bool{}
	for _, v := range values {
		var p struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal([]byte(v), &p)
		if !want[p.EventID] || seen[p.EventID] {
			t.Fatalf("unexpected or duplicate prediction for %s", p.EventID)
		}
		seen[p.EventID] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("%d of %d in-range events predicted", len(seen), len(want))
	}
	t.Logf("interrupted run:\n%s\nresumed run:\n%s", stderr.String(), out)
}

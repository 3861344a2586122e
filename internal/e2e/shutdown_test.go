//go:build interop

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestShutdownIsBoundedWithTheBrokerGone: the broker freezes (SIGSTOP)
// with work in progress, then one SIGTERM: in both delivery modes the
// process exits within SHUTDOWN_TIMEOUT (plus 2 s to start the exit), with
// exit code 1 and a log line saying what was left undone. At-least-once:
// every record polled and waiting in an open batch (BATCH_INTERVAL 30s,
// batches larger than a lane's share). Exactly-once closes its batches at
// each transaction's end, so it is stopped in the middle of a backlog.
func TestShutdownIsBoundedWithTheBrokerGone(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			bin := binaries(t)
			broker, proc := devkafkaProc(t, "transactions:3,predictions:3,predictions-dlq:1")
			n, env := 6000, []string{"BATCH_MAX_SIZE=10000", "BATCH_INTERVAL=30s"}
			if delivery == "exactly-once" {
				n, env = 200000, []string{"BATCH_MAX_SIZE=500"}
			}
			var lines []string
			for i := 0; i < n; i++ {
				lines = append(lines, fmt.Sprintf(`e%d|{"event_id":"e%d","customer_id":"c%d","event_time":1795787100000,"amount":%d}`, i, i, i%97, i%500))
			}
			kcatProduce(t, broker, "transactions", lines)
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			cmd := exec.Command(filepath.Join(bin, "streamscore"), "run")
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "KAFKA_BROKERS=" + broker, "INPUT_ENCODING=json", "OUTPUT_ENCODING=json",
				"MODEL_PATH=../../scoring/xgboost/testdata/xgb_fraud.json", "HTTP_ADDR=" + addr, "SHUTDOWN_TIMEOUT=5s",
				"DELIVERY=" + delivery}
			cmd.Env = append(cmd.Env, env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			if delivery == "exactly-once" {
				waitPolled(t, addr, 1, 30*time.Second) // a transaction is open
			} else {
				waitPolled(t, addr, n, 30*time.Second)
			}

			proc.Signal(syscall.SIGSTOP)
			defer proc.Signal(syscall.SIGCONT) // before devkafka's cleanup stops it
			time.Sleep(200 * time.Millisecond)
			start := time.Now()
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				took := time.Since(start)
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 {
					t.Fatalf("exit %v after %v, want code 1\n%s", err, took, tail(stderr.String()))
				}
				if !strings.Contains(stderr.String(), "not acknowledged") && !strings.Contains(stderr.String(), "final commit failed") &&
					!strings.Contains(stderr.String(), "transaction") {
					t.Errorf("the exit does not say what was left undone:\n%s", tail(stderr.String()))
				}
				if took > 5*time.Second+2*time.Second {
					t.Errorf("exited %v after SIGTERM, beyond SHUTDOWN_TIMEOUT=5s", took)
				}
				t.Logf("exited after %v\n%s", took.Round(time.Millisecond), tail(stderr.String()))
			case <-time.After(20 * time.Second):
				t.Fatalf("still running 20s after SIGTERM with SHUTDOWN_TIMEOUT=5s\n%s", tail(stderr.String()))
			}
		})
	}
}

// waitPolled waits until the service at addr has polled n records
// (streamscore_records_consumed_total).
func waitPolled(t *testing.T, addr string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			total := 0.0
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "streamscore_records_consumed_total") {
					if f := strings.Fields(line); len(f) == 2 {
						v, _ := strconv.ParseFloat(f[1], 64)
						total += v
					}
				}
			}
			if total >= float64(n) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not poll %d records within %v", addr, n, timeout)
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

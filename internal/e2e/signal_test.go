//go:build interop

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondSignalExitsAtOnce: the broker freezes (SIGSTOP), so the drain
// that SIGTERM starts cannot commit and would wait out SHUTDOWN_TIMEOUT
// (60s); a second SIGTERM ends the process at once with exit code 130 and
// says so.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	bin := binaries(t)
	broker, proc := devkafkaProc(t, "transactions:2,predictions:2,predictions-dlq:1")
	var lines []string
	for i := 0; i < 200; i++ {
		lines = append(lines, fmt.Sprintf(`e%d|{"event_id":"e%d","customer_id":"c1","event_time":1795787100000,"amount":%d}`, i, i, i))
	}
	kcatProduce(t, broker, "transactions", lines)
	cmd := exec.Command(filepath.Join(bin, "streamscore"), "run")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "KAFKA_BROKERS=" + broker, "INPUT_ENCODING=json", "OUTPUT_ENCODING=json",
		"MODEL_PATH=../../scoring/xgboost/testdata/xgb_fraud.json", "HTTP_ADDR=127.0.0.1:0", "SHUTDOWN_TIMEOUT=60s"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	kcatConsume(t, broker, "predictions", 200, 30*time.Second)

	proc.Signal(syscall.SIGSTOP)
	defer proc.Signal(syscall.SIGCONT) // before devkafka's cleanup stops it
	done := make(chan error, 1)
	cmd.Process.Signal(syscall.SIGTERM)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("exited during a drain that cannot finish (%v); the test needs a slow drain\n%s", err, stderr.String())
	case <-time.After(1500 * time.Millisecond):
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("second signal: exit %v, want code 130\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "second signal, exiting at once") {
			t.Errorf("no message on the second signal:\n%s", stderr.String())
		}
		t.Logf("exited %v after the second signal", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5s after the second signal\n%s", stderr.String())
	}
}

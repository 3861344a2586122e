//go:build interop

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/testkafka"
)

// startDevkafka runs the broker binary with extra flags.
func startDevkafka(t *testing.T, bin string, extra ...string) string {
	t.Helper()
	args := append([]string{"--port", strconv.Itoa(freePort(t)), "--topics", "transactions:2,predictions:2,predictions-dlq:1"}, extra...)
	cmd := exec.Command(filepath.Join(bin, "devkafka"), args...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	go io.Copy(io.Discard, stdout)
	if !strings.HasPrefix(line, "listening: ") {
		t.Fatalf("devkafka: %q", line)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "listening: "))
}

func eventLines(prefix string, n int) []string {
	var lines []string
	for i := 0; i < n; i++ {
		lines = append(lines, fmt.Sprintf(`c%d|{"event_id":"%s%d","customer_id":"c%d","event_time":%d,"amount":%d}`, i%4, prefix, i, i%4, 1795787100000+i, i*10))
	}
	return lines
}

// TestTLSAndSCRAMWithKcat: devkafka serves TLS and SASL; streamscore run
// connects with TLS + SCRAM-SHA-512 from the environment alone; kcat
// (librdkafka) produces the events and reads the predictions over
// SASL_SSL.
func TestTLSAndSCRAMWithKcat(t *testing.T) {
	bin := binaries(t)
	certs := testkafka.NewCerts(t)
	const user, pass = "svc", "e2e-s3cret:with-colon"
	broker := startDevkafka(t, bin, "--tls-cert", certs.CertFile, "--tls-key", certs.KeyFile, "--sasl", user+":"+pass)
	secure := []string{"-b", broker, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
		"-X", "sasl.username=" + user, "-X", "sasl.password=" + pass, "-X", "ssl.ca.location=" + certs.CAFile}
	produce := exec.Command("kcat", append([]string{"-P", "-t", "transactions", "-K", "|"}, secure...)...)
	produce.Stdin = strings.NewReader(strings.Join(eventLines("s", 50), "\n") + "\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce over SASL_SSL: %v\n%s", err, out)
	}
	stop := streamscore(t, map[string]string{"KAFKA_BROKERS": broker, "INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json",
		"MODEL_PATH": "../../scoring/xgboost/testdata/xgb_fraud.json", "BATCH_INTERVAL": "50ms",
		"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CA_FILE": certs.CAFile,
		"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": pass})
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for len(got) < 50 && time.Now().Before(deadline) {
		out, _ := exec.Command("kcat", append([]string{"-C", "-t", "predictions", "-o", "beginning", "-e", "-q"}, secure...)...).Output()
		got = strings.Fields(strings.TrimSpace(string(out)))
		time.Sleep(300 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if len(got) != 50 {
		t.Fatalf("%d predictions read by kcat over SASL_SSL, want 50", len(got))
	}
	// a wrong password fails at start, saying so, without echoing it
	bad := exec.Command(filepath.Join(bin, "streamscore"), "run")
	bad.Env = []string{"KAFKA_BROKERS=" + broker, "MODEL_PATH=../../scoring/xgboost/testdata/xgb_fraud.json", "HTTP_ADDR=127.0.0.1:0",
		"KAFKA_TLS_ENABLED=true", "KAFKA_TLS_CA_FILE=" + certs.CAFile, "KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
		"KAFKA_SASL_USERNAME=" + user, "KAFKA_SASL_PASSWORD=wrong-password"}
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "authentication failed") || strings.Contains(string(out), "wrong-password") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
}

// TestTLSWithKcat: librdkafka (kcat) produces and reads over TLS; the
// binary verifies the broker against the CA file.
func TestTLSWithKcat(t *testing.T) {
	bin := binaries(t)
	certs := testkafka.NewCerts(t)
	broker := startDevkafka(t, bin, "--tls-cert", certs.CertFile, "--tls-key", certs.KeyFile)
	ssl := []string{"-b", broker, "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + certs.CAFile}
	produce := exec.Command("kcat", append([]string{"-P", "-t", "transactions", "-K", "|"}, ssl...)...)
	produce.Stdin = strings.NewReader(strings.Join(eventLines("t", 40), "\n") + "\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce over SSL: %v\n%s", err, out)
	}
	stop := streamscore(t, map[string]string{"KAFKA_BROKERS": broker, "INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json",
		"MODEL_PATH": "../../scoring/xgboost/testdata/xgb_fraud.json", "BATCH_INTERVAL": "50ms",
		"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CA_FILE": certs.CAFile})
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for len(got) < 40 && time.Now().Before(deadline) {
		out, _ := exec.Command("kcat", append([]string{"-C", "-t", "predictions", "-o", "beginning", "-e", "-q"}, ssl...)...).Output()
		got = strings.Fields(strings.TrimSpace(string(out)))
		time.Sleep(300 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if len(got) != 40 {
		t.Fatalf("%d predictions read by kcat over SSL, want 40", len(got))
	}
}

//go:build interop

package e2e

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestCrashLosesNothing: 100k events written by librdkafka (Debian
// python3-confluent-kafka), three in every thousand malformed, in a devkafka
// process; streamscore run is killed with SIGKILL at random moments ten
// times and restarted, then left to finish. A read_committed librdkafka
// consumer then counts: every input record must have at least one
// prediction or dead letter (at-least-once), and exactly one
// (exactly-once); duplicates are counted.
func TestCrashLosesNothing(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) { crashTest(t, delivery) })
	}
}

// rdkafka runs testdata/rdkafka.py (librdkafka through Debian's
// python3-confluent-kafka) and returns its stdout.
func rdkafka(t *testing.T, args ...string) []byte {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import confluent_kafka").Run(); err != nil {
		t.Fatal("python3-confluent-kafka is not installed: apt-get install python3-confluent-kafka to run the interop tests")
	}
	cmd := exec.Command("/usr/bin/python3", append([]string{"testdata/rdkafka.py"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rdkafka.py %v: %v", args, err)
	}
	return out
}

func crashTest(t *testing.T, delivery string) {
	bin := binaries(t)
	broker := devkafka(t, "transactions:6,predictions:6,predictions-dlq:1")
	const n = 100_000
	const malformed = 3 * n / 1000
	rdkafka(t, "produce", broker, "transactions", strconv.Itoa(n))
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

	var got struct {
		Outputs, Predictions, Missing, Duplicates int
		DeadLetters                               int `json:"dead_letters"`
	}
	out := rdkafka(t, "count", broker, strconv.Itoa(n), "120")
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("rdkafka.py count: %v: %s", err, out)
	}
	final.Process.Signal(os.Interrupt)
	final.Wait()
	if got.Missing > 0 {
		b, _ := os.ReadFile(logs.Name())
		t.Fatalf("%d of %d input records have neither a prediction nor a dead letter\n%s", got.Missing, n, b)
	}
	if delivery == "exactly-once" && (got.Duplicates != 0 || got.Predictions != n-malformed || got.DeadLetters != malformed) {
		t.Fatalf("exactly-once, read_committed librdkafka counts %+v; want %d predictions, %d dead letters, no duplicates",
			got, n-malformed, malformed)
	}
	t.Logf("%s: %d records (%d malformed), %d SIGKILLs: %d predictions, %d dead letters, %d duplicates (%.0f per kill), 0 lost",
		delivery, n, malformed, kills, got.Predictions, got.DeadLetters, got.Duplicates, float64(got.Duplicates)/kills)
}

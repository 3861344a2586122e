//go:build interop

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const onnxDir = "../../scoring/onnxml/testdata/"

// TestRunScoresONNXLikeOnnxruntime: a scikit-learn pipeline exported to
// ONNX (one unnamed tensor input, named by a features file), events from
// kcat, predictions equal to onnxruntime's on every row.
func TestRunScoresONNXLikeOnnxruntime(t *testing.T) {
	broker := devkafka(t, "transactions:3,predictions:3,predictions-dlq:1")
	dir := t.TempDir()
	features := filepath.Join(dir, "features.yaml")
	os.WriteFile(features, []byte("features: [x0, x1, x2, x3, x4]\n"), 0o644)
	rows, _ := reference(t, onnxDir+"sk_rf_boundary.csv", []string{"x0", "x1", "x2", "x3", "x4"}, nil, 1000)
	want, _ := reference(t, onnxDir+"ort_sk_rf_boundary.csv", []string{"ort_prob1"}, nil, 1000)
	var lines []string
	for i, row := range rows {
		lines = append(lines, fmt.Sprintf(`c%d|{"event_id":"e%d","customer_id":"c%d","event_time":%d,"x0":%s,"x1":%s,"x2":%s,"x3":%s,"x4":%s}`,
			i%7, i, i%7, 1795787100000+i, row["x0"], row["x1"], row["x2"], row["x3"], row["x4"]))
	}
	kcatProduce(t, broker, "transactions", lines)
	stop := streamscore(t, map[string]string{
		"KAFKA_BROKERS": broker, "INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json",
		"MODEL_PATH": onnxDir + "sk_rf_pipeline.onnx", "FEATURES_PATH": features, "BATCH_INTERVAL": "50ms",
	})
	_, values := kcatConsume(t, broker, "predictions", len(rows), 60*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if len(values) != len(rows) {
		t.Fatalf("%d predictions for %d events", len(values), len(rows))
	}
	for _, v := range values {
		var p struct {
			EventID string  `json:"event_id"`
			Score   float64 `json:"score"`
		}
		if err := json.Unmarshal([]byte(v), &p); err != nil {
			t.Fatal(err)
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(p.EventID, "e"))
		w, _ := strconv.ParseFloat(want[i]["ort_prob1"], 64)
		if p.Score != w {
			t.Errorf("%s: score %v, onnxruntime %v", p.EventID, p.Score, w)
		}
	}
}

// TestScoreCommand runs `streamscore score` on the reference CSV.
func TestScoreCommand(t *testing.T) {
	bin := binaries(t)
	dir := t.TempDir()
	features := filepath.Join(dir, "features.yaml")
	os.WriteFile(features, []byte("features: [x0, x1, x2, x3, x4]\n"), 0o644)
	out := filepath.Join(dir, "scored.csv")
	cmd := exec.Command(filepath.Join(bin, "streamscore"), "score", "--model", onnxDir+"sk_rf_pipeline_nozipmap.onnx",
		"--features", features, "--input", onnxDir+"sk_rf_test.csv", "--output", out)
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "scored 2000 of 2000 rows") {
		t.Fatalf("score: %v\n%s", err, b)
	}
	got, _ := reference(t, out, []string{"row", "score"}, nil, 5000)
	want, _ := reference(t, onnxDir+"ort_sk_rf_test.csv", []string{"ort_prob1"}, nil, 5000)
	for i := range want {
		g, _ := strconv.ParseFloat(got[i]["score"], 64)
		w, _ := strconv.ParseFloat(want[i]["ort_prob1"], 64)
		if got[i]["row"] != strconv.Itoa(i) || g != w {
			t.Fatalf("row %d: %v, onnxruntime %v", i, got[i], w)
		}
	}
	// a bad flag is a usage error, exit 2
	err := exec.Command(filepath.Join(bin, "streamscore"), "score", "--model", onnxDir+"sk_rf_pipeline.onnx").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("missing --input: %v, want exit 2", err)
	}
}

package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

func loadConfig(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRoutesTopicsToModels: MODELS_FILE sends transactions to the fraud
// reference model and activity to the bundled takeover model, whose route
// has its own output topic.
func TestRoutesTopicsToModels(t *testing.T) {
	addrs := testkafka.Cluster(t, append(topics(), testkafka.Topic{Name: "takeover-scores", Partitions: 2})...)
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 100, want)
	g := synth.New(5, 100, schemas.DefaultFieldNames)
	enc, _ := schemas.NewEventEncoder(schemas.JSON, schemas.Activity, schemas.DefaultFieldNames)
	var recs []*kgo.Record
	var ev schemas.Event
	for i := 0; i < 60; i++ {
		g.Activity(&ev, time.Now())
		b, _ := enc.Append(nil, &ev)
		recs = append(recs, &kgo.Record{Topic: "activity", Value: b})
	}
	testkafka.Produce(t, addrs, recs...)
	models, _ := filepath.Abs("../../models")
	file := filepath.Join(t.TempDir(), "models.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`models:
  - topics: [transactions]
    path: %s
  - topics: [activity]
    path: %s/takeover.json
    features: %s/takeover.features.yaml
    output_topic: takeover-scores
`, mustAbs(t, fraudModel), models, models)), 0o644)
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions,activity",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODELS_FILE": file, "BATCH_INTERVAL": "20ms", "COMMIT_INTERVAL": "50ms"})
	_, stop := runFor(t, cfg)
	tx := testkafka.ReadN(t, addrs, "predictions", 100, 30*time.Second)
	act := testkafka.ReadN(t, addrs, "takeover-scores", 60, 30*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	for _, c := range []struct {
		recs  []*kgo.Record
		n     int
		model string
		kind  string
	}{{tx, 100, "xgb_fraud", "transaction"}, {act, 60, "takeover", "activity"}} {
		if len(c.recs) != c.n {
			t.Errorf("%s: %d predictions, want %d", c.model, len(c.recs), c.n)
		}
		for _, r := range c.recs {
			p, _ := dec.Decode(r.Value)
			if p.ModelName != c.model || p.EventType != c.kind {
				t.Fatalf("prediction %+v on the %s route", p, c.model)
			}
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestHotReloadUnderStream swaps the model file 20 times while events
// stream: every event gets exactly one prediction, from one of the two
// versions, and both versions serve.
func TestHotReloadUnderStream(t *testing.T) {
	addrs := testkafka.Cluster(t, topics()...)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.json")
	versions := []string{"../../scoring/xgboost/testdata/xgb_fraud.json", "../../scoring/xgboost/testdata/xgb_fraud.ubj"}
	install := func(i int) {
		b, err := os.ReadFile(versions[i%2])
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path+".tmp", b, 0o644)
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	install(0)
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": path, "MODEL_RELOAD_INTERVAL": "100ms",
		"BATCH_INTERVAL": "10ms", "BATCH_MAX_SIZE": "50", "COMMIT_INTERVAL": "50ms"})
	p, stop := runFor(t, cfg)

	// Reload 20 times in the background (errors come back on a channel:
	// only the test goroutine may fail the test) while events stream.
	reloadErr := make(chan error, 1)
	go func() {
		defer close(reloadErr)
		for i := 1; i <= 20; i++ {
			b, err := os.ReadFile(versions[i%2])
			if err == nil {
				os.WriteFile(path+".tmp", b, 0o644)
				err = os.Rename(path+".tmp", path)
			}
			if err != nil {
				reloadErr <- err
				return
			}
			deadline := time.Now().Add(5 * time.Second)
			for p.Stats().ReloadsOK.Load() < int64(i) {
				if time.Now().After(deadline) {
					reloadErr <- fmt.Errorf("reload %d not seen", i)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	want := map[string]sent{}
	for i := 0; i < 40; i++ {
		produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", i*50, 50, want)
		time.Sleep(60 * time.Millisecond)
	}
	if err := <-reloadErr; err != nil {
		t.Fatal(err)
	}
	preds := testkafka.ReadN(t, addrs, "predictions", 2000, 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	seen := map[string]bool{}
	byVersion := map[string]int{}
	for _, r := range preds {
		pr, _ := dec.Decode(r.Value)
		if seen[pr.EventID] {
			t.Fatalf("%s scored twice", pr.EventID)
		}
		seen[pr.EventID] = true
		byVersion[pr.ModelVersion]++
	}
	if len(seen) != 2000 || len(want) != 2000 {
		t.Fatalf("%d predictions for %d events", len(seen), len(want))
	}
	if len(byVersion) != 2 {
		t.Errorf("predictions by version %v, want both versions", byVersion)
	}
	if p.Stats().ReloadsFailed.Load() != 0 || p.Stats().ReloadsOK.Load() < 20 {
		t.Errorf("reloads ok %d failed %d", p.Stats().ReloadsOK.Load(), p.Stats().ReloadsFailed.Load())
	}
	t.Logf("2000 events, %d reloads, predictions by version %v", p.Stats().ReloadsOK.Load(), byVersion)
}

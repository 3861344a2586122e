package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/backfill"
	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/httpapi"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/pipeline"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/load"
)

const modesModel = "../../scoring/xgboost/testdata/xgb_fraud.json"

// outcome is what a mode made of one record: a prediction's score and
// label, or a dead letter's stage and reason.
type outcome struct {
	Dead         bool
	Stage        string
	Reason       string
	Score        float64
	Label        int32
	ModelVersion string
}

func (o outcome) String() string {
	if o.Dead {
		return fmt.Sprintf("dead letter (%s) %q", o.Stage, o.Reason)
	}
	return fmt.Sprintf("prediction %v label %d version %s", o.Score, o.Label, o.ModelVersion)
}

// modeCases are the records every mode is given: each case's name is its
// event id (when it has one) and its Kafka key.
var modeCases = []struct{ name, body string }{
	{"good", `{"event_id":"good","customer_id":"c1","event_time":1795787100000,"amount":120.5,"hour":3,"merchant_risk":0.7}`},
	{"missing-feature", `{"event_id":"missing-feature","customer_id":"c2","event_time":1795787100000,"hour":23}`},
	{"null-feature", `{"event_id":"null-feature","customer_id":"c2","event_time":1795787100000,"amount":null}`},
	{"malformed", `{"event_id":"malformed","customer_id":"c3","event_time":1795787100000,"amount":`},
	{"text-in-number", `{"event_id":"text-in-number","customer_id":"c4","event_time":1795787100000,"amount":"12.50"}`},
	{"beyond-float32", `{"event_id":"beyond-float32","customer_id":"c5","event_time":1795787100000,"amount":1e39}`},
	{"no-entity", `{"event_id":"no-entity","event_time":1795787100000,"amount":3}`},
	{"bad-time", `{"event_id":"bad-time","customer_id":"c6","event_time":"yesterday","amount":3}`},
}

// identityFree are the cases a mode scores where the stream dead-letters
// them, and why: score reads files (training sets, exports) that need not
// carry an entity or an event time unless the features aggregate over
// entities (README, "Scoring files"); it scores such a record as if the
// identity fields were not there.
var identityFree = map[string]map[string]bool{"score": {"no-entity": true, "bad-time": true}}

// TestOutcomeCoreModes: one table of records through run (both
// deliveries), backfill, score and /v1/predict gives the same outcome in
// every mode: the same prediction, or a dead letter at the same stage for
// the same reason.
func TestOutcomeCoreModes(t *testing.T) {
	modes := map[string]map[string]outcome{
		"run at-least-once": viaRun(t, "at-least-once"),
		"run exactly-once":  viaRun(t, "exactly-once"),
		"backfill":          viaBackfill(t),
		"score":             viaScore(t),
		"/v1/predict":       viaHTTP(t),
	}
	ref := modes["run at-least-once"]
	for _, c := range modeCases {
		want, ok := ref[c.name]
		if !ok {
			t.Errorf("%s: no outcome from run at-least-once", c.name)
			continue
		}
		for mode, got := range modes {
			o, ok := got[c.name]
			switch {
			case !ok:
				t.Errorf("%s: no outcome from %s", c.name, mode)
			case identityFree[mode][c.name]:
				if o.Dead || !want.Dead {
					t.Errorf("%s: %s gives %v, run at-least-once %v: want a prediction where the stream needs an identity", c.name, mode, o, want)
				}
			case o != want:
				t.Errorf("%s: %s gives %v, run at-least-once %v", c.name, mode, o, want)
			}
		}
	}
	// the table covers both outcomes and every stage it names
	stages := map[string]bool{}
	for _, o := range ref {
		stages[o.Stage] = true
	}
	if !stages[""] || !stages[producer.StageDecode] || !stages[producer.StageFeatures] {
		t.Fatalf("the cases reach stages %v only", stages)
	}
}

func modesConfig(t *testing.T, addrs []string, delivery string) config.Config {
	t.Helper()
	cfg, err := config.Load(map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": modesModel, "DELIVERY": delivery,
		"BATCH_INTERVAL": "20ms", "COMMIT_INTERVAL": "50ms"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func modesCluster(t *testing.T) []string {
	return testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "predictions", Partitions: 2},
		testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
}

var modesTime = time.UnixMilli(1795787100000)

func produceCases(t *testing.T, addrs []string) {
	var recs []*kgo.Record
	for _, c := range modeCases {
		recs = append(recs, &kgo.Record{Topic: "transactions", Key: []byte(c.name), Value: []byte(c.body), Timestamp: modesTime})
	}
	testkafka.Produce(t, addrs, recs...)
}

// fromTopics reads the outcomes back: predictions by event id, dead
// letters by key with their stage and error headers.
func fromTopics(t *testing.T, addrs []string, predTopic string, nPred, nDead int, opts ...kgo.Opt) map[string]outcome {
	t.Helper()
	out := map[string]outcome{}
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	for _, r := range testkafka.ReadN(t, addrs, predTopic, nPred, 30*time.Second, opts...) {
		p, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		out[p.EventID] = outcome{Score: p.Score, Label: p.Label, ModelVersion: p.ModelVersion}
	}
	for _, r := range testkafka.ReadN(t, addrs, "predictions-dlq", nDead, 30*time.Second, opts...) {
		o := outcome{Dead: true}
		for _, h := range r.Headers {
			switch h.Key {
			case producer.HeaderStage:
				o.Stage = string(h.Value)
			case producer.HeaderError:
				o.Reason = string(h.Value)
			}
		}
		out[string(r.Key)] = o
	}
	return out
}

func counts(ref map[string]outcome) (pred, dead int) {
	for _, o := range ref {
		if o.Dead {
			dead++
		} else {
			pred++
		}
	}
	return pred, dead
}

// expected counts of the table, known after the at-least-once run
var modesPred, modesDead int

func viaRun(t *testing.T, delivery string) map[string]outcome {
	addrs := modesCluster(t)
	produceCases(t, addrs)
	cfg := modesConfig(t, addrs, delivery)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := pipeline.New(ctx, cfg, pipeline.WithKafkaOptions(testkafka.ClientOpts()...))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var opts []kgo.Opt
	if delivery == "exactly-once" {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.Stats().Predictions.Load()+p.Stats().DeadLetters.Load() < int64(len(modeCases)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	nPred, nDead := int(p.Stats().Predictions.Load()), int(p.Stats().DeadLetters.Load())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if delivery == "at-least-once" {
		modesPred, modesDead = nPred, nDead
	}
	return fromTopics(t, addrs, "predictions", nPred, nDead, opts...)
}

func viaBackfill(t *testing.T) map[string]outcome {
	addrs := modesCluster(t)
	produceCases(t, addrs)
	cfg := modesConfig(t, addrs, "at-least-once")
	set, err := pipeline.LoadModels(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := backfill.Run(context.Background(), backfill.Options{Config: cfg, From: modesTime.Add(-time.Hour), To: modesTime.Add(time.Hour),
		Models: set, Extra: testkafka.ClientOpts(), IdleEnd: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return fromTopics(t, addrs, "predictions", int(sum.Predictions), int(sum.DeadLetters))
}

func fraudScorer(t *testing.T) *scoring.Scorer {
	m, err := load.Model(modesModel, load.Auto, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scoring.NewScorer(m, nil, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func viaScore(t *testing.T) map[string]outcome {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	var b strings.Builder
	for _, c := range modeCases {
		b.WriteString(c.body + "\n")
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := batchscore.Run(context.Background(), batchscore.Options{Scorer: fraudScorer(t), Input: in, Output: out, AllowMissingColumns: true})
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]outcome{}
	for _, line := range readLines(t, out) {
		var row struct {
			EventID      string  `json:"event_id"`
			Score        float64 `json:"score"`
			Label        int32   `json:"label"`
			ModelVersion string  `json:"model_version"`
		}
		if err := json.Unmarshal(line, &row); err != nil {
			t.Fatal(err)
		}
		res[row.EventID] = outcome{Score: row.Score, Label: row.Label, ModelVersion: row.ModelVersion}
	}
	for _, line := range readLines(t, sum.Rejects) {
		var rej struct {
			Line   int    `json:"line"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(line, &rej); err != nil {
			t.Fatal(err)
		}
		stage, reason, _ := strings.Cut(rej.Reason, ": ")
		res[modeCases[rej.Line-1].name] = outcome{Dead: true, Stage: stage, Reason: reason}
	}
	return res
}

func viaHTTP(t *testing.T) map[string]outcome {
	s := fraudScorer(t)
	h, err := httpapi.New(httpapi.Options{Models: modelset.Static(map[string]*scoring.Scorer{"transactions": s}),
		Inputs: []httpapi.Input{{Topic: "transactions", Type: schemas.Transaction}}, Names: schemas.DefaultFieldNames})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	res := map[string]outcome{}
	for _, c := range modeCases {
		resp, err := http.Post(srv.URL+"/v1/predict", "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error       string `json:"error"`
			Predictions []struct {
				Score        float64 `json:"score"`
				Label        int32   `json:"label"`
				ModelVersion string  `json:"model_version"`
			} `json:"predictions"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case resp.StatusCode == http.StatusOK && len(body.Predictions) == 1:
			p := body.Predictions[0]
			res[c.name] = outcome{Score: p.Score, Label: p.Label, ModelVersion: p.ModelVersion}
		case resp.StatusCode == http.StatusBadRequest:
			stage, reason, _ := strings.Cut(body.Error, ": ")
			res[c.name] = outcome{Dead: true, Stage: stage, Reason: reason}
		default:
			t.Fatalf("%s: status %d %+v", c.name, resp.StatusCode, body)
		}
	}
	return res
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	return out
}

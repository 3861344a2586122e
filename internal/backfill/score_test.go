package backfill

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/scoring"
)

// TestBackfillEqualsScore: one two-kind log, produced to co-partitioned
// topics and backfilled with --with-features, and written as a file of
// both kinds and scored with --with-features, gives every event the same
// feature cells and the same score, text for text.
func TestBackfillEqualsScore(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "activity", Partitions: 2},
		testkafka.Topic{Name: "predictions", Partitions: 1}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	log := entitytest.Log(5, 600)
	entitytest.Produce(t, addrs, log)
	dir := t.TempDir()

	// the log as a file: JSON lines with a kind column
	in := filepath.Join(dir, "log.jsonl")
	var b strings.Builder
	for _, e := range log {
		m := map[string]any{"event_type": string(e.Kind), "event_id": e.ID, "customer_id": e.Entity, "event_time": e.Ms}
		for k, v := range e.Fields {
			m[k] = v
		}
		line, _ := json.Marshal(m)
		b.Write(append(line, '\n'))
	}
	os.WriteFile(in, []byte(b.String()), 0o644)
	sc := entitytest.Scorer(t)
	scored := filepath.Join(dir, "scored.csv")
	if _, err := batchscore.Run(context.Background(), batchscore.Options{Scorer: sc, Input: in, Output: scored, WithFeatures: true}); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Load(map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions,activity",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "BATCH_MAX_SIZE": "50"})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "backfill.csv")
	from, to := time.UnixMilli(log[0].Ms), time.UnixMilli(log[len(log)-1].Ms+1)
	if _, err := Run(context.Background(), Options{Config: cfg, From: from, To: to, OutputFile: out, WithFeatures: true,
		Models: modelset.Static(map[string]*scoring.Scorer{"transactions": sc, "activity": sc}),
		Extra:  testkafka.ClientOpts(), IdleEnd: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}

	rows := func(path string) map[string]map[string]string {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]map[string]string{}
		for _, r := range recs[1:] {
			m := map[string]string{}
			for i, h := range recs[0] {
				m[h] = r[i]
			}
			out[m["event_id"]] = m
		}
		return out
	}
	fromScore, fromBackfill := rows(scored), rows(out)
	if len(fromScore) != len(log) || len(fromBackfill) != len(log) {
		t.Fatalf("score wrote %d rows, backfill %d, want %d", len(fromScore), len(fromBackfill), len(log))
	}
	nonzero := 0
	for id, s := range fromScore {
		k := fromBackfill[id]
		for _, name := range append([]string{batchscore.ColScore}, entitytest.Names...) {
			if s[name] != k[name] {
				t.Fatalf("%s: %s is %q in score's file, %q in backfill's", id, name, s[name], k[name])
			}
		}
		if s["failed_logins_1h"] != "0" {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("no event saw a failed login: nothing was compared")
	}
}

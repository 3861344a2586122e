package backfill

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/scoring"
)

// TestBackfillWarmsEntityState: a range in the middle of a two-kind log,
// backfilled to a file with --with-features. The replay starts the longest
// window before --from, so the range's first events see their history:
// every row's features equal the brute-force reference over the whole log,
// and exactly the range's events are scored.
func TestBackfillWarmsEntityState(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 3}, testkafka.Topic{Name: "activity", Partitions: 3},
		testkafka.Topic{Name: "predictions", Partitions: 1}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	log := entitytest.Log(3, 900)
	entitytest.Produce(t, addrs, log)
	// from: an event's time (later events at the same millisecond are in
	// range too); to: exclusive.
	from, to := time.UnixMilli(log[500].Ms), time.UnixMilli(log[800].Ms)
	want := map[string]entitytest.Event{}
	for _, e := range log {
		if e.Ms >= from.UnixMilli() && e.Ms < to.UnixMilli() {
			want[e.ID] = e
		}
	}
	cfg, err := config.Load(map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions,activity",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "BATCH_MAX_SIZE": "32"})
	if err != nil {
		t.Fatal(err)
	}
	sc := entitytest.Scorer(t)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	o := Options{Config: cfg, From: from, To: to, OutputFile: out, WithFeatures: true,
		Models: modelset.Static(map[string]*scoring.Scorer{"transactions": sc, "activity": sc}),
		Extra:  testkafka.ClientOpts(), IdleEnd: 3 * time.Second}
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.InRange != int64(len(want)) || sum.Predictions != sum.InRange || sum.DeadLetters != 0 {
		t.Fatalf("summary %+v, want %d in range", sum, len(want))
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	bad := 0
	sc2 := bufio.NewScanner(f)
	for sc2.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc2.Bytes(), &row); err != nil {
			t.Fatalf("%s: %v", sc2.Text(), err)
		}
		id, _ := row["event_id"].(string)
		e, ok := want[id]
		if !ok || seen[id] {
			t.Fatalf("row for %q: out of range or repeated", id)
		}
		seen[id] = true
		got := make([]float64, len(entitytest.Names))
		for i, name := range entitytest.Names {
			got[i] = cell(t, row, name)
		}
		for _, d := range entitytest.Diff(log, e, got) {
			if bad++; bad < 10 {
				t.Error(d)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d feature values differ from the reference", bad)
	}
	if len(seen) != len(want) {
		t.Fatalf("%d rows, want %d", len(seen), len(want))
	}
}

// cell reads a feature column of a JSON row: a number, or empty/absent
// for missing.
func cell(t *testing.T, row map[string]any, name string) float64 {
	t.Helper()
	switch v := row[name].(type) {
	case nil:
		return math.NaN()
	case float64:
		return v
	case string:
		if v == "" {
			return math.NaN()
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("column %s: %q", name, v)
		}
		return x
	default:
		t.Fatalf("column %s: %T", name, v)
	}
	return 0
}

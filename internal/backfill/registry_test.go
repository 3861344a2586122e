package backfill

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/internal/testregistry"
)

// TestBackfillWaitsForSchemaRegistry: avro-confluent input while the
// registry answers schema lookups with 503 for the first second. The
// backfill waits instead of rejecting: every event is scored, none is a
// dead letter.
func TestBackfillWaitsForSchemaRegistry(t *testing.T) {
	reg := testregistry.New(t)
	reg.Down.Store(true)
	addrs := cluster(t)
	recs, ids := reg.Transactions(t, "r-", 30, from.Add(time.Hour))
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	testkafka.Produce(t, addrs, recs...)

	o := options(t, addrs)
	var err error
	if o.Config, err = config.Load(map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "avro-confluent", "OUTPUT_ENCODING": "json", "SCHEMA_REGISTRY_URL": reg.URL(),
		"MODEL_PATH": fraudModel, "BATCH_MAX_SIZE": "10"}); err != nil {
		t.Fatal(err)
	}
	o.OutputFile = filepath.Join(t.TempDir(), "out.jsonl")
	time.AfterFunc(time.Second, func() { reg.Down.Store(false) })
	start := time.Now()
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeadLetters != 0 || sum.Predictions != 30 {
		t.Fatalf("summary %+v: want 30 predictions, no dead letters", sum)
	}
	var scored []string
	for _, r := range readRows(t, o.OutputFile) {
		scored = append(scored, r.EventID)
	}
	checkExactly(t, scored, want)
	if time.Since(start) < time.Second {
		t.Fatalf("finished in %v, before the registry came back", time.Since(start))
	}
}

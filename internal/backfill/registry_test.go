package backfill

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// TestBackfillWaitsForSchemaRegistry: avro-confluent input while the
// registry answers schema lookups with 503 for the first second. The
// backfill waits instead of rejecting: every event is scored, none is a
// dead letter.
func TestBackfillWaitsForSchemaRegistry(t *testing.T) {
	fake := srfake.New()
	defer fake.Close()
	id, _, err := fake.RegisterSchema("transactions-value", sr.Schema{Schema: schemas.TransactionSchema, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	down.Store(true)
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if down.Load() && strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	addrs := cluster(t)
	enc, _ := schemas.NewEventEncoder(schemas.Avro, schemas.Transaction, schemas.DefaultFieldNames)
	var h sr.ConfluentHeader
	want := map[string]bool{}
	var recs []*kgo.Record
	ts := from.Add(time.Hour)
	for i := 0; i < 30; i++ {
		eid := fmt.Sprintf("r-%d", i)
		ev := &schemas.Event{Fields: []schemas.Field{{Name: "event_id", Value: schemas.StringValue(eid)},
			{Name: "customer_id", Value: schemas.StringValue("c")}, {Name: "event_time", Value: schemas.NumberValue(float64(ts.UnixMilli()))},
			{Name: "amount", Value: schemas.NumberValue(float64(i))}}}
		b, _ := h.AppendEncode(nil, id, nil)
		if b, err = enc.Append(b, ev); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: "transactions", Value: b, Timestamp: ts})
		want[eid] = true
	}
	testkafka.Produce(t, addrs, recs...)

	o := options(t, addrs)
	if o.Config, err = config.Load(map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "avro-confluent", "OUTPUT_ENCODING": "json", "SCHEMA_REGISTRY_URL": fake.URL(),
		"MODEL_PATH": fraudModel, "BATCH_MAX_SIZE": "10"}); err != nil {
		t.Fatal(err)
	}
	o.OutputFile = filepath.Join(t.TempDir(), "out.jsonl")
	time.AfterFunc(time.Second, func() { down.Store(false) })
	start := time.Now()
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeadLetters != 0 || sum.Predictions != 30 {
		t.Fatalf("summary %+v: want 30 predictions, no dead letters", sum)
	}
	var ids []string
	for _, r := range readRows(t, o.OutputFile) {
		ids = append(ids, r.EventID)
	}
	checkExactly(t, ids, want)
	if time.Since(start) < time.Second {
		t.Fatalf("finished in %v, before the registry came back", time.Since(start))
	}
}

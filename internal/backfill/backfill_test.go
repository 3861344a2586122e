package backfill

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

const fraudModel = "../../scoring/xgboost/testdata/xgb_fraud.json"

var (
	from = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to   = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
)

// seed writes events across partitions 0..2 of transactions (partition 3
// stays empty) with timestamps before, at and inside the range, at `to`
// and after it, not in time order, and returns the ids that are in range.
func seed(t *testing.T, addrs []string, prefix string, n int) map[string]bool {
	t.Helper()
	enc, _ := schemas.NewEventEncoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	stamps := []time.Time{from.Add(-time.Millisecond), from, from.Add(7 * time.Hour), to.Add(-time.Millisecond), to, to.Add(time.Hour), from.Add(3 * time.Hour)}
	in := map[string]bool{}
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		ts := stamps[i%len(stamps)]
		id := fmt.Sprintf("%s-%d", prefix, i)
		ev := &schemas.Event{Fields: []schemas.Field{{Name: "event_id", Value: schemas.StringValue(id)},
			{Name: "customer_id", Value: schemas.StringValue(fmt.Sprintf("c%d", i%5))},
			{Name: "event_time", Value: schemas.NumberValue(float64(ts.UnixMilli()))},
			{Name: "amount", Value: schemas.NumberValue(float64(i % 900))}}}
		b, _ := enc.Append(nil, ev)
		recs = append(recs, &kgo.Record{Topic: "transactions", Partition: int32(i % 3), Value: b, Timestamp: ts})
		if !ts.Before(from) && ts.Before(to) {
			in[id] = true
		}
	}
	cl := testkafka.Client(t, addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return in
}

func options(t *testing.T, addrs []string) Options {
	t.Helper()
	cfg, err := config.Load(map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "BATCH_MAX_SIZE": "10"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := modelset.Open([]modelset.RouteSpec{{Topics: []string{"transactions"}, Path: fraudModel}}, scoring.DefaultPolicy, []string{"transactions"})
	if err != nil {
		t.Fatal(err)
	}
	return Options{Config: cfg, From: from, To: to, Models: set, Extra: testkafka.ClientOpts(), IdleEnd: 3 * time.Second}
}

func cluster(t *testing.T) []string {
	return testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 4},
		testkafka.Topic{Name: "predictions", Partitions: 2}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1},
		testkafka.Topic{Name: "rescored", Partitions: 2})
}

type fileRow struct {
	EventID      string  `json:"event_id"`
	Score        float64 `json:"score"`
	ModelVersion string  `json:"model_version"`
	ScoredAt     string  `json:"scored_at"`
	SourceOffset string  `json:"source_offset"`
}

func readRows(t *testing.T, path string) []fileRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []fileRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r fileRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

func checkExactly(t *testing.T, ids []string, want map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range ids {
		if !want[id] || seen[id] {
			t.Fatalf("unexpected or duplicate %s", id)
		}
		seen[id] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("%d of %d in-range events scored", len(seen), len(want))
	}
}

func TestBackfillToFileAndDeterminism(t *testing.T) {
	addrs := cluster(t)
	want := seed(t, addrs, "a", 140)
	o := options(t, addrs)
	dir := t.TempDir()
	var late map[string]bool
	o.afterSnapshot = func() { late = seed(t, addrs, "late", 21) } // appended after the snapshot
	o.OutputFile = filepath.Join(dir, "out.jsonl")
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// the first record of partition 0 (from − 1ms) precedes the offset for
	// --from and is not read; later out-of-range ones are read and filtered
	if sum.Read != 139 || sum.InRange != int64(len(want)) || sum.Predictions != sum.InRange || sum.DeadLetters != 0 {
		t.Fatalf("summary %+v (want %d in range)", sum, len(want))
	}
	rows := readRows(t, o.OutputFile)
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.EventID)
		if late[r.EventID] {
			t.Fatalf("%s was appended after the snapshot", r.EventID)
		}
	}
	checkExactly(t, ids, want)
	// the same range again gives the same predictions but for scored_at
	o.afterSnapshot = nil
	o.OutputFile = filepath.Join(dir, "again.jsonl")
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	again := readRows(t, o.OutputFile)
	key := func(rs []fileRow) []string {
		var out []string
		for _, r := range rs {
			if !late[r.EventID] {
				out = append(out, fmt.Sprintf("%s %v %s %s", r.EventID, r.Score, r.ModelVersion, r.SourceOffset))
			}
		}
		sort.Strings(out)
		return out
	}
	if a, b := key(rows), key(again); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Error("two runs over the same range differ")
	}
}

func TestBackfillToTopic(t *testing.T) {
	addrs := cluster(t)
	want := seed(t, addrs, "b", 70)
	o := options(t, addrs)
	o.OutputTopic = "rescored"
	sum, err := Run(context.Background(), o)
	if err != nil || sum.Predictions != int64(len(want)) {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	var ids []string
	for _, r := range testkafka.ReadN(t, addrs, "rescored", len(want), 20*time.Second) {
		p, _ := dec.Decode(r.Value)
		ids = append(ids, p.EventID)
	}
	checkExactly(t, ids, want)
	if n := len(testkafka.ReadN(t, addrs, "predictions", 1, time.Second)); n != 0 {
		t.Errorf("%d records on the default predictions topic", n)
	}
}

// interruptAt runs o and interrupts it once n records are read, then
// writes its resume file and reads it back.
func interruptAt(t *testing.T, o Options, n int64) (sum Summary, st *State, statePath string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.afterBatch = func(read int64) {
		if read >= n {
			cancel()
		}
	}
	sum, err := Run(ctx, o)
	if !errors.Is(err, ErrInterrupted) || sum.State == nil || sum.State.Remaining() == 0 {
		t.Fatalf("interrupt: %v, %+v", err, sum)
	}
	statePath = filepath.Join(t.TempDir(), "resume.json")
	if err := sum.State.Write(statePath); err != nil {
		t.Fatal(err)
	}
	if st, err = ReadState(statePath); err != nil {
		t.Fatal(err)
	}
	return sum, st, statePath
}

func TestBackfillResumeExactlyOnce(t *testing.T) {
	addrs := cluster(t)
	want := seed(t, addrs, "c", 210)
	o := options(t, addrs)
	o.OutputFile = filepath.Join(t.TempDir(), "out.csv")
	sum, st, _ := interruptAt(t, o, 60)
	o.afterBatch, o.Resume, o.From, o.To = nil, st, st.From, st.To
	sum2, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read+sum2.Read != 209 || sum.Predictions+sum2.Predictions != int64(len(want)) {
		t.Fatalf("first %+v, second %+v", sum, sum2)
	}
	b, _ := os.ReadFile(o.OutputFile)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if !strings.HasPrefix(lines[0], "event_id,entity_id,event_type,event_time,source_topic,source_partition,source_offset,score,label") {
		t.Fatalf("header %s", lines[0])
	}
	var ids []string
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "event_id,") {
			t.Fatal("the header was written again on resume")
		}
		ids = append(ids, strings.Split(l, ",")[0])
	}
	checkExactly(t, ids, want)
}

func TestBackfillErrors(t *testing.T) {
	addrs := cluster(t)
	o := options(t, addrs)
	o.From, o.To = to, from
	if _, err := Run(context.Background(), o); !errors.Is(err, ErrRange) {
		t.Errorf("from after to: %v", err)
	}
	o = options(t, addrs)
	o.Config.InputTopics = []string{"nope"}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), `"nope" does not exist`) {
		t.Errorf("unknown topic: %v", err)
	}
	o = options(t, addrs)
	o.OutputFile = "/nonexistent-dir/out.jsonl"
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "--output-file") {
		t.Errorf("unwritable output: %v", err)
	}
	o = options(t, addrs)
	o.Config.Brokers = []string{"127.0.0.1:1"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Run(ctx, o); err == nil || !strings.Contains(err.Error(), "brokers") {
		t.Errorf("unreachable broker: %v", err)
	}
}

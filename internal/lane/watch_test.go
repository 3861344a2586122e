package lane

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/internal/quality"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// percent is a binary classifier: P(class 1) = n/100.
type percent struct{}

func (percent) Info() scoring.Info {
	return scoring.Info{Name: "pct", Version: "v1", Features: []string{"n"}, Output: scoring.Binary, Classes: 2}
}

func (percent) Predict(x, out []float32) error {
	for i, v := range x {
		out[i] = v / 100
	}
	return nil
}

// watchSink records a lane's outcomes, settles and challengers.
type watchSink struct {
	mu        sync.Mutex
	preds     map[string]float64
	dead      []string
	settled   []int64
	malformed []string
}

func (s *watchSink) Prediction(it *Item[int64], pred *schemas.Prediction, _ string) {
	s.mu.Lock()
	s.preds[pred.EventID] = pred.Score
	s.mu.Unlock()
}

func (s *watchSink) DeadLetter(it *Item[int64], _ string, err error) {
	s.mu.Lock()
	s.dead = append(s.dead, fmt.Sprintf("%s@%d: %v", it.Kafka.Topic, it.Kafka.Offset, err))
	s.mu.Unlock()
}

func (s *watchSink) Abandon(*kgo.Record, int64) {}

func (s *watchSink) Settle(rec *kgo.Record, ref int64) {
	s.mu.Lock()
	s.settled = append(s.settled, ref)
	s.mu.Unlock()
}

func (s *watchSink) Shadow(*Item[int64], *modelset.Route, *schemas.Prediction, string) {}

func (s *watchSink) counts() (preds, dead, settled int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.preds), len(s.dead), len(s.settled)
}

type watchFixture struct {
	set  *Set[int64]
	sink *watchSink
	reg  *quality.Registry
}

func newWatchFixture(t *testing.T, atCommit bool) *watchFixture {
	t.Helper()
	sc, err := scoring.NewScorer(percent{}, nil, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := schemas.NewDecoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	core, err := outcome.New(modelset.Static(map[string]*scoring.Scorer{"tx": sc}), []outcome.Input{{Topic: "tx", Kind: schemas.Transaction, Decoder: dec}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	labels, _ := schemas.NewLabelDecoder(schemas.JSON)
	reg, _ := quality.NewRegistry(quality.Options{LabelWindow: time.Hour, PendingFor: time.Minute})
	f := &watchFixture{sink: &watchSink{preds: map[string]float64{}}, reg: reg}
	f.set, err = NewSet(Config{Core: core, MaxSize: 100, Interval: time.Millisecond,
		Watch: &Watch{LabelsTopic: "labels", Labels: labels, Quality: reg, AtCommit: atCommit, MaxDeferred: 1000,
			Malformed: func(_ *kgo.Record, err error) {
				f.sink.mu.Lock()
				f.sink.malformed = append(f.sink.malformed, err.Error())
				f.sink.mu.Unlock()
			}}},
		func(int32) Sink[int64] { return f.sink })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.set.Stop(context.Background()) })
	return f
}

// tBase is now: a prediction's time is when it is made (the lane's clock),
// a label's its record's timestamp, and the store orders them together.
var tBase = time.Now().Truncate(time.Second)

// events are transactions e<from>…e<from+n-1> of partition 0, n = i.
func events(from, n int) Chunk[int64] {
	c := Chunk[int64]{Topic: "tx"}
	for i := from; i < from+n; i++ {
		v := fmt.Sprintf(`{"event_id":"e%d","customer_id":"c","event_time":1,"n":%d}`, i, i)
		c.Records = append(c.Records, &kgo.Record{Topic: "tx", Offset: int64(i), Value: []byte(v), Timestamp: tBase})
		c.Refs = append(c.Refs, int64(i))
	}
	return c
}

// labelChunk is records of the labels topic with the given values, at
// tBase plus a second per record.
func labelChunk(from int64, values ...string) Chunk[int64] {
	c := Chunk[int64]{Topic: "labels"}
	for i, v := range values {
		off := from + int64(i)
		c.Records = append(c.Records, &kgo.Record{Topic: "labels", Offset: off, Value: []byte(v), Timestamp: tBase.Add(time.Duration(off) * time.Second)})
		c.Refs = append(c.Refs, 1000+off)
	}
	return c
}

func lbl(id string, y int) string { return fmt.Sprintf(`{"event_id":%q,"label":%d}`, id, y) }

func (f *watchFixture) barrier(t *testing.T) {
	t.Helper()
	if err := f.set.Barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// snapshot takes the windows ending just before tBase + 1 h: the 1 h
// window holds every pair joined from tBase on.
func (f *watchFixture) snapshot() quality.Snapshot {
	return f.reg.Snapshot(tBase.Add(time.Hour - time.Millisecond))
}

// TestLaneJoinsLabels: labels join the lane's predictions; a label
// before its prediction waits for it; duplicates, unknown ids and
// invalid values are counted; a malformed label is told to Malformed
// with its reason, never dead-lettered; every label record is settled.
func TestLaneJoinsLabels(t *testing.T) {
	f := newWatchFixture(t, false)
	_ = f.set.Push(labelChunk(0, lbl("e7", 1))) // before its prediction
	_ = f.set.Push(events(0, 10))
	f.barrier(t)
	_ = f.set.Push(labelChunk(1, lbl("e1", 1), lbl("e2", 0), lbl("e3", 1), `{"label":1}`, lbl("e4", 2), lbl("e2", 1), lbl("nobody", 0), `not json`))
	f.barrier(t)
	preds, dead, settled := f.sink.counts()
	if preds != 10 || dead != 0 || settled != 9 {
		t.Fatalf("%d predictions, %d dead letters %v, %d settled; want 10, 0, 9", preds, dead, f.sink.dead, settled)
	}
	want := []string{"LABELS_TOPIC labels partition 0 offset 4: malformed record: label: no event_id", "LABELS_TOPIC labels partition 0 offset 8: malformed record: label:"}
	if len(f.sink.malformed) != len(want) {
		t.Fatalf("malformed %q, want %d", f.sink.malformed, len(want))
	}
	for i, w := range want {
		if got := f.sink.malformed[i]; len(got) < len(w) || got[:len(w)] != w {
			t.Errorf("malformed[%d] = %q, want it to start %q", i, got, w)
		}
	}
	snap := f.snapshot()
	c := snap.Counts
	if c.Labels[quality.Joined] != 3 || c.Labels[quality.JoinedPending] != 1 || c.Labels[quality.Duplicate] != 1 ||
		c.Labels[quality.Invalid] != 1 || c.Pending != 1 || c.Predictions != 10 {
		t.Fatalf("counts %+v", c)
	}
	if len(snap.Series) != 1 || snap.Series[0].Model != "pct" || snap.Series[0].Version != "v1" {
		t.Fatalf("series %+v", snap.Series)
	}
	// the pairs: (0.07, 1), (0.01, 1), (0.02, 0) — the first label of e2 wins —, (0.03, 1)
	wantQ := quality.Evaluate([]quality.Pair{{Score: float64(float32(7) / 100), Label: 1}, {Score: float64(float32(1) / 100), Label: 1},
		{Score: float64(float32(2) / 100), Label: 0}, {Score: float64(float32(3) / 100), Label: 1}})
	if got := snap.Series[0].Windows[0].Scores; got.N != 4 || got.AUC != wantQ.AUC || got.LogLoss != wantQ.LogLoss || got.Brier != wantQ.Brier {
		t.Errorf("1h window %+v, want %+v", got, wantQ)
	}
}

// TestLaneLabelsAtCommit: under exactly-once the store sees a
// transaction's predictions and labels only once it commits; an abort
// drops them (the records come again).
func TestLaneLabelsAtCommit(t *testing.T) {
	f := newWatchFixture(t, true)
	_ = f.set.Push(events(0, 5))
	f.barrier(t) // the predictions before the labels: joined, not pending
	_ = f.set.Push(labelChunk(0, lbl("e1", 1), lbl("e2", 0)))
	f.barrier(t)
	if c := f.snapshot().Counts; c.Predictions != 0 || c.Labels[quality.Joined] != 0 {
		t.Fatalf("before the commit: %+v", c)
	}
	f.set.Aborted()
	if c := f.snapshot().Counts; c.Predictions != 0 {
		t.Fatalf("after an abort: %+v", c)
	}
	_ = f.set.Push(events(0, 5)) // fetched again
	f.barrier(t)
	_ = f.set.Push(labelChunk(0, lbl("e1", 1), lbl("e2", 0)))
	f.barrier(t)
	f.set.Committed()
	if c := f.snapshot().Counts; c.Predictions != 5 || c.Labels[quality.Joined] != 2 || c.Labels[quality.Duplicate] != 0 {
		t.Fatalf("after the commit: %+v", c)
	}
}

// TestLaneLabelRebuild: while the label state is rebuilt the lane scores
// on, its new predictions and labels wait; the replay comes first, then
// they; a replay the lane no longer expects is ignored; the replayed
// records are not counted again.
func TestLaneLabelRebuild(t *testing.T) {
	f := newWatchFixture(t, false)
	reg := f.reg
	if err := f.set.StartLabelRebuild([]int32{0}, 7); err != nil {
		t.Fatal(err)
	}
	_ = f.set.Push(events(10, 3)) // scored now, kept for later
	f.barrier(t)
	_ = f.set.Push(labelChunk(0, lbl("old", 1), lbl("e11", 0))) // "old" was predicted before the rebuild
	f.barrier(t)
	if preds, _, _ := f.sink.counts(); preds != 3 {
		t.Fatalf("%d predictions while rebuilding, want 3", preds)
	}
	if c := f.snapshot().Counts; c.Predictions != 0 || c.Pending != 0 {
		t.Fatalf("applied before the replay: %+v", c)
	}
	replay := []quality.Op{{ID: reg.ID("old"), At: tBase.Add(-time.Minute).UnixMilli(), Model: "pct", Version: "v0", Score: 0.9},
		{ID: reg.ID("older"), At: tBase.Add(-time.Minute).UnixMilli(), Model: "pct", Version: "v0", Score: 0.2},
		{ID: reg.ID("older"), At: tBase.Add(-30 * time.Second).UnixMilli(), IsLabel: true, Label: 0}}
	_ = f.set.ReplayLabels(0, 6, replay) // an earlier rebuild's: ignored
	f.barrier(t)
	if c := f.snapshot().Counts; c.Predictions != 0 {
		t.Fatalf("a stale replay was applied: %+v", c)
	}
	_ = f.set.ReplayLabels(0, 7, replay)
	f.barrier(t)
	snap := f.snapshot()
	c := snap.Counts
	// live: 3 predictions, "old" joins the replayed prediction, e11 joins its own
	if c.Predictions != 3 || c.Labels[quality.Joined] != 2 || c.Kept != 5 {
		t.Fatalf("after the replay: %+v", c)
	}
	byVersion := map[string]int{}
	for _, se := range snap.Series {
		byVersion[se.Version] = se.Windows[2].N
	}
	if byVersion["v0"] != 2 || byVersion["v1"] != 1 {
		t.Fatalf("pairs by version %v, want v0: 2 (old, older), v1: 1 (e11)", byVersion)
	}
	// a revoke forgets the state; the counters stay in the registry
	if err := f.set.Flush(context.Background(), []Partition{{Topic: "tx"}, {Topic: "labels"}}); err != nil {
		t.Fatal(err)
	}
	if c := f.snapshot().Counts; c.Kept != 0 || c.Predictions != 3 {
		t.Fatalf("after a revoke: %+v", c)
	}
}

package lane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/window"
)

// identity scores a row as its feature n.
type identity struct{}

func (identity) Info() scoring.Info {
	return scoring.Info{Name: "id", Version: "1", Features: []string{"n"}, Output: scoring.Regression, Classes: 1}
}

func (identity) Predict(x, out []float32) error {
	copy(out, x)
	return nil
}

// flaky decodes JSON, but answers ErrUnavailable while down is set.
type flaky struct {
	schemas.Decoder
	down  atomic.Bool
	tries atomic.Int64
}

func (f *flaky) Decode(v []byte, ev *schemas.Event) error {
	f.tries.Add(1)
	if f.down.Load() {
		return fmt.Errorf("schema id 1: %w", schemas.ErrUnavailable)
	}
	return f.Decoder.Decode(v, ev)
}

type outcomeRec struct {
	topic     string
	partition int32
	offset    int64
	dead      bool
	abandoned bool
	score     float64
}

type recorder struct {
	mu  sync.Mutex
	out []outcomeRec
}

func (r *recorder) add(o outcomeRec) {
	r.mu.Lock()
	r.out = append(r.out, o)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []outcomeRec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]outcomeRec(nil), r.out...)
}

func (r *recorder) Prediction(it *Item[int64], pred *schemas.Prediction, _ string) {
	r.add(outcomeRec{topic: it.Kafka.Topic, partition: it.Kafka.Partition, offset: it.Ref, score: pred.Score})
}

func (r *recorder) DeadLetter(it *Item[int64], _ string, _ error) {
	r.add(outcomeRec{topic: it.Kafka.Topic, partition: it.Kafka.Partition, offset: it.Ref, dead: true})
}

func (r *recorder) Abandon(rec *kgo.Record, ref int64) {
	r.add(outcomeRec{topic: rec.Topic, partition: rec.Partition, offset: ref, abandoned: true})
}

type fixture struct {
	set     *Set[int64]
	rec     *recorder
	dec     *flaky
	batches atomic.Int64
	paused  atomic.Int64
}

func newFixture(t *testing.T, maxSize int, interval time.Duration) *fixture {
	t.Helper()
	sc, err := scoring.NewScorer(identity{}, nil, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	json, _ := schemas.NewDecoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	f := &fixture{rec: &recorder{}, dec: &flaky{Decoder: json}}
	core, err := outcome.New(modelset.Static(map[string]*scoring.Scorer{"tx": sc, "other": sc}),
		[]outcome.Input{{Topic: "tx", Kind: schemas.Transaction, Decoder: f.dec}, {Topic: "other", Kind: schemas.Transaction, Decoder: f.dec}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.set, err = NewSet(Config{Core: core, MaxSize: maxSize, Interval: interval, Hooks: Hooks{
		Batch: func(window.Trigger, int, time.Time, time.Time) { f.batches.Add(1) },
		Pause: func(string, int32) { f.paused.Add(1) },
	}}, func(int32) Sink[int64] { return f.rec })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.set.Stop(context.Background()) })
	return f
}

// chunk makes n records of a partition from offset from; every seventh is
// malformed.
func chunk(partition int32, from, n int64) Chunk[int64] {
	c := Chunk[int64]{Topic: "tx", Partition: partition}
	for off := from; off < from+n; off++ {
		v := fmt.Sprintf(`{"event_id":"e%d","customer_id":"c","event_time":%d,"n":%d}`, off, 1000+off, off)
		if off%7 == 3 {
			v = `{"event_id":`
		}
		c.Records = append(c.Records, &kgo.Record{Topic: "tx", Partition: partition, Offset: off, Value: []byte(v)})
		c.Refs = append(c.Refs, off)
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLanesKeepPartitionOrder pushes many partitions' records in small
// chunks to lanes running in parallel: every record gets one outcome, the
// outcomes of a partition come in offset order, and each prediction is the
// record's own.
func TestLanesKeepPartitionOrder(t *testing.T) {
	f := newFixture(t, 50, time.Millisecond)
	const parts, per = 8, 3000
	for from := int64(0); from < per; from += 100 {
		for p := range int32(parts) {
			if err := f.set.Push(chunk(p, from, 100)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.set.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := f.rec.snapshot()
	if len(out) != parts*per {
		t.Fatalf("%d outcomes, want %d", len(out), parts*per)
	}
	next := map[int32]int64{}
	for _, o := range out {
		if o.offset != next[o.partition] {
			t.Fatalf("partition %d: offset %d after %d", o.partition, o.offset, next[o.partition]-1)
		}
		next[o.partition]++
		if wantDead := o.offset%7 == 3; o.dead != wantDead || (!o.dead && o.score != float64(o.offset)) {
			t.Fatalf("partition %d offset %d: %+v", o.partition, o.offset, o)
		}
	}
}

// TestLaneBatchTriggers: a batch closes at its size, and a partial batch
// after its interval.
func TestLaneBatchTriggers(t *testing.T) {
	f := newFixture(t, 10, 50*time.Millisecond)
	c := chunk(0, 0, 24) // offsets 3, 10, 17 are dead letters: 21 records reach the window
	for i := range c.Records {
		c.Records[i].Value = []byte(fmt.Sprintf(`{"event_id":"e","customer_id":"c","event_time":1,"n":%d}`, i))
	}
	start := time.Now()
	_ = f.set.Push(c)
	waitFor(t, "two full batches", func() bool { return len(f.rec.snapshot()) >= 20 })
	if got := len(f.rec.snapshot()); got != 20 {
		t.Fatalf("%d outcomes before the interval, want 20", got)
	}
	waitFor(t, "the partial batch", func() bool { return len(f.rec.snapshot()) == 24 })
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("the partial batch closed after %v, before its interval", waited)
	}
	if f.batches.Load() != 3 {
		t.Fatalf("%d batches, want 3", f.batches.Load())
	}
}

// TestLaneWaitsForTheRegistry: while the registry does not answer, the
// lane holds its records (no outcome, none dead-lettered), pauses the
// partition, and retries; once it answers, every record is settled in
// order.
func TestLaneWaitsForTheRegistry(t *testing.T) {
	f := newFixture(t, 5, time.Millisecond)
	f.dec.down.Store(true)
	_ = f.set.Push(chunk(0, 0, 20))
	_ = f.set.Push(chunk(0, 20, 20))
	waitFor(t, "retries", func() bool { return f.dec.tries.Load() >= 3 })
	if out := f.rec.snapshot(); len(out) != 0 || f.paused.Load() != 1 {
		t.Fatalf("outcomes %v while waiting, paused %d times", out, f.paused.Load())
	}
	f.dec.down.Store(false)
	waitFor(t, "every record", func() bool { return len(f.rec.snapshot()) == 40 })
	for i, o := range f.rec.snapshot() {
		if o.offset != int64(i) || o.abandoned {
			t.Fatalf("outcome %d: %+v", i, o)
		}
	}
}

// TestLaneGivesUpOnRevoke: a revoke while the lane waits for the registry
// gives up the revoked partition's records, newest first, and does not
// wait for the registry; the lane's other partitions wait on.
func TestLaneGivesUpOnRevoke(t *testing.T) {
	f := newFixture(t, 5, time.Millisecond)
	f.dec.down.Store(true)
	c := chunk(0, 0, 6)
	other := Chunk[int64]{Topic: "other", Partition: 0}
	for i := range 3 {
		other.Records = append(other.Records, &kgo.Record{Topic: "other", Partition: 0, Offset: int64(i),
			Value: []byte(`{"event_id":"e","customer_id":"c","event_time":1,"n":1}`)})
		other.Refs = append(other.Refs, int64(100+i))
	}
	_ = f.set.Push(c)
	_ = f.set.Push(other)
	waitFor(t, "a retry", func() bool { return f.dec.tries.Load() >= 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.set.Flush(ctx, []Partition{{"tx", 0}}); err != nil {
		t.Fatal(err)
	}
	out := f.rec.snapshot()
	if len(out) != 6 {
		t.Fatalf("outcomes %v, want the 6 records of tx/0 abandoned", out)
	}
	for i, o := range out {
		if !o.abandoned || o.topic != "tx" || o.offset != int64(5-i) {
			t.Fatalf("outcome %d: %+v (want tx offsets 5..0 abandoned, newest first)", i, o)
		}
	}
	// The other topic's records (not revoked) come next: they wait too.
	time.Sleep(50 * time.Millisecond)
	if got := len(f.rec.snapshot()); got != 6 {
		t.Fatalf("%d outcomes while the registry is down", got)
	}
	f.dec.down.Store(false)
	waitFor(t, "the other partition", func() bool { return len(f.rec.snapshot()) == 9 })
	for _, o := range f.rec.snapshot()[6:] {
		if o.topic != "other" || o.dead || o.abandoned {
			t.Fatalf("other partition: %+v", o)
		}
	}
}

// TestLaneBarrier: a barrier closes every lane's open batch at once, and
// reports a record that waits for the registry as an error (the
// transaction aborts) after giving the lane's records up.
func TestLaneBarrier(t *testing.T) {
	f := newFixture(t, 1000, time.Hour)
	for p := range int32(3) {
		_ = f.set.Push(chunk(p, 0, 10))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.set.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(f.rec.snapshot()); got != 30 {
		t.Fatalf("%d outcomes after the barrier, want 30", got)
	}
	f.dec.down.Store(true)
	_ = f.set.Push(chunk(1, 10, 10))
	if err := f.set.Barrier(ctx); !errors.Is(err, schemas.ErrUnavailable) {
		t.Fatalf("barrier while waiting for the registry: %v", err)
	}
	if got := len(f.rec.snapshot()); got != 40 {
		t.Fatalf("%d outcomes, want 40 (10 abandoned)", got)
	}
}

//go:build !race

package lane

import (
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/quality"
	"github.com/streamscore/streamscore/schemas"
)

// TestCatchUpReusesItems: a lane with entity aggregates decodes a chunk's
// records into its event-time merge only two batches ahead of scoring
// them, so a chunk of 80 batches (a catch-up's backlog) reuses the items
// of the batches scored before, with nothing pooled, instead of holding
// every record decoded at once and allocating an event's storage for each.
func TestCatchUpReusesItems(t *testing.T) {
	const n = 4000 // 80 batches of 50
	push := recordPath(t, schemas.JSON, n, Config{MaxSize: 50}, true)
	push()
	run := func() {
		runtime.GC() // two collections empty a sync.Pool: only what the lane keeps is reused
		runtime.GC()
		push()
	}
	// what remains is the entity state growing with the history (0.13);
	// with every record decoded before the merge, 9.8
	if got := testing.AllocsPerRun(3, run) / n; got > 0.5 {
		t.Errorf("%.2f allocations per record, want at most 0.5", got)
	}
}

// TestMergeTakesCaughtUpNewsAhead: a newly assigned partition's first
// fetch that finds it empty arrives behind the other partition's records
// (one poll brings both); the lane takes that news before it has decoded
// those records, so the merge stops waiting for the partition at once and
// the lane holds a few batches of decoded records, not the whole backlog.
// Labels queued behind them (they go around the merge) do not hold it
// either.
func TestMergeTakesCaughtUpNewsAhead(t *testing.T) {
	for _, labels := range []bool{false, true} {
		t.Run(map[bool]string{false: "news", true: "news and labels"}[labels], func(t *testing.T) { testNewsAhead(t, labels) })
	}
}

// settlingRecorder is a recorder that settles labels.
type settlingRecorder struct{ recorder }

func (r *settlingRecorder) Settle(rec *kgo.Record, ref int64) {
	r.add(outcomeRec{topic: rec.Topic, offset: ref})
}

func (r *settlingRecorder) Shadow(*Item[int64], *modelset.Route, *schemas.Prediction, string) {}

func testNewsAhead(t *testing.T, labels bool) {
	rec := &settlingRecorder{}
	var watch *Watch
	if labels {
		dec, _ := schemas.NewLabelDecoder(schemas.JSON)
		reg, _ := quality.NewRegistry(quality.Options{LabelWindow: time.Hour, PendingFor: time.Minute})
		watch = &Watch{LabelsTopic: "labels", Labels: dec, Quality: reg, MaxDeferred: 1000}
	}
	var dec *flaky
	s, mk := mergeLane(t, 50, rec, func(d schemas.Decoder) schemas.Decoder {
		dec = &flaky{Decoder: d}
		return dec
	}, watch, "transactions", "activity")
	push := func(c Chunk[int64]) {
		if err := s.Push(c); err != nil {
			t.Fatal(err)
		}
	}
	// a first record waits for the "registry", so the lane takes the
	// next chunks together, as from one poll
	const n = 3999 // with the first record, 80 batches of 50
	secs := make([]int, n)
	for i := range secs {
		secs[i] = 1 + i
	}
	first, backlog := mk("transactions", 0, 0), mk("transactions", 1, secs...)
	dec.down.Store(true)
	push(first)
	waitFor(t, "the lane to stall", func() bool { return dec.tries.Load() > 0 })
	// both well before the lane retries, 100 ms on
	push(backlog)
	push(Chunk[int64]{Topic: "activity", HighWatermark: 0}) // activity/0 is empty
	outcomes := n + 1
	if labels {
		push(Chunk[int64]{Topic: "labels", Records: []*kgo.Record{{Topic: "labels", Value: []byte(`{"event_id":"x","label":1}`)}}, Refs: []int64{-1}})
		outcomes++
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	dec.down.Store(false)
	waitFor(t, "every outcome", func() bool { return len(rec.snapshot()) == outcomes })
	runtime.ReadMemStats(&after)
	// the items of four batches and the entity state's growth: ~0.5 per
	// record; with the whole backlog decoded first, over 8
	if got := float64(after.Mallocs-before.Mallocs) / n; got > 2 {
		t.Errorf("%.1f allocations per record: the lane decoded the whole backlog before it merged", got)
	}
}

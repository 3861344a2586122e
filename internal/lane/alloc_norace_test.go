//go:build !race

package lane

import (
	"runtime"
	"testing"

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
func TestMergeTakesCaughtUpNewsAhead(t *testing.T) {
	rec := &recorder{}
	var dec *flaky
	s, mk := mergeLane(t, 50, rec, func(d schemas.Decoder) schemas.Decoder {
		dec = &flaky{Decoder: d}
		return dec
	}, "transactions", "activity")
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
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	dec.down.Store(false)
	waitFor(t, "every outcome", func() bool { return len(rec.snapshot()) == n+1 })
	runtime.ReadMemStats(&after)
	// the items of four batches and the entity state's growth: ~0.5 per
	// record; with the whole backlog decoded first, over 8
	if got := float64(after.Mallocs-before.Mallocs) / n; got > 2 {
		t.Errorf("%.1f allocations per record: the lane decoded the backlog before it knew activity/0 was caught up", got)
	}
}

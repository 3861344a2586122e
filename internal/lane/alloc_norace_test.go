//go:build !race

package lane

import (
	"runtime"
	"testing"

	"github.com/streamscore/streamscore/schemas"
)

// TestChunksBeyondFourBatchesReuseItems: a lane with entity aggregates
// holds a chunk's records in its event-time merge before it scores them,
// so a chunk of more records than four batches (a catch-up fills every
// lane up to its share of the records in flight) has that many items
// alive at once; the next chunk reuses them, up to Config.KeepItems,
// instead of allocating an event's storage per record.
func TestChunksBeyondFourBatchesReuseItems(t *testing.T) {
	const n = 4000 // 80 batches of 50
	for _, tt := range []struct {
		keep     int
		maxAlloc float64 // per record
	}{
		{keep: n, maxAlloc: 0.5}, // what remains is the entity state growing with the history (0.13); without the items kept, 9.8
	} {
		push := recordPath(t, schemas.JSON, n, Config{MaxSize: 50, KeepItems: tt.keep}, true)
		push()
		run := func() {
			runtime.GC() // two collections empty a sync.Pool: only what the lane keeps is reused
			runtime.GC()
			push()
		}
		if got := testing.AllocsPerRun(3, run) / n; got > tt.maxAlloc {
			t.Errorf("KeepItems %d: %.2f allocations per record, want at most %.2f", tt.keep, got, tt.maxAlloc)
		}
	}
}

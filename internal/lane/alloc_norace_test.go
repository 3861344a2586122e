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

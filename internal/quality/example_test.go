package quality_test

import (
	"fmt"
	"time"

	"github.com/streamscore/streamscore/internal/quality"
)

// A lane records what it publishes and the labels it reads; a scrape
// takes the snapshot.
func Example() {
	reg, _ := quality.NewRegistry(quality.Options{LabelWindow: 7 * 24 * time.Hour})
	lane := reg.NewStore()
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lane.Prediction("evt-1", "fraud", "3f2a", 0.91, t)
	lane.Prediction("evt-2", "fraud", "3f2a", 0.12, t)
	lane.Prediction("evt-3", "fraud", "3f2a", 0.55, t)
	fmt.Println(lane.Label("evt-1", 1, t.Add(2*time.Hour)))
	fmt.Println(lane.Label("evt-2", 0, t.Add(3*time.Hour)))
	fmt.Println(lane.Label("evt-2", 1, t.Add(4*time.Hour))) // the first label wins
	fmt.Println(lane.Label("evt-9", 1, t.Add(4*time.Hour))) // no prediction (yet)

	snap := reg.Snapshot(t.Add(5 * time.Hour))
	for _, w := range snap.Series[0].Windows {
		fmt.Printf("%s %s %s: %d labels, AUC %.2f, Brier %.4f, %d of %d predictions labelled\n",
			snap.Series[0].Model, snap.Series[0].Version, w.Name, w.N, w.AUC, w.Brier, w.Labelled, w.Predictions)
	}
	// Output:
	// joined
	// joined
	// duplicate
	// pending
	// fraud 3f2a 1h: 0 labels, AUC NaN, Brier NaN, 0 of 0 predictions labelled
	// fraud 3f2a 24h: 2 labels, AUC 1.00, Brier 0.0112, 2 of 3 predictions labelled
	// fraud 3f2a 7d: 2 labels, AUC 1.00, Brier 0.0112, 2 of 3 predictions labelled
}

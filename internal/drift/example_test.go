package drift_test

import (
	"fmt"
	"time"

	"github.com/streamscore/streamscore/internal/drift"
)

// A baseline from training rows, then a live batch whose amount moved up.
func Example() {
	b := drift.NewBuilder([]string{"amount", "is_web"})
	for i := 0; i < 1000; i++ {
		b.Add([]float64{float64(i % 100), float64(i % 3 / 2)}, float64(i%100)/100)
	}
	baseline, _ := b.Build(10)

	g := drift.NewGroup(baseline)
	lane := g.NewMonitor()
	var x []float32
	var scores []float64
	for i := 0; i < 500; i++ {
		x = append(x, float32(50+i%100), float32(i%3/2)) // amounts 50…149
		scores = append(scores, float64(i%100)/100)
	}
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lane.ObserveBatch(t, x, scores)
	w := g.Snapshot(t.Add(time.Minute))[0]
	fmt.Printf("%s: %d rows; amount PSI %.2f; is_web PSI %.2f; score PSI %.2f\n",
		w.Name, w.Rows, w.Features[0].PSI, w.Features[1].PSI, w.ScorePSI)
	// Output:
	// 1h: 500 rows; amount PSI 4.35; is_web PSI 0.00; score PSI 0.00
}

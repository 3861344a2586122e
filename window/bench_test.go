package window

import (
	"testing"
	"time"
)

func BenchmarkWindowAdd(b *testing.B) {
	var w *Window[int]
	batches := 0
	w, _ = New(500, 250*time.Millisecond, func(bt Batch[int]) { batches++; w.Recycle(bt.Items) })
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.Add(i, now)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

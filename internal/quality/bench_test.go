package quality

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// BenchmarkKeptPrediction measures the heap a kept prediction costs: n
// predictions with UUID-sized ids, none labelled, in a store large enough
// to keep them all (reported as bytes/prediction; the ids are the
// caller's and are not kept).
func BenchmarkKeptPrediction(b *testing.B) {
	const n = 200_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
	}
	b.ResetTimer()
	var perPred float64
	for it := 0; it < b.N; it++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := mustStore(b, Options{LabelWindow: 24 * time.Hour, MaxPredictions: n})
		for i, id := range ids {
			s.Prediction(id, "fraud", "abc", 0.5, at(int64(i)))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perPred = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perPred, "bytes/prediction")
}

// BenchmarkPredictionAndLabel is the lane's cost: one prediction and,
// for half of them, its label an hour later, in a store at its steady
// size (a one-hour label window at 10,000 predictions an hour).
func BenchmarkPredictionAndLabel(b *testing.B) {
	s := mustStore(b, Options{LabelWindow: time.Hour})
	const perHour = 10_000
	step := int64(time.Hour/time.Millisecond) / perHour
	ids := make([]string, 4*perHour)
	for i := range ids {
		ids[i] = fmt.Sprintf("evt-%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := int64(i) * step
		s.Prediction(ids[i%len(ids)], "fraud", "abc", float64(i%1000)/1000, at(t))
		if j := i - perHour/2; j >= 0 && j%2 == 0 {
			s.Label(ids[j%len(ids)], j%3&1, at(t))
		}
	}
}

// BenchmarkSnapshot is the scrape's cost for n joined pairs in the
// longest window (a sort, then a pass per window).
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := mustStore(b, Options{LabelWindow: 7 * 24 * time.Hour, MaxPredictions: n, MaxPairs: n})
			rng := rand.New(rand.NewPCG(1, 2))
			step := int64(6*24*time.Hour/time.Millisecond) / int64(n)
			for i := 0; i < n; i++ {
				id := fmt.Sprint(i)
				s.Prediction(id, "fraud", "abc", float64(float32(rng.Float64())), at(int64(i)*step))
				s.Label(id, rng.IntN(2), at(int64(i)*step))
			}
			now := at(int64(n) * step)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if snap := s.Snapshot(now); snap.Series[0].Windows[2].N != n {
					b.Fatalf("%d pairs", snap.Series[0].Windows[2].N)
				}
			}
		})
	}
}

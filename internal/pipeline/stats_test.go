package pipeline

import (
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	s := h.Snapshot()
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := s.Quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.06 {
			t.Errorf("q%v = %v, want within 5%% above %v", tc.q, got, tc.want)
		}
	}
	before := h.Snapshot()
	h.Observe(3 * time.Second)
	d := h.Snapshot().Sub(before)
	if got := d.Quantile(0.5); got < 3*time.Second || got > 3200*time.Millisecond {
		t.Errorf("interval median = %v", got)
	}
	var empty HistSnapshot
	if empty.Quantile(0.5) != 0 || h.Count() != 1001 {
		t.Error("empty quantile or count wrong")
	}
}

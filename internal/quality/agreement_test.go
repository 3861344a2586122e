package quality

import (
	"math"
	"testing"
	"time"
)

func TestAgreement(t *testing.T) {
	a, b := NewAgreement(), NewAgreement() // two lanes
	h := int64(time.Hour / time.Millisecond)
	a.Observe(at(0), 0.9, 0.8, 1, 1)
	a.Observe(at(1), 0.2, 0.6, 0, 1)
	b.Observe(at(2), 0.4, 0.4, 0, 0)
	b.Observe(at(2*h), 0.7, 0.1, 1, 0) // 2h later
	got := MergeAgreement(at(2*h), a, b)
	// 1h: only the last; 24h and 7d: all four
	if got[0].Count != 1 || got[0].Ratio != 0 || math.Abs(got[0].MeanAbsDiff-0.6) > 1e-9 {
		t.Fatalf("1h %+v", got[0])
	}
	if got[1].Count != 4 || got[1].Ratio != 0.5 || math.Abs(got[1].MeanAbsDiff-(0.1+0.4+0+0.6)/4) > 1e-9 {
		t.Fatalf("24h %+v", got[1])
	}
	if e := MergeAgreement(at(30*24*h), a, b); e[2].Count != 0 || !math.IsNaN(e[2].Ratio) {
		t.Fatalf("a month later %+v", e[2])
	}
}

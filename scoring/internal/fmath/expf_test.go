package fmath

import (
	"math"
	"testing"
)

func ulps(a, b float32) int64 {
	if a == b {
		return 0
	}
	d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
	if d < 0 {
		d = -d
	}
	return d
}

func TestExpfAgreesWithMathExp(t *testing.T) {
	// glibc's expf is within 0.502 ulp of exp, so it may differ from the
	// correctly rounded value by at most one ulp, and rarely.
	off := 0
	for x := float32(-103); x < 88.7; x += 0.0137 {
		got, want := Expf(x), float32(math.Exp(float64(x)))
		if d := ulps(got, want); d > 1 {
			t.Fatalf("Expf(%v) = %v, exp = %v (%d ulps)", x, got, want, d)
		} else if d == 1 {
			off++
		}
	}
	if off > 20 {
		t.Errorf("%d values off by one ulp: not the glibc algorithm", off)
	}
	for _, tc := range []struct{ in, want float32 }{
		{0, 1}, {float32(math.Inf(-1)), 0}, {float32(math.Inf(1)), float32(math.Inf(1))},
		{89, float32(math.Inf(1))}, {-104, 0}, {1, float32(math.E)},
	} {
		if got := Expf(tc.in); got != tc.want {
			t.Errorf("Expf(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := Expf(float32(math.NaN())); got == got {
		t.Errorf("Expf(NaN) = %v", got)
	}
}

package onnxml

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactFMA is x·y + z computed exactly and rounded once to float32.
func exactFMA(x, y, z float32) float32 {
	a := new(big.Float).SetPrec(256).SetFloat64(float64(x))
	a.Mul(a, new(big.Float).SetPrec(256).SetFloat64(float64(y)))
	a.Add(a, new(big.Float).SetPrec(256).SetFloat64(float64(z)))
	f, _ := a.Float32()
	return f
}

func TestFmafRoundsOnce(t *testing.T) {
	one, e15 := float32(1), float32(math.Ldexp(1, -15))
	cases := [][3]float32{
		// x·y = 1 − 2⁻³⁰: the float64 sum rounds onto the float32 midpoint
		// 2²⁴+3, which then ties to even (2²⁴+4); the exact sum is below it.
		{one + e15, one - e15, 16777218},
		{-(one + e15), one - e15, -16777218},
		{2, 3, 4}, {0, 5, float32(math.Copysign(0, -1))}, {-1, 0, 0},
		{math.MaxFloat32, 2, -math.MaxFloat32}, {1e-30, 1e-30, 1e-45},
		{float32(math.Inf(1)), 0, 1}, {float32(math.NaN()), 1, 1}, {3, 5, float32(math.Inf(-1))},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		x := float32(math.Ldexp(rng.Float64()*2-1, rng.IntN(40)-20))
		y := float32(math.Ldexp(rng.Float64()*2-1, rng.IntN(40)-20))
		z := float32(math.Ldexp(rng.Float64()*2-1, rng.IntN(60)-30))
		if rng.IntN(2) == 0 {
			z = -float32(float64(x) * float64(y)) // cancellation
		}
		cases = append(cases, [3]float32{x, y, z})
	}
	naiveWrong := 0
	for _, c := range cases {
		got := fmaf(c[0], c[1], c[2])
		var want float32
		finite := true
		for _, v := range c {
			finite = finite && !math.IsInf(float64(v), 0) && v == v
		}
		if finite {
			want = exactFMA(c[0], c[1], c[2])
		} else { // Inf and NaN: float64 arithmetic is exact
			want = float32(float64(c[0])*float64(c[1]) + float64(c[2]))
		}
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Errorf("fmaf(%v, %v, %v) = %v, want %v", c[0], c[1], c[2], got, want)
		}
		if float32(float64(c[0])*float64(c[1])+float64(c[2])) != want {
			naiveWrong++
		}
	}
	if naiveWrong == 0 {
		t.Error("no case where rounding the float64 sum to float32 is wrong: the test cannot tell fmaf from it")
	}
	// the packed GEMM's inlined chain takes the same care
	g := newGemm(gemmPacked, 2, []float32{1, one - e15}, nil)
	out := make([]float32, 1)
	g.row([]float32{16777218, one + e15}, out)
	if out[0] != 16777218 {
		t.Errorf("GEMM chain through a float32 midpoint: %v, want 16777218", out[0])
	}
}

// TestGemmPackedIsAnFMAChain: for a batch of rows (M > 1) onnxruntime's
// packed SGEMM kernel accumulates each output as fma(x_k, w_k, acc) from +0,
// features in order, then adds the bias with one more rounding.
func TestGemmPackedIsAnFMAChain(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	w := []float32{0.376390487, 1.54657018, -2.56915307, -0.376390487, -1.54657018, 2.56915307}
	bias := []float32{0.282158524, -0.282158524}
	g := newGemm(gemmPacked, 3, w, bias)
	differs := 0
	out := make([]float32, 2)
	for i := 0; i < 5000; i++ {
		x := []float32{float32(rng.Float64()*15 - 4.5), float32(rng.Float64()*15 - 4.5), float32(rng.Float64()*15 - 4.5)}
		g.row(x, out)
		for t0 := 0; t0 < 2; t0++ {
			wt := w[t0*3 : t0*3+3]
			acc := exactFMA(x[2], wt[2], exactFMA(x[1], wt[1], exactFMA(x[0], wt[0], 0)))
			want := acc + bias[t0]
			if out[t0] != want {
				t.Fatalf("row %v target %d: %v, want %v", x, t0, out[t0], want)
			}
			plain := (float32(x[0]*wt[0]) + float32(x[1]*wt[1])) + float32(x[2]*wt[2]) + bias[t0]
			if plain != want {
				differs++
			}
		}
	}
	if differs == 0 {
		t.Error("the FMA chain never differs from multiply-then-add: the test has no teeth")
	}
}

// TestGemmM1Order: one row per call (a graph whose batch is fixed at 1)
// takes MLAS's M = 1 kernel: rounded products in 8 lanes (feature k in lane
// k mod 8), reduced by a tree that depends on the output column's place in
// groups of 4, then 2, then 1, and the bias added last.
func TestGemmM1Order(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	rnd := func() float32 { return float32(rng.Float64()*10 - 5) }
	const nf = 11 // lanes 0–2 hold two products, the masked tail adds +0
	for _, k := range []int{1, 2, 3, 4, 5, 7} {
		w := make([]float32, k*nf)
		bias := make([]float32, k)
		for i := range w {
			w[i] = rnd()
		}
		for i := range bias {
			bias[i] = rnd()
		}
		g := newGemm(gemmM1, nf, w, bias)
		out := make([]float32, k)
		differs := 0
		for i := 0; i < 300; i++ {
			x := make([]float32, nf)
			for j := range x {
				x[j] = rnd()
			}
			g.row(x, out)
			for c := 0; c < k; c++ {
				var a [8]float32
				for f := 0; f < nf; f++ {
					a[f%8] += float32(x[f] * w[c*nf+f])
				}
				var s float32
				switch {
				case c < k/4*4: // a group of four columns
					s = (((a[0] + a[1]) + a[2]) + a[3]) + (((a[4] + a[5]) + a[6]) + a[7])
				case k%4 >= 2 && c < k/4*4+2: // the pair
					s = ((a[0] + a[2]) + (a[4] + a[6])) + ((a[1] + a[3]) + (a[5] + a[7]))
				default: // the single last column
					s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
				}
				if want := s + bias[c]; out[c] != want {
					t.Fatalf("k=%d column %d: %v, want %v", k, c, out[c], want)
				}
				var seq float32
				for f := 0; f < nf; f++ {
					seq += float32(x[f] * w[c*nf+f])
				}
				if seq+bias[c] != out[c] {
					differs++
				}
			}
		}
		if differs == 0 {
			t.Errorf("k=%d: the M = 1 order never differs from a sequential sum", k)
		}
	}
}

func TestGemmStrideK(t *testing.T) {
	tests := []struct{ n, k, want int }{
		{1, 4, 1024}, {3, 2, 2}, {2, 3, 1024}, {16, 300, 1024}, {20, 300, 512}, {300, 200, 128}, {8, 8, 8}, {300, 3, 4},
	}
	for _, tt := range tests {
		if got := mlasStrideKFor(tt.n, tt.k); got != tt.want {
			t.Errorf("N=%d K=%d: stride %d, want %d", tt.n, tt.k, got, tt.want)
		}
	}
	// 300 features over 300 outputs: blocks of 128, 128 and 44, each block's
	// chain added to the output in turn.
	const nf = 300
	rng := rand.New(rand.NewPCG(9, 10))
	w := make([]float32, 300*nf)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	x := make([]float32, nf)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	bias := make([]float32, 300)
	g := newGemm(gemmPacked, nf, w, bias)
	out := make([]float32, 300)
	g.row(x, out)
	chain := func(c, lo, hi int) float32 {
		var acc float32
		for f := lo; f < hi; f++ {
			acc = exactFMA(x[f], w[c*nf+f], acc)
		}
		return acc
	}
	for c := 0; c < 300; c++ {
		want := ((bias[c] + chain(c, 0, 128)) + chain(c, 128, 256)) + chain(c, 256, 300)
		if out[c] != want {
			t.Fatalf("column %d: %v, want %v", c, out[c], want)
		}
	}
}

func TestLogisticMLAS(t *testing.T) {
	// The rational approximation is within a few ulps of the logistic and
	// saturates: clamped at ±18, never below 0, NaN through.
	for _, v := range []float32{-30, -18, -5, -1, -0.1, 0, 0.1, 1, 5, 18, 30} {
		got := float64(logisticMLAS(v))
		want := 1 / (1 + math.Exp(-float64(v)))
		if math.Abs(got-want) > 2e-7 {
			t.Errorf("logisticMLAS(%v) = %v, want ≈ %v", v, got, want)
		}
		if got < 0 {
			t.Errorf("logisticMLAS(%v) = %v < 0", v, got)
		}
	}
	if v := logisticMLAS(float32(math.NaN())); v == v {
		t.Errorf("NaN gives %v", v)
	}
	if logisticMLAS(0) != 0.5 || logisticMLAS(30) != logisticMLAS(18) {
		t.Error("not clamped at 18 or not 0.5 at 0")
	}
}

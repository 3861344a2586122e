package onnxml

import "math"

// The linear operators (LinearClassifier, LinearRegressor) compute
// X·Wᵀ + b with onnxruntime's GEMM, MLAS's single-precision SGEMM, whose
// summation order depends on the call, not only on the data. On x86-64 with
// AVX2 and FMA3 (the reference machine; MLAS dispatches by CPU) there are
// two paths:
//
//   - M = 1 (one row per call: a graph whose batch dimension is fixed at 1)
//     with B transposed takes MlasSgemmKernelM1TransposeBAvx: products are
//     rounded (vmulps, no FMA) and added into 8 lane accumulators, lane j
//     taking features j, j+8, …; the lanes are then reduced in a tree whose
//     shape depends on the output column's position in groups of 4, 2 and 1
//     (gemmM1Reduce), and the bias is added last.
//   - any other M takes the packed kernel (MlasGemmFloatKernelFma3): one
//     fused multiply-add chain per output, features in order from +0, in
//     blocks of StrideK features; each block's sum is added to the output,
//     which starts as the bias.
//
// A graph with a dynamic batch dimension is computed as onnxruntime computes
// a batch of two or more rows, so a row's score does not depend on the
// batch it arrives in (onnxruntime itself takes the M = 1 path for a batch
// of exactly one row and may then differ in the last bit).

// gemmKind selects the MLAS path to follow.
type gemmKind uint8

const (
	gemmPacked gemmKind = iota // M > 1: FMA chains
	gemmM1                     // M = 1: lane sums, tree reduction
)

// MLAS's default SGEMM strides (mlasi.h: MLAS_SGEMM_STRIDEN, _STRIDEK).
const (
	mlasStrideN = 128
	mlasStrideK = 128
)

// mlasStrideKFor is the K stride MlasSgemmOperation picks for N outputs of
// K features with A not transposed.
func mlasStrideKFor(n, k int) int {
	sn, sk := mlasStrideN, mlasStrideK
	if n >= k {
		for sk/2 >= k {
			sn, sk = sn*2, sk/2
		}
	} else {
		for sn > 16 && sn/2 >= n {
			sk, sn = sk*2, sn/2
		}
	}
	return sk
}

// gemm is X·Wᵀ (+ bias) for one operator: W is [k][nf] row-major; bias is
// nil when the operator has none.
type gemm struct {
	kind    gemmKind
	nf, k   int
	w, bias []float32
	strideK int
}

func newGemm(kind gemmKind, nf int, w, bias []float32) *gemm {
	k := len(w) / max(nf, 1)
	return &gemm{kind: kind, nf: nf, k: k, w: w, bias: bias, strideK: mlasStrideKFor(k, nf)}
}

// row computes the k outputs of one input row x (nf values) into out.
func (g *gemm) row(x, out []float32) {
	if g.kind == gemmM1 {
		g.rowM1(x, out)
		return
	}
	for t := 0; t < g.k; t++ {
		w := g.w[t*g.nf : (t+1)*g.nf]
		var c float32
		zero := g.bias == nil // beta = 0: the first block stores its sum
		if !zero {
			c = g.bias[t]
		}
		for k0 := 0; k0 < g.nf; k0 += g.strideK {
			k1 := min(k0+g.strideK, g.nf)
			var acc float32
			for f := k0; f < k1; f++ { // acc = fmaf(x[f], w[f], acc), its common case inlined
				s := float64(x[f])*float64(w[f]) + float64(acc)
				if b := math.Float64bits(s); b&(1<<29-1) != 1<<28 && b<<1 >= (1023-126)<<53 {
					acc = float32(s)
				} else {
					acc = fmafMidpoint(x[f], w[f], acc, s)
				}
			}
			if zero {
				c, zero = acc, false // acc·alpha with alpha = 1
			} else {
				c = fmaf(acc, 1, c) // vfmadd213ps acc, alpha, C
			}
		}
		out[t] = c
	}
}

// rowM1 follows MlasSgemmKernelM1TransposeBAvx.
func (g *gemm) rowM1(x, out []float32) {
	var lanes [8]float32
	quads := g.k / 4 * 4
	for t := 0; t < g.k; t++ {
		w := g.w[t*g.nf : (t+1)*g.nf]
		lanes = [8]float32{}
		for f := 0; f < g.nf; f++ {
			p := float32(x[f] * w[f]) // vmulps: rounded, never fused
			lanes[f%8] = lanes[f%8] + p
		}
		if g.nf%8 != 0 { // the masked tail adds +0 to the unused lanes
			for j := g.nf % 8; j < 8; j++ {
				lanes[j] = lanes[j] + 0
			}
		}
		var s float32
		switch {
		case t < quads:
			s = (((lanes[0] + lanes[1]) + lanes[2]) + lanes[3]) + (((lanes[4] + lanes[5]) + lanes[6]) + lanes[7])
		case t < g.k-(g.k%4)%2: // the pair after the groups of 4
			s = ((lanes[0] + lanes[2]) + (lanes[4] + lanes[6])) + ((lanes[1] + lanes[3]) + (lanes[5] + lanes[7]))
		default: // the last single column
			s = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
		}
		if g.bias != nil {
			s = s + g.bias[t]
		} else {
			s = s + 0 // beta = 0 masks C to +0
		}
		out[t] = s
	}
}

// fmaf is the single-precision fused multiply-add x·y + z, rounded once
// (vfmadd…ps). The product is exact in float64; the float64 sum rounded to
// float32 is then correctly rounded unless it lies exactly halfway between
// two float32 values (the sum's own rounding may have put it there): only
// then is its exact error computed (TwoSum) to settle the direction.
func fmaf(x, y, z float32) float32 {
	s := float64(x)*float64(y) + float64(z) // x·y is exact: fused or not, one rounding
	// not a float32 midpoint: in float32's normal range (float64 exponent
	// ≥ −126) the 29 bits below float32's last are not 1000…0
	if b := math.Float64bits(s); b&(1<<29-1) != 1<<28 && b<<1 >= (1023-126)<<53 {
		return float32(s)
	}
	return fmafMidpoint(x, y, z, s)
}

// fmafMidpoint is fmaf's rare path: s may be a float32 midpoint or tiny.
func fmafMidpoint(x, y, z float32, s float64) float32 {
	p := float64(x) * float64(y)
	r := float32(s)
	if float64(r) == s || math.IsInf(s, 0) || math.IsNaN(s) {
		return r
	}
	zd := float64(z)
	bv := s - p
	e := (p - (s - bv)) + (zd - bv) // s + e == p + z exactly
	lo, hi := r, r
	if float64(r) < s {
		hi = math.Nextafter32(r, float32(math.Inf(1)))
	} else {
		lo = math.Nextafter32(r, float32(math.Inf(-1)))
	}
	if mid := (float64(lo) + float64(hi)) / 2; s == mid {
		switch {
		case e > 0:
			return hi
		case e < 0:
			return lo
		}
	}
	return r
}

// MLAS's logistic (MlasComputeLogistic, x86-64 FMA3 kernel), which
// onnxruntime's LinearClassifier uses for LOGISTIC over two or more
// classes: a rational approximation in float32 (Eigen's coefficients),
// not 1/(1+e^−x).
var mlasLogistic = struct {
	lower, upper                   float32
	a9, a7, a5, a3, a1             float32
	b10, b8, b6, b4, b2, b0, onehf float32
}{
	-18, 18,
	4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05, 8.51377133304701e-03, 2.48287947061529e-01,
	6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06, 1.70198817374094e-03, 1.16817656904453e-01,
	9.93151921023180e-01, 0.5,
}

func logisticMLAS(v float32) float32 {
	c := &mlasLogistic
	x := v
	if c.lower > x { // vmaxps: NaN passes through
		x = c.lower
	}
	if c.upper < x {
		x = c.upper
	}
	x2 := x * x
	p := fmaf(x2, c.a9, c.a7)
	p = fmaf(x2, p, c.a5)
	p = fmaf(x2, p, c.a3)
	p = fmaf(x2, p, c.a1)
	q := fmaf(x2, c.b10, c.b8)
	q = fmaf(x2, q, c.b6)
	q = fmaf(x2, q, c.b4)
	q = fmaf(x2, q, c.b2)
	q = fmaf(x2, q, c.b0)
	p = x * p
	r := p/q + c.onehf
	if float32(0) > r {
		r = 0
	}
	return r
}

package fmath

import (
	"math"
	"math/big"
)

// Expf reproduces the results of glibc's expf (the ≤ 0.502 ulp algorithm
// glibc has used since 2.28), which XGBoost's sigmoid and softmax call.
// math.Exp rounded to float32 is correctly rounded far more often but then
// disagrees with XGBoost by an ulp on a few rows in a thousand.
//
// Method: x·N/ln2 = k + r with N = 32 and |r| ≤ 1/2, exp(x) = 2^(k/N)·2^(r/N),
// 2^(k/N) from a table of 2^(i/N) with the exponent added in, 2^(r/N) by a
// cubic; all in float64 (with fused multiply-adds, as the FMA build that
// x86-64 glibc selects on current CPUs), rounded once to float32.
func Expf(x float32) float32 {
	xd := float64(x)
	switch {
	case x != x:
		return x
	case xd > expfOverflow:
		return float32(math.Inf(1))
	case xd < expfUnderflow:
		return 0
	}
	z := expfInvLn2N * xd
	kd := z + expfShift
	ki := math.Float64bits(kd)
	kd -= expfShift
	r := z - kd
	t := expfTable[ki%expfN] + ki<<(52-5)
	s := math.Float64frombits(t)
	p := math.FMA(expfC0, r, expfC1)
	r2 := r * r
	y := math.FMA(expfC2, r, 1)
	y = math.FMA(p, r2, y)
	return float32(y * s)
}

const (
	expfN         = 32
	expfShift     = 0x1.8p+52
	expfInvLn2N   = 0x1.71547652b82fep+0 * expfN
	expfC0        = 0x1.c6af84b912394p-5 / expfN / expfN / expfN
	expfC1        = 0x1.ebfce50fac4f3p-3 / expfN / expfN
	expfC2        = 0x1.62e42ff0c52d6p-1 / expfN
	expfOverflow  = 0x1.62e42ep6  // above: +Inf
	expfUnderflow = -0x1.9fe368p6 // below: 0
)

// expfTable[i] = bits(2^(i/32)) − i<<47, so that adding k<<47 for
// k = 32m + i yields 2^(i/32)·2^m. Built at start from 2^(1/32) computed
// with math/big to well beyond float64 precision, then rounded once.
var expfTable = func() (tab [expfN]uint64) {
	const prec = 256
	root := new(big.Float).SetPrec(prec).SetInt64(2)
	for range 5 { // 2^(1/32)
		root.Sqrt(root)
	}
	v := new(big.Float).SetPrec(prec).SetInt64(1)
	for i := range tab {
		f, _ := v.Float64()
		tab[i] = math.Float64bits(f) - uint64(i)<<47
		v.Mul(v, root)
	}
	return tab
}()

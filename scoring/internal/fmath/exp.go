package fmath

import (
	"math"
	"math/big"
)

// Exp reproduces the results of glibc's exp (the table-driven algorithm
// glibc has used since 2.28, in the FMA build that x86-64 glibc selects on
// current CPUs), which LightGBM's sigmoid, softmax and exp transforms call
// through std::exp. math.Exp is within an ulp but disagrees with it on a
// few percent of inputs.
//
// Method: x = k·ln2/N + r with N = 128 and |r| ≤ ln2/2N (k by rounding
// x·N/ln2 with the 1.5·2^52 shift, r with a two-part ln2/N),
// exp(x) = 2^(k/N)·exp(r), 2^(k/N) = scale·(1 + tail) from a table of
// 2^(i/N) with the exponent added in, exp(r) − 1 − r by a quartic in r;
// then scale + scale·tmp. Inputs whose result is near overflow or in the
// subnormal range take the rescaled special case.
func Exp(x float64) float64 {
	abstop := top12(x) & 0x7ff
	if abstop-top12(0x1p-54) >= top12(512)-top12(0x1p-54) {
		if int32(abstop-top12(0x1p-54)) < 0 {
			return 1 + x // |x| < 2^-54, 0 included
		}
		if abstop >= top12(1024) {
			switch {
			case x == math.Inf(-1):
				return 0
			case abstop >= top12(math.Inf(1)):
				return 1 + x // +Inf, NaN
			case x < 0:
				return 0 // underflow
			}
			return math.Inf(1) // overflow
		}
		abstop = 0 // large |x|: the special case below
	}
	z := float64(expInvLn2N * x) // rounded: no fusion with the shift
	kd := z + expShift
	ki := math.Float64bits(kd)
	kd -= expShift
	r := math.FMA(kd, expNegLn2loN, math.FMA(kd, expNegLn2hiN, x))
	idx := 2 * (ki % expN)
	top := ki << (52 - 7)
	tail := math.Float64frombits(expTable[idx])
	sbits := expTable[idx+1] + top
	r2 := r * r
	tmp := math.FMA(r2*r2, math.FMA(r, expC5, expC4), math.FMA(r2, math.FMA(r, expC3, expC2), tail+r))
	if abstop == 0 {
		return expSpecial(tmp, sbits, ki)
	}
	scale := math.Float64frombits(sbits)
	return math.FMA(scale, tmp, scale)
}

// expSpecial handles results that may overflow the exponent of scale (k >
// 0) or land in the subnormal range (k < 0).
func expSpecial(tmp float64, sbits, ki uint64) float64 {
	if ki&0x80000000 == 0 {
		sbits -= 1009 << 52
		scale := math.Float64frombits(sbits)
		return 0x1p1009 * math.FMA(scale, tmp, scale)
	}
	sbits += 1022 << 52
	scale := math.Float64frombits(sbits)
	y := scale + float64(scale*tmp)
	if y < 1 {
		lo := scale - y + float64(scale*tmp)
		hi := 1 + y
		lo = 1 - hi + y + lo
		y = (hi + lo) - 1
		if y == 0 {
			y = 0 // no −0
		}
	}
	return 0x1p-1022 * y
}

func top12(x float64) uint32 { return uint32(math.Float64bits(x) >> 52) }

const (
	expN         = 128
	expInvLn2N   = 0x1.71547652b82fep0 * expN
	expNegLn2hiN = -0x1.62e42fefa0000p-8
	expNegLn2loN = -0x1.cf79abc9e3b3ap-47
	expShift     = 0x1.8p52
	expC2        = 0x1.ffffffffffdbdp-2
	expC3        = 0x1.555555555543cp-3
	expC4        = 0x1.55555cf172b91p-5
	expC5        = 0x1.1111167a4d017p-7
)

// expTable holds, for i < 128, bits(tail_i) and bits(scale_i) − i<<45,
// where scale_i is 2^(i/128) rounded to double and tail_i =
// (2^(i/128) − scale_i)/scale_i rounded to double, so that adding k<<45
// for k = 128m + i yields scale_i·2^m. Built at start with math/big far
// beyond float64 precision, each value rounded once.
var expTable = func() (tab [2 * expN]uint64) {
	const prec = 512
	root := new(big.Float).SetPrec(prec).SetInt64(2)
	for range 7 { // 2^(1/128)
		root.Sqrt(root)
	}
	v := new(big.Float).SetPrec(prec).SetInt64(1)
	for i := range expN {
		s, _ := v.Float64()
		t := new(big.Float).SetPrec(prec).Sub(v, new(big.Float).SetPrec(prec).SetFloat64(s))
		t.Quo(t, new(big.Float).SetPrec(prec).SetFloat64(s))
		tf, _ := t.Float64()
		tab[2*i] = math.Float64bits(tf)
		tab[2*i+1] = math.Float64bits(s) - uint64(i)<<45
		v.Mul(v, root)
	}
	return tab
}()

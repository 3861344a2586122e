package onnxml

import (
	"fmt"
	"math"
)

// gemmKindOf is the MLAS path onnxruntime takes for this graph's linear
// operators (see gemm.go).
func (m *Model) gemmKindOf() gemmKind {
	if m.batch1 {
		return gemmM1
	}
	return gemmPacked
}

// rowF32 copies row r of a value into dst as float32, as onnxruntime's
// LinearClassifier casts a non-float input before its GEMM.
func rowF32(v *value, r int, dst []float32) []float32 {
	dst = dst[:v.cols]
	base := r * v.cols
	switch v.dt {
	case dtDouble:
		for i := range dst {
			dst[i] = float32(v.f64[base+i])
		}
	case dtInt64:
		for i := range dst {
			dst[i] = float32(v.i64[base+i])
		}
	default:
		copy(dst, v.f32[base:base+v.cols])
	}
	return dst
}

func (fr *frame) f32row(n int) []float32 {
	if cap(fr.xrow32) < n {
		fr.xrow32 = make([]float32, n)
	}
	return fr.xrow32[:n]
}

func toF32(xs []float64) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x)
	}
	return out
}

// LinearClassifier: scores = X·Wᵀ + b (onnxruntime's GEMM), label = the
// first class of highest raw score, then the post-transform: over two or
// more classes LOGISTIC is MLAS's logistic, SOFTMAX and SOFTMAX_ZERO the
// scalar ones (onnxruntime switches SOFTMAX to MLAS's vector kernel for
// five classes or more, and for two to four on very large batches: five or
// more classes are refused rather than scored another way); one coefficient
// row with two labels gives [1−s, s] with s untransformed, as onnxruntime
// does.
func buildLinearClassifier(m *Model, nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "coefficients", "intercepts", "multi_class", "post_transform", "classlabels_ints", "classlabels_strings"); err != nil {
		return built{}, err
	}
	if err := checkFloat(x); err != nil {
		return built{}, err
	}
	coef, _, _ := attrFloats(nd, "coefficients")
	icpt, _, _ := attrFloats(nd, "intercepts")
	post, err := parseTransform(attrString(nd, "post_transform", "NONE"))
	if err != nil {
		return built{}, err
	}
	labels := attrInts(nd, "classlabels_ints")
	nlabels := len(labels) + len(attrStrings(nd, "classlabels_strings"))
	k := len(icpt)
	if want, ok := mulBounded(k, x.cols, math.MaxInt); k == 0 || !ok || len(coef) != want {
		return built{}, fmt.Errorf("coefficients (%d) do not fit %d classes × %d features", len(coef), k, x.cols)
	}
	addSecond := k == 1 && nlabels == 2
	outCols := k
	if addSecond {
		outCols = 2
		if post == ptProbit {
			// onnxruntime transforms the packed scores in place without
			// expanding them to two columns: its output mixes rows.
			return built{}, fmt.Errorf("%w: a binary LinearClassifier with post_transform PROBIT (onnxruntime's output for it is not defined per row)", ErrUnsupported)
		}
	}
	if outCols < 2 {
		return built{}, fmt.Errorf("%w: a LinearClassifier with one class", ErrUnsupported)
	}
	if post == ptSoftmax && k >= 5 {
		return built{}, fmt.Errorf("%w: a LinearClassifier with SOFTMAX over %d classes (onnxruntime computes it with MLAS's vector softmax, which is not implemented)", ErrUnsupported, k)
	}
	g := newGemm(m.gemmKindOf(), x.cols, toF32(coef), toF32(icpt))
	b := built{role: roleClassifier, outs: []outSpec{newOut(dtInt64, 1), newOut(dtFloat, outCols)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv := &fr.vals[in[0]]
			var yv, zv *value
			if len(out) > 0 {
				yv = fr.out(out[0], n)
			}
			if len(out) > 1 {
				zv = fr.out(out[1], n)
			}
			xr := fr.f32row(x.cols)
			sc := fr.scores(outCols)
			for r := 0; r < n; r++ {
				g.row(rowF32(xv, r, xr), sc[:k])
				label := 0
				if addSecond {
					s := sc[0]
					if s > 0 {
						label = 1
					}
					sc[0], sc[1] = 1-s, s
				} else {
					for j := 1; j < k; j++ {
						if sc[j] > sc[label] {
							label = j
						}
					}
					switch post {
					case ptLogistic:
						for j := range sc {
							sc[j] = logisticMLAS(sc[j])
						}
					default:
						applyTransform(post, sc)
					}
				}
				if zv != nil {
					copy(zv.f32[r*outCols:(r+1)*outCols], sc)
				}
				if yv != nil {
					if labels != nil {
						yv.i64[r] = labels[label]
					} else {
						yv.i64[r] = int64(label)
					}
				}
			}
		}
	}
	return b, nil
}

// LinearRegressor: X·Wᵀ + b over `targets` outputs, with onnxruntime's
// GEMM; the intercepts are used only when there is one per target, as in
// onnxruntime. onnxruntime runs it on float input only.
func buildLinearRegressor(m *Model, nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "coefficients", "intercepts", "targets", "post_transform"); err != nil {
		return built{}, err
	}
	if x.dt != dtFloat {
		return built{}, fmt.Errorf("%w: LinearRegressor on %s input (onnxruntime runs it on float only)", ErrUnsupported, typeName(x.dt))
	}
	nt, err := targetsAttr(nd, "targets", 1, "LinearRegressor")
	if err != nil {
		return built{}, err
	}
	coef, _, _ := attrFloats(nd, "coefficients")
	icpt, _, _ := attrFloats(nd, "intercepts")
	if want, ok := mulBounded(nt, x.cols, math.MaxInt); !ok || len(coef) != want {
		return built{}, fmt.Errorf("coefficients (%d) do not fit %d targets × %d features", len(coef), nt, x.cols)
	}
	post, err := parseTransform(attrString(nd, "post_transform", "NONE"))
	if err != nil {
		return built{}, err
	}
	if post == ptSoftmax && nt >= 2 {
		return built{}, fmt.Errorf("%w: LinearRegressor with post_transform SOFTMAX", ErrUnsupported)
	}
	var bias []float32
	if len(icpt) == nt {
		bias = toF32(icpt)
	}
	g := newGemm(m.gemmKindOf(), x.cols, toF32(coef), bias)
	b := built{outs: []outSpec{newOut(dtFloat, nt)}, role: roleRegression}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			for r := 0; r < n; r++ {
				y := yv.f32[r*nt : (r+1)*nt]
				g.row(xv.f32[r*x.cols:(r+1)*x.cols], y)
				switch {
				case post == ptProbit:
					for j := range y {
						y[j] = probit(y[j])
					}
				case nt == 1: // onnxruntime's single-score case: only PROBIT applies
				case post == ptLogistic:
					for j := range y {
						y[j] = logisticMLAS(y[j])
					}
				case post == ptSoftmaxZero:
					softmaxZero(y)
				}
			}
		}
	}
	return b, nil
}

package onnxml

import (
	"fmt"
	"math"

	"github.com/streamscore/streamscore/scoring/internal/fmath"
)

// Post-transforms, as onnxruntime's ml_common computes them in float32.
type postTransform int

const (
	ptNone postTransform = iota
	ptLogistic
	ptSoftmax
	ptSoftmaxZero
	ptProbit
)

func parseTransform(s string) (postTransform, error) {
	switch s {
	case "", "NONE":
		return ptNone, nil
	case "LOGISTIC":
		return ptLogistic, nil
	case "SOFTMAX":
		return ptSoftmax, nil
	case "SOFTMAX_ZERO":
		return ptSoftmaxZero, nil
	case "PROBIT":
		return ptProbit, nil
	}
	return 0, fmt.Errorf("%w: post_transform %q", ErrUnsupported, s)
}

func logf(x float32) float32 { return float32(math.Log(float64(x))) }

func sqrtf(x float32) float32 { return float32(math.Sqrt(float64(x))) }

func logistic(v float32) float32 {
	a := v
	if a < 0 {
		a = -a
	}
	p := float32(1) / (float32(1) + fmath.Expf(-a))
	if v < 0 {
		return 1 - p
	}
	return p
}

func erfInv(x float32) float32 {
	sgn := float32(1)
	if x < 0 {
		sgn = -1
	}
	x = (1 - x) * (1 + x)
	l := logf(x)
	v := float32(2)/(float32(3.14159)*float32(0.147)) + float32(0.5)*l
	v2 := float32(1) / float32(0.147) * l
	v3 := -v + sqrtf(v*v-v2)
	return sgn * sqrtf(v3)
}

func probit(v float32) float32 { return float32(math.Sqrt2) * erfInv(2*v-1) }

func softmax(s []float32) {
	vmax := float32(-math.MaxFloat32)
	for _, v := range s {
		if v > vmax {
			vmax = v
		}
	}
	var sum float32
	for i, v := range s {
		s[i] = fmath.Expf(v - vmax)
		sum += s[i]
	}
	for i := range s {
		s[i] /= sum
	}
}

func softmaxZero(s []float32) {
	vmax := float32(-math.MaxFloat32)
	for _, v := range s {
		if v > vmax {
			vmax = v
		}
	}
	expNeg := fmath.Expf(-vmax)
	var sum float32
	for i, v := range s {
		if v > 0.0000001 || v < -0.0000001 {
			s[i] = fmath.Expf(v - vmax)
			sum += s[i]
		} else {
			s[i] *= expNeg
		}
	}
	for i := range s {
		s[i] /= sum
	}
}

// applyTransform transforms a row of two or more scores in place.
func applyTransform(t postTransform, s []float32) {
	switch t {
	case ptProbit:
		for i := range s {
			s[i] = probit(s[i])
		}
	case ptLogistic:
		for i := range s {
			s[i] = logistic(s[i])
		}
	case ptSoftmax:
		softmax(s)
	case ptSoftmaxZero:
		softmaxZero(s)
	}
}

// binaryScores expands a single score into two columns, as onnxruntime
// does for binary classifiers: mode 0 or 1 (all weights positive) gives
// [1−s, s]; mode 2 or 3 (mixed weights) gives [σ(−s), σ(s)] under
// LOGISTIC and [−s, s] otherwise. PROBIT transforms s alone.
func binaryScores(t postTransform, mode int, s float32, out []float32) {
	if t == ptProbit {
		out[0], out[1] = probit(s), 0
		return
	}
	switch mode {
	case 0, 1:
		out[0], out[1] = 1-s, s
	case 2, 3:
		if t == ptLogistic {
			out[0], out[1] = logistic(-s), logistic(s)
		} else {
			out[0], out[1] = -s, s
		}
	default:
		out[0], out[1] = s, 0
	}
}

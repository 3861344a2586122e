package onnxml

import (
	"fmt"
	"math"
)

// build compiles one node; in holds the slots of its inputs.
func build(m *Model, nd *nodeProto, in []int) (built, error) {
	need := func(k int) error {
		if len(in) < k {
			return fmt.Errorf("needs %d inputs, has %d", k, len(in))
		}
		return nil
	}
	if err := need(1); err != nil {
		return built{}, err
	}
	x := m.slots[in[0]]
	switch nd.opType {
	case "TreeEnsembleClassifier":
		return buildTreeClassifier(m, nd, in)
	case "TreeEnsembleRegressor":
		return buildTreeRegressor(m, nd, in)
	case "Scaler":
		return buildScaler(nd, in, x)
	case "LinearClassifier":
		return buildLinearClassifier(nd, in, x)
	case "LinearRegressor":
		return buildLinearRegressor(nd, in, x)
	case "Normalizer":
		return buildNormalizer(nd, in, x)
	case "ZipMap":
		// The probabilities it would zip are the model's output: alias them.
		if err := checkAttrs(nd, "classlabels_int64s", "classlabels_strings"); err != nil {
			return built{}, err
		}
		return built{outs: []outSpec{{alias: in[0]}}}, nil
	case "Identity":
		if err := checkAttrs(nd); err != nil {
			return built{}, err
		}
		return built{outs: []outSpec{{alias: in[0]}}}, nil
	case "Cast":
		return buildCast(nd, in, x)
	case "MatMul":
		if err := need(2); err != nil {
			return built{}, err
		}
		return buildMatMul(m, nd, in, x)
	case "Add":
		if err := need(2); err != nil {
			return built{}, err
		}
		return buildAdd(m, nd, in, x)
	case "Sigmoid":
		if err := checkAttrs(nd); err != nil {
			return built{}, err
		}
		return elementwise(in, x, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) },
			func(v float32) float32 { return float32(1) / (float32(1) + float32(math.Exp(float64(-v)))) }), nil
	case "Softmax":
		return buildSoftmax(nd, in, x)
	case "ArgMax":
		return buildArgMax(nd, in, x)
	case "Concat":
		return buildConcat(m, nd, in)
	}
	return built{}, fmt.Errorf("%w: operator %s (domain %q)", ErrUnsupported, nd.opType, nd.domain)
}

func checkFloat(x slotInfo) error {
	if x.dt != dtFloat && x.dt != dtDouble && x.dt != dtInt64 {
		return fmt.Errorf("%w: input element type %d", ErrUnsupported, x.dt)
	}
	return nil
}

// broadcast repeats a one-value attribute to n columns.
func broadcast(vals []float64, n int, what string) ([]float64, error) {
	switch len(vals) {
	case n:
		return vals, nil
	case 1:
		out := make([]float64, n)
		for i := range out {
			out[i] = vals[0]
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s has %d values for %d columns", what, len(vals), n)
}

// Scaler: y = (x − offset) · scale, output float. For float input the
// arithmetic is float32, as in onnxruntime; otherwise float64 rounded.
func buildScaler(nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "offset", "scale"); err != nil {
		return built{}, err
	}
	if err := checkFloat(x); err != nil {
		return built{}, err
	}
	offset, _, _ := attrFloats(nd, "offset")
	scale, _, _ := attrFloats(nd, "scale")
	var err error
	if offset, err = broadcast(offset, x.cols, "offset"); err != nil {
		return built{}, err
	}
	if scale, err = broadcast(scale, x.cols, "scale"); err != nil {
		return built{}, err
	}
	o32, s32 := make([]float32, x.cols), make([]float32, x.cols)
	for i := range o32 {
		o32[i], s32[i] = float32(offset[i]), float32(scale[i])
	}
	b := built{outs: []outSpec{newOut(dtFloat, x.cols)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			c := x.cols
			for i := 0; i < n*c; i++ {
				j := i % c
				if xv.dt == dtFloat {
					yv.f32[i] = (xv.f32[i] - o32[j]) * s32[j]
				} else {
					yv.f32[i] = float32((xv.at64(i) - float64(o32[j])) * float64(s32[j]))
				}
			}
		}
	}
	return b, nil
}

// linear computes X·Wᵀ + b in float32 (inputs cast to float, as
// onnxruntime's LinearClassifier and LinearRegressor do; its GEMM may sum
// in another order, so results can differ from it by an ulp).
func linear(xv *value, n, nf int, w []float32, b []float32, out []float32) {
	k := len(b)
	for r := 0; r < n; r++ {
		for t := 0; t < k; t++ {
			acc := float32(0)
			for f := 0; f < nf; f++ {
				acc += xv.at32f(r*nf+f) * w[t*nf+f]
			}
			out[r*k+t] = acc + b[t]
		}
	}
}

func (v *value) at32f(i int) float32 {
	switch v.dt {
	case dtDouble:
		return float32(v.f64[i])
	case dtInt64:
		return float32(v.i64[i])
	}
	return v.f32[i]
}

func toF32(xs []float64) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x)
	}
	return out
}

func buildLinearClassifier(nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "coefficients", "intercepts", "multi_class", "post_transform", "classlabels_ints", "classlabels_strings"); err != nil {
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
	if k == 0 || len(coef) != k*x.cols {
		return built{}, fmt.Errorf("coefficients (%d) do not fit %d classes × %d features", len(coef), k, x.cols)
	}
	addSecond := k == 1 && nlabels == 2
	outCols := k
	if addSecond {
		outCols = 2
	}
	if outCols < 2 {
		return built{}, fmt.Errorf("%w: a LinearClassifier with one class", ErrUnsupported)
	}
	w, bias := toF32(coef), toF32(icpt)
	b := built{classes: outCols, outs: []outSpec{newOut(dtInt64, 1), newOut(dtFloat, outCols)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv := &fr.vals[in[0]]
			zv := fr.out(out[min(1, len(out)-1)], n)
			if len(out) < 2 {
				zv = &value{dt: dtFloat, cols: outCols, f32: make([]float32, n*outCols)}
			}
			tmp := zv.f32
			if addSecond {
				if cap(fr.row) < n {
					fr.row = make([]float32, n)
				}
				tmp = fr.row[:n]
			}
			linear(xv, n, x.cols, w, bias, tmp)
			for r := 0; r < n; r++ {
				label := 0
				if addSecond {
					if tmp[r] > 0 {
						label = 1
					}
					s := tmp[r]
					if post == ptProbit {
						zv.f32[2*r], zv.f32[2*r+1] = probit(s), 0
					} else {
						zv.f32[2*r], zv.f32[2*r+1] = 1-s, s
					}
				} else {
					row := zv.f32[r*k : (r+1)*k]
					for j := 1; j < k; j++ {
						if row[j] > row[label] {
							label = j
						}
					}
					applyTransform(post, row)
				}
				if len(out) > 0 {
					yv := fr.out(out[0], n)
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

func buildLinearRegressor(nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "coefficients", "intercepts", "targets", "post_transform"); err != nil {
		return built{}, err
	}
	if t := attrInt(nd, "targets", 1); t != 1 {
		return built{}, fmt.Errorf("%w: targets %d (one target only)", ErrUnsupported, t)
	}
	coef, _, _ := attrFloats(nd, "coefficients")
	icpt, _, _ := attrFloats(nd, "intercepts")
	if len(icpt) == 0 {
		icpt = []float64{0}
	}
	if len(coef) != x.cols || len(icpt) != 1 {
		return built{}, fmt.Errorf("coefficients (%d) do not fit %d features", len(coef), x.cols)
	}
	post, err := parseTransform(attrString(nd, "post_transform", "NONE"))
	if err != nil {
		return built{}, err
	}
	w, bias := toF32(coef), toF32(icpt)
	b := built{outs: []outSpec{newOut(dtFloat, 1)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			yv := fr.out(out[0], n)
			linear(&fr.vals[in[0]], n, x.cols, w, bias, yv.f32)
			if post == ptProbit {
				for i := range yv.f32 {
					yv.f32[i] = probit(yv.f32[i])
				}
			}
		}
	}
	return b, nil
}

// Normalizer: each row divided by its max, L1 or L2 norm (float output).
func buildNormalizer(nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "norm"); err != nil {
		return built{}, err
	}
	norm := attrString(nd, "norm", "MAX")
	switch norm {
	case "MAX", "L1", "L2":
	default:
		return built{}, fmt.Errorf("%w: norm %q", ErrUnsupported, norm)
	}
	b := built{outs: []outSpec{newOut(dtFloat, x.cols)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			c := x.cols
			for r := 0; r < n; r++ {
				row := yv.f32[r*c : (r+1)*c]
				for j := range row {
					row[j] = xv.at32f(r*c + j)
				}
				var d float32
				switch norm {
				case "MAX":
					d = float32(math.Inf(-1))
					for _, v := range row {
						d = max(d, v)
					}
				case "L1":
					for _, v := range row {
						d += float32(math.Abs(float64(v)))
					}
				case "L2":
					for _, v := range row {
						d += v * v
					}
					d = sqrtf(d)
				}
				if d != 0 {
					for j := range row {
						row[j] /= d
					}
				}
			}
		}
	}
	return b, nil
}

func buildCast(nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "to", "saturate"); err != nil {
		return built{}, err
	}
	to := int32(attrInt(nd, "to", 0))
	switch to {
	case dtFloat, dtDouble, dtInt64:
	default:
		return built{}, fmt.Errorf("%w: Cast to element type %d", ErrUnsupported, to)
	}
	if to == x.dt {
		return built{outs: []outSpec{{alias: in[0]}}}, nil
	}
	b := built{outs: []outSpec{newOut(to, x.cols)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			for i := 0; i < n*x.cols; i++ {
				v := xv.at64(i)
				switch to {
				case dtFloat:
					yv.f32[i] = float32(v)
				case dtDouble:
					yv.f64[i] = v
				case dtInt64:
					yv.i64[i] = int64(v)
				}
			}
		}
	}
	return b, nil
}

// constant returns the initializer behind a slot.
func constant(m *Model, slot int, what string) (*value, error) {
	k := m.slots[slot].konst
	if k == nil {
		return nil, fmt.Errorf("%w: %s must be an initializer", ErrUnsupported, what)
	}
	return k, nil
}

// MatMul of the batch [n, F] by a constant [F, K], in the input's type.
func buildMatMul(m *Model, nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd); err != nil {
		return built{}, err
	}
	w, err := constant(m, in[1], "the second input of MatMul")
	if err != nil {
		return built{}, err
	}
	f := x.cols
	var k int
	switch {
	case w.cols > 0 && (len(w.f32)+len(w.f64)+len(w.i64))%f == 0:
		k = (len(w.f32) + len(w.f64) + len(w.i64)) / f
	default:
		return built{}, fmt.Errorf("weights do not fit %d inputs", f)
	}
	if x.dt != dtFloat && x.dt != dtDouble {
		return built{}, fmt.Errorf("%w: MatMul of element type %d", ErrUnsupported, x.dt)
	}
	b := built{outs: []outSpec{newOut(x.dt, k)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			for r := 0; r < n; r++ {
				for c := 0; c < k; c++ {
					if x.dt == dtDouble {
						acc := 0.0
						for j := 0; j < f; j++ {
							acc += xv.f64[r*f+j] * w.at64(j*k+c)
						}
						yv.f64[r*k+c] = acc
					} else {
						acc := float32(0)
						for j := 0; j < f; j++ {
							acc += xv.f32[r*f+j] * w.at32(j*k+c)
						}
						yv.f32[r*k+c] = acc
					}
				}
			}
		}
	}
	return b, nil
}

// Add of the batch and a constant row (or scalar), in the input's type.
func buildAdd(m *Model, nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd); err != nil {
		return built{}, err
	}
	if m.slots[in[0]].konst != nil { // constant + batch
		in = []int{in[1], in[0]}
		x = m.slots[in[0]]
	}
	c, err := constant(m, in[1], "one input of Add")
	if err != nil {
		return built{}, err
	}
	size := len(c.f32) + len(c.f64) + len(c.i64)
	if size != 1 && size != x.cols {
		return built{}, fmt.Errorf("cannot broadcast %d values over %d columns", size, x.cols)
	}
	b := built{outs: []outSpec{newOut(x.dt, x.cols)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			for i := 0; i < n*x.cols; i++ {
				j := i % x.cols % size
				if x.dt == dtDouble {
					yv.f64[i] = xv.f64[i] + c.at64(j)
				} else {
					yv.f32[i] = xv.f32[i] + c.at32(j)
				}
			}
		}
	}
	return b, nil
}

func elementwise(in []int, x slotInfo, f64 func(float64) float64, f32 func(float32) float32) built {
	b := built{outs: []outSpec{newOut(x.dt, x.cols)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			for i := 0; i < n*x.cols; i++ {
				if x.dt == dtDouble {
					yv.f64[i] = f64(xv.f64[i])
				} else {
					yv.f32[i] = f32(xv.f32[i])
				}
			}
		}
	}
	return b
}

func buildSoftmax(nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "axis"); err != nil {
		return built{}, err
	}
	if a := attrInt(nd, "axis", -1); a != -1 && a != 1 {
		return built{}, fmt.Errorf("%w: Softmax over axis %d", ErrUnsupported, a)
	}
	b := built{outs: []outSpec{newOut(x.dt, x.cols)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			c := x.cols
			for r := 0; r < n; r++ {
				if x.dt == dtDouble {
					row := yv.f64[r*c : (r+1)*c]
					copy(row, xv.f64[r*c:(r+1)*c])
					mx := math.Inf(-1)
					for _, v := range row {
						mx = math.Max(mx, v)
					}
					sum := 0.0
					for j, v := range row {
						row[j] = math.Exp(v - mx)
						sum += row[j]
					}
					for j := range row {
						row[j] /= sum
					}
				} else {
					row := yv.f32[r*c : (r+1)*c]
					copy(row, xv.f32[r*c:(r+1)*c])
					softmax(row)
				}
			}
		}
	}
	return b, nil
}

func buildArgMax(nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "axis", "keepdims", "select_last_index"); err != nil {
		return built{}, err
	}
	if a := attrInt(nd, "axis", 0); a != 1 && a != -1 {
		return built{}, fmt.Errorf("%w: ArgMax over axis %d", ErrUnsupported, a)
	}
	last := attrInt(nd, "select_last_index", 0) == 1
	b := built{outs: []outSpec{newOut(dtInt64, 1)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			c := x.cols
			for r := 0; r < n; r++ {
				best := 0
				for j := 1; j < c; j++ {
					v, bv := xv.at64(r*c+j), xv.at64(r*c+best)
					if v > bv || last && v == bv {
						best = j
					}
				}
				yv.i64[r] = int64(best)
			}
		}
	}
	return b, nil
}

// Concat of batch inputs along the columns.
func buildConcat(m *Model, nd *nodeProto, in []int) (built, error) {
	if err := checkAttrs(nd, "axis"); err != nil {
		return built{}, err
	}
	if a := attrInt(nd, "axis", 1); a != 1 && a != -1 {
		return built{}, fmt.Errorf("%w: Concat over axis %d", ErrUnsupported, a)
	}
	dt, total := m.slots[in[0]].dt, 0
	for _, s := range in {
		if m.slots[s].dt != dt || m.slots[s].konst != nil {
			return built{}, fmt.Errorf("%w: Concat of mixed types or constants", ErrUnsupported)
		}
		total += m.slots[s].cols
	}
	b := built{outs: []outSpec{newOut(dt, total)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			yv := fr.out(out[0], n)
			for r := 0; r < n; r++ {
				at := r * total
				for _, s := range in {
					xv := &fr.vals[s]
					for j := 0; j < xv.cols; j++ {
						switch dt {
						case dtFloat:
							yv.f32[at+j] = xv.f32[r*xv.cols+j]
						case dtDouble:
							yv.f64[at+j] = xv.f64[r*xv.cols+j]
						case dtInt64:
							yv.i64[at+j] = xv.i64[r*xv.cols+j]
						}
					}
					at += xv.cols
				}
			}
		}
	}
	return b, nil
}

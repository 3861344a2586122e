package onnxml

import (
	"fmt"
	"math"
)

// supportedOps are the operators buildNode compiles.
var supportedOps = map[string]bool{
	"TreeEnsembleClassifier": true, "TreeEnsembleRegressor": true, "TreeEnsemble": true, "Scaler": true,
	"LinearClassifier": true, "LinearRegressor": true, "Normalizer": true, "OneHotEncoder": true, "LabelEncoder": true,
	"Imputer": true, "FeatureVectorizer": true, "ArrayFeatureExtractor": true, "Reshape": true, "Flatten": true,
	"ZipMap": true, "Identity": true, "Cast": true, "MatMul": true, "Add": true, "Sigmoid": true, "Softmax": true,
	"ArgMax": true, "Concat": true,
}

// stringOps are the operators that may read a string tensor: the encoders,
// which turn categories into numbers, and the ones that only move values.
var stringOps = map[string]bool{"OneHotEncoder": true, "LabelEncoder": true, "ArrayFeatureExtractor": true,
	"Concat": true, "Identity": true, "Reshape": true, "Flatten": true}

// constSecond are the operators whose second input is a constant (an
// initializer): indices, a shape, weights.
var constSecond = map[string]bool{"ArrayFeatureExtractor": true, "Reshape": true, "MatMul": true}

// buildNode compiles one node; in holds the slots of its inputs.
func buildNode(m *Model, nd *nodeProto, in []int) (built, error) {
	need := func(k int) error {
		if len(in) < k {
			return fmt.Errorf("needs %d inputs, has %d", k, len(in))
		}
		return nil
	}
	if err := need(1); err != nil {
		return built{}, err
	}
	// A constant has no batch: where an operator reads the batch, it would
	// read n rows of a value that holds one.
	for k, s := range in {
		if m.slots[s].konst == nil || nd.inputs[k] == "" {
			continue
		}
		if k == 1 && constSecond[nd.opType] || nd.opType == "Add" && len(in) == 2 && m.slots[in[1-k]].konst == nil {
			continue
		}
		return built{}, fmt.Errorf("%w: input %q is an initializer (a constant) where %s reads the batch", ErrUnsupported, nd.inputs[k], nd.opType)
	}
	if !stringOps[nd.opType] {
		for k, s := range in {
			if m.slots[s].dt == dtString {
				return built{}, fmt.Errorf("%w: input %q is a string tensor; strings may only feed OneHotEncoder, LabelEncoder (string keys) and ArrayFeatureExtractor, Concat, Reshape, Flatten or Identity", ErrUnsupported, nd.inputs[k])
			}
		}
	}
	x := m.slots[in[0]]
	switch nd.opType {
	case "TreeEnsembleClassifier":
		return buildTreeClassifier(m, nd, in)
	case "TreeEnsembleRegressor":
		return buildTreeRegressor(m, nd, in)
	case "TreeEnsemble":
		return buildTreeEnsembleV5(m, nd, in)
	case "Scaler":
		return buildScaler(nd, in, x)
	case "LinearClassifier":
		return buildLinearClassifier(m, nd, in, x)
	case "LinearRegressor":
		return buildLinearRegressor(m, nd, in, x)
	case "Normalizer":
		return buildNormalizer(nd, in, x)
	case "OneHotEncoder":
		return buildOneHotEncoder(m, nd, in, x)
	case "LabelEncoder":
		return buildLabelEncoder(m, nd, in, x)
	case "Imputer":
		return buildImputer(nd, in, x)
	case "FeatureVectorizer":
		return buildFeatureVectorizer(m, nd, in)
	case "ArrayFeatureExtractor":
		if err := need(2); err != nil {
			return built{}, err
		}
		return buildArrayFeatureExtractor(m, nd, in, x)
	case "Reshape":
		if err := need(2); err != nil {
			return built{}, err
		}
		return buildReshape(m, nd, in, x)
	case "Flatten":
		if err := checkAttrs(nd, "axis"); err != nil {
			return built{}, err
		}
		if a := attrInt(nd, "axis", 1); a != 1 {
			return built{}, fmt.Errorf("%w: Flatten at axis %d (only 1, which keeps the batch)", ErrUnsupported, a)
		}
		return reshaped(in[0], x, []int{x.cols}), nil
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
		return buildAdd(m, nd, in)
	case "Sigmoid":
		if err := checkAttrs(nd); err != nil {
			return built{}, err
		}
		b := elementwise(in, x, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) },
			func(v float32) float32 { return float32(1) / (float32(1) + float32(math.Exp(float64(-v)))) })
		if x.role != roleFeature {
			b.role = roleClassifier
		}
		return b, nil
	case "Softmax":
		b, err := buildSoftmax(nd, in, x)
		if x.role != roleFeature {
			b.role = roleClassifier
		}
		return b, err
	case "ArgMax":
		return buildArgMax(nd, in, x)
	case "Concat":
		return buildConcat(m, nd, in)
	}
	return built{}, fmt.Errorf("%w: operator %s (domain %q)", ErrUnsupported, nd.opType, nd.domain)
}

func checkFloat(x slotInfo) error {
	if x.dt != dtFloat && x.dt != dtDouble && x.dt != dtInt64 {
		return fmt.Errorf("%w: input element type %s", ErrUnsupported, typeName(x.dt))
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

// Scaler: y = (x − offset) · scale, output float, as onnxruntime computes
// it: offset and scale are both one value or both one per column; float and
// int64 input compute in float32, double input in float64 rounded once.
func buildScaler(nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "offset", "scale"); err != nil {
		return built{}, err
	}
	if err := checkFloat(x); err != nil {
		return built{}, err
	}
	offset, _, _ := attrFloats(nd, "offset")
	scale, _, _ := attrFloats(nd, "scale")
	stride := x.dims[0]
	switch {
	case len(scale) == 0 || len(scale) != len(offset):
		return built{}, fmt.Errorf("scale (%d values) and offset (%d) must have the same, non-zero length", len(scale), len(offset))
	case len(scale) == 1:
		offset, _ = broadcast(offset, stride, "offset")
		scale, _ = broadcast(scale, stride, "scale")
	case len(scale) != stride:
		return built{}, fmt.Errorf("scale and offset have %d values for %d columns (want 1 or %d)", len(scale), stride, stride)
	}
	o32, s32 := toF32(offset), toF32(scale)
	b := built{outs: []outSpec{{dt: dtFloat, cols: x.cols, dims: x.dims, alias: -1}}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			for i := 0; i < n*x.cols; i++ {
				j := i % stride
				switch xv.dt {
				case dtFloat:
					yv.f32[i] = (xv.f32[i] - o32[j]) * s32[j]
				case dtInt64:
					yv.f32[i] = (float32(xv.i64[i]) - o32[j]) * s32[j]
				default:
					yv.f32[i] = float32((xv.f64[i] - float64(o32[j])) * float64(s32[j]))
				}
			}
		}
	}
	return b, nil
}

// Normalizer: each row divided by its max or L1 norm, or each value
// replaced by ±sqrt(x²/Σx²) for L2, in float32 as onnxruntime computes it
// (the square of a double input is taken in double, then rounded).
func buildNormalizer(nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "norm"); err != nil {
		return built{}, err
	}
	if err := checkFloat(x); err != nil {
		return built{}, err
	}
	if len(x.dims) > 1 {
		return built{}, fmt.Errorf("%w: Normalizer of a rank-%d tensor", ErrUnsupported, len(x.dims)+1)
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
				switch norm {
				case "MAX":
					d := float32(-math.MaxFloat32)
					for j := range row {
						if v := xv.at32f(r*c + j); d < v { // std::max(max, v)
							d = v
						}
					}
					for j := range row {
						row[j] = xv.at32f(r*c + j)
						if d != 0 {
							row[j] /= d
						}
					}
				case "L1":
					var d float32
					for j := range row {
						d += float32(math.Abs(xv.at64(r*c + j)))
					}
					for j := range row {
						row[j] = xv.at32f(r*c + j)
						if d != 0 {
							row[j] /= d
						}
					}
				case "L2":
					var d float32
					for j := range row {
						var sq float32
						if xv.dt == dtFloat {
							v := xv.f32[r*c+j]
							sq = float32(v * v)
						} else {
							v := xv.at64(r*c + j)
							sq = float32(v * v)
						}
						row[j] = sq
						d += sq
					}
					for j := range row {
						if d == 0 {
							row[j] = xv.at32f(r*c + j)
							continue
						}
						q := sqrtf(row[j] / d)
						if xv.at64(r*c+j) < 0 {
							q = -q
						}
						row[j] = q
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
		return built{}, fmt.Errorf("%w: Cast to element type %s", ErrUnsupported, typeName(to))
	}
	if to == x.dt {
		return built{outs: []outSpec{{alias: in[0]}}}, nil
	}
	b := built{outs: []outSpec{{dt: to, cols: x.cols, dims: x.dims, alias: -1}}}
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
	if len(x.dims) > 1 {
		return built{}, fmt.Errorf("%w: MatMul of a rank-%d tensor", ErrUnsupported, len(x.dims)+1)
	}
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
		return built{}, fmt.Errorf("%w: MatMul of element type %s", ErrUnsupported, typeName(x.dt))
	}
	// A MatMul by constant weights is read as a linear model's scores (the
	// layout skl2onnx emits for linear models over double input).
	b := built{outs: []outSpec{newOut(x.dt, k)}, role: roleRegression}
	if x.role != roleFeature {
		b.role = x.role
	}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			for r := 0; r < n; r++ {
				for c := 0; c < k; c++ {
					if x.dt == dtDouble {
						acc := 0.0
						for j := 0; j < f; j++ {
							acc += float64(xv.f64[r*f+j] * w.at64(j*k+c))
						}
						yv.f64[r*k+c] = acc
					} else {
						acc := float32(0)
						for j := 0; j < f; j++ {
							acc += float32(xv.f32[r*f+j] * w.at32(j*k+c))
						}
						yv.f32[r*k+c] = acc
					}
				}
			}
		}
	}
	return b, nil
}

// Add of the batch [n, k] and a constant that numpy broadcasts over its
// rows (a scalar, or one value or k as [1], [k], [1, 1] or [1, k]), in the
// batch's type; the constant may be either input (converters emit both
// orders, and addition is commutative).
func buildAdd(m *Model, nd *nodeProto, in []int) (built, error) {
	if err := checkAttrs(nd); err != nil {
		return built{}, err
	}
	if m.slots[in[0]].konst != nil { // constant + batch: the batch's shape is what is checked
		in = []int{in[1], in[0]}
	}
	x := m.slots[in[0]]
	if len(x.dims) > 1 {
		return built{}, fmt.Errorf("%w: Add of a rank-%d tensor", ErrUnsupported, len(x.dims)+1)
	}
	c, err := constant(m, in[1], "one input of Add")
	if err != nil {
		return built{}, err
	}
	if c.dt != x.dt {
		return built{}, fmt.Errorf("Add of %s and %s (its inputs must have one element type)", typeName(x.dt), typeName(c.dt))
	}
	switch cd := m.slots[in[1]].dims; {
	case len(cd) > 0 && cd[len(cd)-1] != 1 && cd[len(cd)-1] != x.cols:
		return built{}, fmt.Errorf("cannot broadcast shape %v over %d columns", cd, x.cols)
	case !broadcastsOverRows(cd, x.cols):
		return built{}, fmt.Errorf("%w: Add of a constant of shape %v and a batch of %d columns (only a constant of shape [], [1], [%d], [1, 1] or [1, %d] is broadcast over the rows)",
			ErrUnsupported, cd, x.cols, x.cols, x.cols)
	}
	size := len(c.f32) + len(c.f64) + len(c.i64)
	b := built{outs: []outSpec{newOut(x.dt, x.cols)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			for i := 0; i < n*x.cols; i++ {
				j := i % x.cols % size
				switch x.dt {
				case dtDouble:
					yv.f64[i] = xv.f64[i] + c.f64[j]
				case dtInt64:
					yv.i64[i] = xv.i64[i] + c.i64[j] // exact; wraps around on overflow
				default:
					yv.f32[i] = xv.f32[i] + c.f32[j]
				}
			}
		}
	}
	return b, nil
}

// broadcastsOverRows reports whether a constant of shape dims, broadcast
// with a batch [N, cols] as numpy does, gives [N, cols] with the constant
// repeated on every row: rank at most 2, the last dimension 1 or cols,
// any other 1.
func broadcastsOverRows(dims []int, cols int) bool {
	if len(dims) == 0 {
		return true
	}
	if len(dims) > 2 || len(dims) == 2 && dims[0] != 1 {
		return false
	}
	last := dims[len(dims)-1]
	return last == 1 || last == cols
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
	if len(x.dims) > 1 {
		return built{}, fmt.Errorf("%w: Softmax of a rank-%d tensor", ErrUnsupported, len(x.dims)+1)
	}
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
	if len(x.dims) > 1 {
		return built{}, fmt.Errorf("%w: ArgMax of a rank-%d tensor", ErrUnsupported, len(x.dims)+1)
	}
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

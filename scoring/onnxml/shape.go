package onnxml

import (
	"fmt"
	"math"
)

// Operators that move values: Concat, Reshape, Flatten,
// ArrayFeatureExtractor, FeatureVectorizer, and the Imputer. A value's
// shape is tracked per row (slotInfo.dims, the batch dimension left out).

func prod(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}

// copyVals copies n values of src from si into dst at di (same type).
func copyVals(dst *value, di int, src *value, si, n int) {
	switch dst.dt {
	case dtFloat:
		copy(dst.f32[di:di+n], src.f32[si:si+n])
	case dtDouble:
		copy(dst.f64[di:di+n], src.f64[si:si+n])
	default:
		copy(dst.i64[di:di+n], src.i64[si:si+n])
	}
}

// Concat of batch inputs along a non-batch axis.
func buildConcat(m *Model, nd *nodeProto, in []int) (built, error) {
	if err := checkAttrs(nd, "axis"); err != nil {
		return built{}, err
	}
	first := m.slots[in[0]]
	rank := len(first.dims) + 1
	axis := int(attrInt(nd, "axis", 1))
	if axis < 0 {
		axis += rank
	}
	if axis <= 0 || axis >= rank {
		return built{}, fmt.Errorf("%w: Concat over axis %d of rank-%d tensors (only a non-batch axis)", ErrUnsupported, attrInt(nd, "axis", 1), rank)
	}
	p := axis - 1
	dt := first.dt
	dims := append([]int(nil), first.dims...)
	dims[p] = 0
	for i, s := range in {
		si := m.slots[s]
		if si.dt != dt || si.konst != nil {
			return built{}, fmt.Errorf("%w: Concat of mixed types (%s, %s) or of constants", ErrUnsupported, typeName(dt), typeName(si.dt))
		}
		if len(si.dims) != len(first.dims) {
			return built{}, fmt.Errorf("Concat of tensors of different ranks")
		}
		for k := range si.dims {
			if k != p && si.dims[k] != first.dims[k] {
				return built{}, fmt.Errorf("Concat over axis %d of shapes %v and %v", axis, first.dims, si.dims)
			}
		}
		// every dimension of an input is at most maxTensorValues: no overflow
		if dims[p] += si.dims[p]; dims[p] > maxTensorValues {
			return built{}, fmt.Errorf("%w: Concat along axis %d: input %d (%q) brings that dimension to %d (at most %d)", ErrUnsupported, axis, i, nd.inputs[i], dims[p], maxTensorValues)
		}
	}
	total, ok := prodBounded(dims, maxTensorValues)
	if !ok {
		return built{}, fmt.Errorf("%w: Concat to per-row shape %v (more than %d values)", ErrUnsupported, dims, maxTensorValues)
	}
	outer := prod(dims[:p])
	inner := make([]int, len(in)) // values per outer index, per input
	for i, s := range in {
		inner[i] = prod(m.slots[s].dims[p:])
	}
	o := outSpec{dt: dt, cols: total, dims: dims, alias: -1}
	if dt == dtString {
		for q := 0; q < outer; q++ {
			for i, s := range in {
				o.src = append(o.src, m.slots[s].src[q*inner[i]:(q+1)*inner[i]]...)
			}
		}
	}
	b := built{outs: []outSpec{o}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			yv := fr.out(out[0], n)
			for r := 0; r < n; r++ {
				at := r * total
				for q := 0; q < outer; q++ {
					for i, s := range in {
						xv := &fr.vals[s]
						copyVals(yv, at, xv, r*xv.cols+q*inner[i], inner[i])
						at += inner[i]
					}
				}
			}
		}
	}
	return b, nil
}

// reshaped copies a value under new per-row dimensions (same values in
// the same order).
func reshaped(slot int, x slotInfo, dims []int) built {
	o := outSpec{dt: x.dt, cols: x.cols, dims: dims, alias: -1, src: x.src}
	b := built{outs: []outSpec{o}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[slot], fr.out(out[0], n)
			copyVals(yv, 0, xv, 0, n*x.cols)
		}
	}
	return b
}

// Reshape by a constant shape that keeps the batch as its first dimension
// (-1, 0, or 1 in a graph whose batch is fixed at 1).
func buildReshape(m *Model, nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "allowzero"); err != nil {
		return built{}, err
	}
	allowZero := attrInt(nd, "allowzero", 0) == 1
	k, err := constant(m, in[1], "the shape of Reshape")
	if err != nil {
		return built{}, err
	}
	if k.dt != dtInt64 {
		return built{}, fmt.Errorf("%w: Reshape to a shape of type %s", ErrUnsupported, typeName(k.dt))
	}
	if len(k.i64) < 2 {
		return built{}, fmt.Errorf("%w: Reshape to %v does not keep the batch as its first dimension (rank 2 or more)", ErrUnsupported, k.i64)
	}
	shape := k.i64
	switch {
	case shape[0] == -1:
	case shape[0] == 0 && !allowZero:
	case shape[0] == 1 && m.batch1:
	default:
		return built{}, fmt.Errorf("%w: Reshape to %v does not keep the batch as its first dimension", ErrUnsupported, shape)
	}
	dims := make([]int, len(shape)-1)
	infer := -1
	for i, d := range shape[1:] {
		switch {
		case d == 0 && !allowZero:
			if i >= len(x.dims) {
				return built{}, fmt.Errorf("Reshape to %v copies dimension %d of a rank-%d tensor", shape, i+1, len(x.dims)+1)
			}
			dims[i] = x.dims[i]
		case d == -1 && infer < 0 && shape[0] != -1:
			infer = i
		case d > 0 && d <= maxTensorValues:
			dims[i] = int(d)
		case d > maxTensorValues:
			return built{}, fmt.Errorf("%w: Reshape to %v: dimension %d is more than %d", ErrUnsupported, shape, d, maxTensorValues)
		default:
			return built{}, fmt.Errorf("%w: Reshape to %v", ErrUnsupported, shape)
		}
	}
	// the products are taken without overflow: a shape whose product wraps
	// around to the input's width is not that width
	if infer >= 0 {
		dims[infer] = 1
		if rest, ok := prodBounded(dims, maxTensorValues); ok && rest > 0 && x.cols%rest == 0 {
			dims[infer] = x.cols / rest
		}
	}
	p, ok := prodBounded(dims, maxTensorValues)
	if !ok {
		return built{}, fmt.Errorf("%w: Reshape to %v: more than %d values per row", ErrUnsupported, shape, maxTensorValues)
	}
	if p != x.cols {
		return built{}, fmt.Errorf("Reshape of %d values per row to %v", x.cols, shape)
	}
	return reshaped(in[0], x, dims), nil
}

// ArrayFeatureExtractor with constant indices: picks columns of the last
// dimension, in the order the indices give.
func buildArrayFeatureExtractor(m *Model, nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd); err != nil {
		return built{}, err
	}
	k, err := constant(m, in[1], "the indices of ArrayFeatureExtractor")
	if err != nil {
		return built{}, err
	}
	if k.dt != dtInt64 || len(k.i64) == 0 {
		return built{}, fmt.Errorf("%w: ArrayFeatureExtractor indices of type %s", ErrUnsupported, typeName(k.dt))
	}
	last := x.dims[len(x.dims)-1]
	idx := make([]int, len(k.i64))
	for i, v := range k.i64 {
		if v < 0 || int(v) >= last {
			return built{}, fmt.Errorf("ArrayFeatureExtractor index %d is out of range for %d columns", v, last)
		}
		idx[i] = int(v)
	}
	dims := append([]int(nil), x.dims...)
	dims[len(dims)-1] = len(idx)
	outer := x.cols / last
	cols, ok := mulBounded(outer, len(idx), maxTensorValues)
	if !ok {
		return built{}, fmt.Errorf("%w: ArrayFeatureExtractor of %d indices makes more than %d columns", ErrUnsupported, len(idx), maxTensorValues)
	}
	o := outSpec{dt: x.dt, cols: cols, dims: dims, alias: -1}
	if x.dt == dtString {
		for q := 0; q < outer; q++ {
			for _, j := range idx {
				o.src = append(o.src, x.src[q*last+j])
			}
		}
	}
	b := built{outs: []outSpec{o}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			w := len(idx)
			for r := 0; r < n; r++ {
				for q := 0; q < outer; q++ {
					for i, j := range idx {
						copyVals(yv, (r*outer+q)*w+i, xv, r*x.cols+q*last+j, 1)
					}
				}
			}
		}
	}
	return b, nil
}

// FeatureVectorizer: the inputs' columns side by side, as float; input i
// gives its first inputdimensions[i] columns, zero-padded when it has fewer.
func buildFeatureVectorizer(m *Model, nd *nodeProto, in []int) (built, error) {
	if err := checkAttrs(nd, "inputdimensions"); err != nil {
		return built{}, err
	}
	dims := attrInts(nd, "inputdimensions")
	if len(dims) != len(in) {
		return built{}, fmt.Errorf("inputdimensions has %d values for %d inputs", len(dims), len(in))
	}
	total := 0
	for i, s := range in {
		si := m.slots[s]
		if err := checkFloat(si); err != nil {
			return built{}, err
		}
		if len(si.dims) > 1 || dims[i] < 0 {
			return built{}, fmt.Errorf("%w: FeatureVectorizer of a rank-%d input of %d columns", ErrUnsupported, len(si.dims)+1, dims[i])
		}
		// each value at most maxTensorValues, so the sum cannot overflow
		d, ok := declaredCount(dims[i], maxTensorValues)
		if ok && total+d > maxTensorValues {
			ok = false
		}
		if !ok {
			return built{}, fmt.Errorf("%w: FeatureVectorizer inputdimensions[%d] = %d makes more than %d columns", ErrUnsupported, i, dims[i], maxTensorValues)
		}
		total += d
	}
	b := built{outs: []outSpec{newOut(dtFloat, total)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			yv := fr.out(out[0], n)
			clear(yv.f32)
			for r := 0; r < n; r++ {
				at := r * total
				for i, s := range in {
					xv := &fr.vals[s]
					w := min(xv.cols, int(dims[i]))
					for j := 0; j < w; j++ {
						yv.f32[at+j] = xv.at32f(r*xv.cols + j)
					}
					at += int(dims[i])
				}
			}
		}
	}
	return b, nil
}

// Imputer: a value equal to the replaced value (NaN matches NaN) becomes
// the imputed value of its column (one value for all columns unless there
// is one per column), for float or int64 input, as onnxruntime does.
func buildImputer(nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "imputed_value_floats", "replaced_value_float", "imputed_value_int64s", "replaced_value_int64"); err != nil {
		return built{}, err
	}
	floats, _, _ := attrFloats(nd, "imputed_value_floats")
	ints := attrInts(nd, "imputed_value_int64s")
	if (len(floats) == 0) == (len(ints) == 0) {
		return built{}, fmt.Errorf("Imputer needs imputed_value_floats or imputed_value_int64s (one of them)")
	}
	stride := x.dims[0]
	b := built{outs: []outSpec{{dt: x.dt, cols: x.cols, dims: x.dims, alias: -1}}}
	switch x.dt {
	case dtFloat:
		if len(floats) == 0 {
			return built{}, fmt.Errorf("Imputer of float input without imputed_value_floats")
		}
		rep := float32(0)
		if a, ok := nd.attrs["replaced_value_float"]; ok {
			rep = a.f
		}
		imp := toF32(floats)
		b.make = func(out []int) step {
			return func(fr *frame, n int) {
				xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
				for i, v := range xv.f32[:n*x.cols] {
					if v != v && rep != rep || v == rep {
						if len(imp) == stride {
							v = imp[i%stride]
						} else {
							v = imp[0]
						}
					}
					yv.f32[i] = v
				}
			}
		}
	case dtInt64:
		if len(ints) == 0 {
			return built{}, fmt.Errorf("Imputer of int64 input without imputed_value_int64s")
		}
		rep := attrInt(nd, "replaced_value_int64", 0)
		b.make = func(out []int) step {
			return func(fr *frame, n int) {
				xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
				for i, v := range xv.i64[:n*x.cols] {
					if v == rep {
						if len(ints) == stride {
							v = ints[i%stride]
						} else {
							v = ints[0]
						}
					}
					yv.i64[i] = v
				}
			}
		}
	default:
		return built{}, fmt.Errorf("%w: Imputer of %s input (onnxruntime takes float and int64)", ErrUnsupported, typeName(x.dt))
	}
	return b, nil
}

// asInt64 is static_cast<int64_t> of a float for a category lookup; ok is
// false for NaN and values beyond int64 (undefined in C++: no category).
func asInt64(v float64) (int64, bool) {
	if v != v || v >= math.MaxInt64 || v < math.MinInt64 {
		return 0, false
	}
	return int64(v), true
}

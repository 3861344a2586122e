package onnxml

import (
	"fmt"
	"math"
)

// The encoders turn categories into numbers. A string tensor reaches them
// as category codes: the feature plan codes an event's string by its index
// in the feature's category list (Info.Categories, the union of the lists
// of every encoder reading the column), and an unseen string as NaN, which
// the input step turns into −1. Each encoder maps a code to its own index
// with a table built once the graph is compiled (Model.finish), and treats
// −1 as onnxruntime treats a category it does not know.

// codeTable maps, for each column of a string tensor, a feature code to
// the encoder's own index (−1: not one of its categories).
type codeTable [][]int32

// stringCodes registers an encoder's categories for every column of the
// string value x and returns the tables, filled once the graph is
// compiled. index gives the encoder's index of a category (ok false: none).
func (m *Model) stringCodes(x slotInfo, cats []string, index func(string) (int32, bool)) codeTable {
	t := make(codeTable, x.cols)
	for j := range t {
		m.addCats(x.src[j], cats)
	}
	m.finish = append(m.finish, func() {
		for j := range t {
			list := m.cats[x.src[j]]
			t[j] = make([]int32, len(list))
			for c, s := range list {
				t[j][c] = -1
				if k, ok := index(s); ok {
					t[j][c] = k
				}
			}
		}
	})
	return t
}

func (t codeTable) lookup(col int, code int64) int32 {
	if code < 0 {
		return -1
	}
	return t[col][code]
}

// OneHotEncoder: each value becomes a row of K floats, 1 at its category's
// index (the last index of a category listed twice, as onnxruntime's map
// keeps); a category it does not know gives zeros when zeros = 1 (the
// default) and, as onnxruntime fails the call when zeros = 0, makes the row
// unscorable. Output shape: the input's, plus K.
func buildOneHotEncoder(m *Model, nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "cats_int64s", "cats_strings", "zeros"); err != nil {
		return built{}, err
	}
	ints, strs := attrInts(nd, "cats_int64s"), attrStrings(nd, "cats_strings")
	if len(ints) > 0 && len(strs) > 0 || len(ints)+len(strs) == 0 {
		return built{}, fmt.Errorf("OneHotEncoder needs one of cats_int64s and cats_strings")
	}
	if len(x.dims) > 1 {
		return built{}, fmt.Errorf("%w: OneHotEncoder of a rank-%d tensor (onnxruntime takes rank 2 at most)", ErrUnsupported, len(x.dims)+1)
	}
	zeros := attrInt(nd, "zeros", 1) != 0
	k := len(ints) + len(strs)
	attr := "cats_int64s"
	if len(strs) > 0 {
		attr = "cats_strings"
	}
	cols, ok := mulBounded(x.cols, k, maxColumns)
	if !ok {
		return built{}, fmt.Errorf("%w: OneHotEncoder of %d columns by %d categories (%s) makes more than %d columns", ErrUnsupported, x.cols, k, attr, maxColumns)
	}
	var table codeTable
	var intIndex map[int64]int32
	switch {
	case x.dt == dtString && len(strs) > 0:
		last := make(map[string]int32, len(strs))
		for i, s := range strs {
			last[s] = int32(i)
		}
		table = m.stringCodes(x, strs, func(s string) (int32, bool) { i, ok := last[s]; return i, ok })
	case x.dt != dtString && len(ints) > 0:
		if err := checkFloat(x); err != nil {
			return built{}, err
		}
		intIndex = make(map[int64]int32, len(ints))
		for i, v := range ints {
			intIndex[v] = int32(i)
		}
	case x.dt == dtString:
		return built{}, fmt.Errorf("%w: OneHotEncoder of strings with integer categories", ErrUnsupported)
	default:
		return built{}, fmt.Errorf("%w: OneHotEncoder of %s input with string categories", ErrUnsupported, typeName(x.dt))
	}
	dims := append(append([]int(nil), x.dims...), k)
	b := built{outs: []outSpec{{dt: dtFloat, cols: cols, dims: dims, alias: -1}}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			clear(yv.f32)
			for r := 0; r < n; r++ {
				for j := 0; j < x.cols; j++ {
					i := r*x.cols + j
					idx := int32(-1)
					if table != nil {
						idx = table.lookup(j, xv.i64[i])
					} else if v, ok := asInt64(xv.at64(i)); ok {
						if c, found := intIndex[v]; found {
							idx = c
						}
					}
					switch {
					case idx >= 0:
						yv.f32[i*k+int(idx)] = 1
					case !zeros:
						fr.markBad(r)
					}
				}
			}
		}
	}
	return b, nil
}

// LabelEncoder from strings (or int64) to int64 or float: opset 1
// (classes_strings: a string's index, default_int64 otherwise; a class
// listed twice keeps its last index) and opsets 2–3 (keys_* to values_*,
// default_int64 −1 or default_float −0.0; a key listed twice keeps its
// first value).
func buildLabelEncoder(m *Model, nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "classes_strings", "default_int64", "default_string", "default_float",
		"keys_strings", "keys_int64s", "values_int64s", "values_floats"); err != nil {
		return built{}, err
	}
	outDT := int32(dtInt64)
	var ivals []int64
	var fvals []float32
	defInt := attrInt(nd, "default_int64", -1)
	defFloat := float32(math.Copysign(0, -1))
	if a, ok := nd.attrs["default_float"]; ok {
		defFloat = a.f
	}
	var skeys []string
	var ikeys []int64
	firstWins := true
	if classes := attrStrings(nd, "classes_strings"); classes != nil {
		skeys, firstWins = classes, false
		for i := range classes {
			ivals = append(ivals, int64(i))
		}
	} else {
		skeys, ikeys = attrStrings(nd, "keys_strings"), attrInts(nd, "keys_int64s")
		ivals = attrInts(nd, "values_int64s")
		if f, _, _ := attrFloats(nd, "values_floats"); f != nil {
			fvals, outDT = toF32(f), dtFloat
		}
		if (skeys == nil) == (ikeys == nil) || (ivals == nil) == (fvals == nil) {
			return built{}, fmt.Errorf("%w: LabelEncoder needs keys_strings or keys_int64s and values_int64s or values_floats", ErrUnsupported)
		}
	}
	nkeys := len(skeys) + len(ikeys)
	if nvals := len(ivals) + len(fvals); nvals != nkeys {
		return built{}, fmt.Errorf("LabelEncoder has %d keys and %d values", nkeys, nvals)
	}
	var table codeTable
	var intIndex map[int64]int32
	switch {
	case x.dt == dtString && skeys != nil:
		index := make(map[string]int32, len(skeys))
		for i, s := range skeys {
			if _, seen := index[s]; !seen || !firstWins {
				index[s] = int32(i)
			}
		}
		table = m.stringCodes(x, skeys, func(s string) (int32, bool) { i, ok := index[s]; return i, ok })
	case x.dt == dtInt64 && ikeys != nil:
		intIndex = make(map[int64]int32, len(ikeys))
		for i, v := range ikeys {
			if _, seen := intIndex[v]; !seen || !firstWins {
				intIndex[v] = int32(i)
			}
		}
	default:
		return built{}, fmt.Errorf("%w: LabelEncoder of %s input with these keys", ErrUnsupported, typeName(x.dt))
	}
	b := built{outs: []outSpec{{dt: outDT, cols: x.cols, dims: x.dims, alias: -1}}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			for r := 0; r < n; r++ {
				for j := 0; j < x.cols; j++ {
					i := r*x.cols + j
					idx := int32(-1)
					if table != nil {
						idx = table.lookup(j, xv.i64[i])
					} else if c, ok := intIndex[xv.i64[i]]; ok {
						idx = c
					}
					switch {
					case outDT == dtFloat && idx >= 0:
						yv.f32[i] = fvals[idx]
					case outDT == dtFloat:
						yv.f32[i] = defFloat
					case idx >= 0:
						yv.i64[i] = ivals[idx]
					default:
						yv.i64[i] = defInt
					}
				}
			}
		}
	}
	return b, nil
}

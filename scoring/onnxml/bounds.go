package onnxml

import (
	"fmt"
	"math"
	"math/bits"
)

// Bounds on the sizes a model file declares. A file states its sizes in a
// few bytes (an n_targets attribute, a FeatureVectorizer's
// inputdimensions, a Reshape's shape) and the evaluator sizes buffers from
// them: a size past these bounds is refused at load, before anything is
// allocated for it, so that a reloaded model file can never make scoring
// allocate without limit or index out of range.
const (
	// maxColumns bounds the columns of the graph's inputs together (the
	// model's features, which the feature plan maps one by one).
	maxColumns = 1 << 16
	// maxTensorValues bounds the values per row of any other tensor of the
	// graph (intermediate values and outputs; the scorer bounds the
	// outputs it reads by scoring.MaxOutputs). It is as large as the
	// bound of all of them together: a one-hot encoding of string columns
	// with tens of thousands of categories, then a Concat, is an ordinary
	// skl2onnx pipeline, and Predict's chunks bound the memory per call.
	maxTensorValues = maxRowValues
	// maxRowValues bounds the values per row of all the graph's tensors
	// together (a frame holds them for the rows of a Predict call, which
	// Predict splits into chunks of at most frameValues values).
	maxRowValues = 1 << 22
	frameValues  = 1 << 22
	// maxTargets bounds a regressor's targets (XGBoost's num_target has
	// the same bound).
	maxTargets = 1 << 16
	// maxCategoryEntries bounds the categories of the string input
	// columns counted per column, and the entries of the encoders' code
	// tables: Info.Categories holds one list per column and the feature
	// plan builds one code map per column (about 53 bytes an entry, 53 MB
	// at the bound).
	maxCategoryEntries = 1 << 20
)

// mulBounded returns a·b when a and b are not negative and the product
// (computed without overflow) is at most limit; ok is false otherwise.
func mulBounded(a, b, limit int) (p int, ok bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > uint64(limit) {
		return 0, false
	}
	return int(lo), true
}

// prodBounded is the product of dims when every dimension is not negative
// and the product is at most limit (ok false otherwise). A zero dimension
// makes the product zero, but every other dimension must still be at most
// limit.
func prodBounded(dims []int, limit int) (p int, ok bool) {
	p = 1
	zero := false
	for _, d := range dims {
		if d < 0 || d > limit {
			return 0, false
		}
		if d == 0 {
			zero = true
			continue
		}
		if p, ok = mulBounded(p, d, limit); !ok {
			return 0, false
		}
	}
	if zero {
		return 0, true
	}
	return p, true
}

// checkWidth refuses a tensor whose per-row dimensions are not a valid
// shape of cols values at most maxTensorValues.
func checkWidth(cols int, dims []int) error {
	if cols < 0 || cols > maxTensorValues {
		return fmt.Errorf("%w: %d values per row (at most %d)", ErrUnsupported, cols, maxTensorValues)
	}
	if dims == nil {
		return nil
	}
	if p, ok := prodBounded(dims, maxTensorValues); !ok || p != cols {
		return fmt.Errorf("%w: per-row shape %v of %d values (each dimension and their product at most %d)", ErrUnsupported, dims, cols, maxTensorValues)
	}
	return nil
}

// declaredCount converts a count the file declares (an int64 attribute)
// to an int of at most limit; ok is false for a negative or larger value.
func declaredCount(v int64, limit int) (int, bool) {
	if v < 0 || v > int64(limit) || v > math.MaxInt {
		return 0, false
	}
	return int(v), true
}

// targetsAttr reads a regressor's count of targets, attribute attr of nd
// (def when absent): at least 1 and at most maxTargets; op names the
// operator in the error.
func targetsAttr(nd *nodeProto, attr string, def int64, op string) (int, error) {
	v := attrInt(nd, attr, def)
	if v < 1 {
		return 0, fmt.Errorf("%s %s %d, want at least 1", op, attr, v)
	}
	nt, ok := declaredCount(v, maxTargets)
	if !ok {
		return 0, fmt.Errorf("%w: %s %s %d (at most %d)", ErrUnsupported, op, attr, v, maxTargets)
	}
	return nt, nil
}

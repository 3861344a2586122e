package onnxml

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// parseAlloc parses data and reports the bytes Parse allocated.
func parseAlloc(data []byte) (*Model, uint64, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := Parse(data, "bounds")
	runtime.ReadMemStats(&after)
	return m, after.TotalAlloc - before.TotalAlloc, err
}

// maxParseAlloc is what Parse may allocate for the small files below.
const maxParseAlloc = 64 << 20

// leafRegressor is a TreeEnsembleRegressor of one single-leaf tree that
// adds 1 to target 0 of nt.
func leafRegressor(in string, nt int64) tNode {
	return tNode{op: "TreeEnsembleRegressor", domain: ml, in: []string{in}, out: []string{"Y"}, attrs: []tAttr{
		aInts("nodes_treeids", 0), aInts("nodes_nodeids", 0), aInts("nodes_featureids", 0), aStrings("nodes_modes", "LEAF"),
		aFloats("nodes_values", 0), aInts("nodes_truenodeids", 0), aInts("nodes_falsenodeids", 0),
		aInts("target_treeids", 0), aInts("target_nodeids", 0), aInts("target_ids", 0), aFloats("target_weights", 1),
		aInt("n_targets", nt)}}
}

// leafV5 is an opset-5 TreeEnsemble of one split over x0 into two leaves
// of target 0 of nt.
func leafV5(nt int64) tNode {
	return tNode{op: "TreeEnsemble", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: []tAttr{
		aInt("n_targets", nt), aInts("tree_roots", 0), aIntTensor("nodes_modes", 2, 0), aInts("nodes_featureids", 0),
		aDoubleTensor("nodes_splits", 0.5), aInts("nodes_truenodeids", 0), aInts("nodes_trueleafs", 1),
		aInts("nodes_falsenodeids", 1), aInts("nodes_falseleafs", 1), aInts("leaf_targetids", 0, 0),
		aDoubleTensor("leaf_weights", 1, 2)}}
}

// oneHotChain doubles the width of a [N, 1] input n times (one-hot over
// two categories, then Flatten), then a tree reads it.
func oneHotChain(n int) []byte {
	var nodes []tNode
	prev := "X"
	for i := 0; i < n; i++ {
		oh, flat := fmt.Sprintf("oh%d", i), fmt.Sprintf("f%d", i)
		nodes = append(nodes,
			tNode{op: "OneHotEncoder", domain: ml, in: []string{prev}, out: []string{oh}, attrs: []tAttr{aInts("cats_int64s", 0, 1)}},
			tNode{op: "Flatten", in: []string{oh}, out: []string{flat}})
		prev = flat
	}
	nodes = append(nodes, leafRegressor(prev, 1))
	return encModel(nodes, []tIO{{"X", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}})
}

func featureVectorizer(dims ...int64) []byte {
	in := make([]string, len(dims))
	for i := range in {
		in[i] = "X"
	}
	return encModel([]tNode{
		{op: "FeatureVectorizer", domain: ml, in: in, out: []string{"V"}, attrs: []tAttr{aInts("inputdimensions", dims...)}},
		leafRegressor("V", 1),
	}, []tIO{{"X", dtFloat, 4}}, []tIO{{"Y", dtFloat, 1}})
}

// A model file declares sizes that the evaluator sizes buffers by: each of
// these small files was accepted, and then allocated gigabytes or
// panicked when it scored. Each is refused at load, naming the attribute,
// after allocating little.
func TestDeclaredSizesAreRefused(t *testing.T) {
	manyIdx := make([]float64, maxColumns+1) // index 0, 65,537 times
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"TreeEnsembleRegressor n_targets 2^24", encModel([]tNode{leafRegressor("X", 1<<24)},
			[]tIO{{"X", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}}), "n_targets 16777216"},
		{"TreeEnsembleRegressor n_targets past the bound", encModel([]tNode{leafRegressor("X", maxTargets+1)},
			[]tIO{{"X", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}}), "n_targets 65537"},
		{"TreeEnsemble n_targets 2^24", encModel([]tNode{leafV5(1 << 24)},
			[]tIO{{"X", dtDouble, 1}}, []tIO{{"Y", dtDouble, 1}}), "n_targets 16777216"},
		// 4·2^62 wraps to 0, the number of coefficients
		{"LinearRegressor targets 2^62", encModel([]tNode{{op: "LinearRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"},
			attrs: []tAttr{aInt("targets", 1<<62)}}}, []tIO{{"X", dtFloat, 4}}, []tIO{{"Y", dtFloat, 1}}), "targets 4611686018427387904"},
		{"LinearRegressor targets past the bound", encModel([]tNode{{op: "LinearRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"},
			attrs: []tAttr{aInt("targets", maxTargets+1), aFloats("coefficients", make([]float32, maxTargets+1)...)}}},
			[]tIO{{"X", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}}), "targets 65537"},
		{"FeatureVectorizer inputdimensions 2^24", featureVectorizer(1 << 24), "inputdimensions[0] = 16777216"},
		// the sum 2^63 wraps around to a negative width
		{"FeatureVectorizer inputdimensions 2^62, 2^62", featureVectorizer(1<<62, 1<<62), "inputdimensions[0] = 4611686018427387904"},
		{"FeatureVectorizer inputdimensions summing past the bound", featureVectorizer(maxColumns, 1), "inputdimensions[1] = 1"},
		// 24 doublings reach 2^24 columns; the 17th passes the bound
		{"OneHotEncoder chain", oneHotChain(24), "cats_int64s"},
		// 2·(2^32+1)(2^32−1)(2^32+1)(2^32−1) wraps around to 2, the input's
		// width (every dimension is exact in the test writer's float64)
		{"Reshape whose product wraps", encModel([]tNode{
			{op: "Reshape", in: []string{"X", "shape"}, out: []string{"R"}}, leafRegressor("R", 1),
		}, []tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}},
			tInit{"shape", dtInt64, []int64{6}, []float64{-1, 2, 1<<32 + 1, 1<<32 - 1, 1<<32 + 1, 1<<32 - 1}}), "Reshape to"},
		{"ArrayFeatureExtractor past the bound", encModel([]tNode{
			{op: "ArrayFeatureExtractor", domain: ml, in: []string{"X", "idx"}, out: []string{"A"}}, leafRegressor("A", 1),
		}, []tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}},
			tInit{"idx", dtInt64, []int64{int64(len(manyIdx))}, manyIdx}), "ArrayFeatureExtractor of 65537 indices"},
		// no attribute declares this width: the check of every node's
		// output catches it
		{"MatMul output past the bound", encModel([]tNode{{op: "MatMul", in: []string{"X", "W"}, out: []string{"Y"}}},
			[]tIO{{"X", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}},
			tInit{"W", dtFloat, []int64{1, maxColumns + 1}, make([]float64, maxColumns+1)}), `output "Y": unsupported ONNX model: 65537 values per row`},
		{"initializer shape larger than its data", encModel([]tNode{
			{op: "Reshape", in: []string{"X", "shape"}, out: []string{"R"}}, leafRegressor("R", 1),
		}, []tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}},
			tInit{"shape", dtInt64, []int64{1 << 40}, []float64{-1, 2}}), `initializer "shape" has dimensions [1099511627776] but 2 values`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, alloc, err := parseAlloc(tt.data)
			if err == nil {
				t.Fatalf("accepted (%d-byte file, %d outputs, Parse allocated %d bytes)", len(tt.data), m.Info().Outputs(), alloc)
			}
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrUnsupported naming %q", err, tt.want)
			}
			if alloc > maxParseAlloc {
				t.Errorf("Parse allocated %d MB to refuse a %d-byte file", alloc>>20, len(tt.data))
			}
		})
	}
}

// At the bounds the same graphs load, allocating little.
func TestDeclaredSizesAtTheBounds(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		outputs int
	}{
		{"n_targets 2^16", encModel([]tNode{leafRegressor("X", maxTargets)}, []tIO{{"X", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}}), maxTargets},
		{"TreeEnsemble n_targets 2^16", encModel([]tNode{leafV5(maxTargets)}, []tIO{{"X", dtDouble, 1}}, []tIO{{"Y", dtDouble, 1}}), maxTargets},
		{"FeatureVectorizer of 2^16 columns", featureVectorizer(maxColumns-4, 4), 1},
		{"OneHotEncoder chain to 2^16 columns", oneHotChain(16), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, alloc, err := parseAlloc(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if m.Info().Outputs() != tt.outputs {
				t.Errorf("%d outputs, want %d", m.Info().Outputs(), tt.outputs)
			}
			if alloc > maxParseAlloc {
				t.Errorf("Parse allocated %d MB for a %d-byte file", alloc>>20, len(tt.data))
			}
		})
	}
}

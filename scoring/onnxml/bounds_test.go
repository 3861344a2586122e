package onnxml

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
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

// oneHot is a OneHotEncoder of k integer categories over a one-column
// input, flattened, then a tree.
func oneHot(k int) []byte {
	cats := make([]int64, k)
	for i := range cats {
		cats[i] = int64(i)
	}
	return encModel([]tNode{
		{op: "OneHotEncoder", domain: ml, in: []string{"X"}, out: []string{"oh"}, attrs: []tAttr{aInts("cats_int64s", cats...)}},
		{op: "Flatten", in: []string{"oh"}, out: []string{"f"}},
		leafRegressor("f", 1),
	}, []tIO{{"X", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}})
}

// stringKeys is the k categories c0, c1, ….
func stringKeys(k int) []string {
	keys := make([]string, k)
	for i := range keys {
		keys[i] = fmt.Sprintf("c%d", i)
	}
	return keys
}

// indexes is 0, 1, …, k−1.
func indexes(k int) []int64 {
	vals := make([]int64, k)
	for i := range vals {
		vals[i] = int64(i)
	}
	return vals
}

// stringLabels is a LabelEncoder over a [N, cols] string input with k
// keys (value = index), cast to float, then a tree.
func stringLabels(cols, k int) []byte {
	return encModel([]tNode{
		{op: "LabelEncoder", domain: ml, name: "labels", in: []string{"S"}, out: []string{"codes"},
			attrs: []tAttr{aStrings("keys_strings", stringKeys(k)...), aInts("values_int64s", indexes(k)...)}},
		{op: "Cast", in: []string{"codes"}, out: []string{"X"}, attrs: []tAttr{aInt("to", dtFloat)}},
		sumTree("X", 2),
	}, []tIO{{"S", dtString, int64(cols)}}, []tIO{{"Y", dtFloat, 1}})
}

// encoderStack is LabelEncoders enc0, enc1, … of the given keys (value =
// index) over one string column; the first one's codes, cast to float,
// feed a tree.
func encoderStack(keys ...[]string) []byte {
	var nodes []tNode
	for i, k := range keys {
		nodes = append(nodes, tNode{op: "LabelEncoder", domain: ml, name: fmt.Sprintf("enc%d", i), in: []string{"S"}, out: []string{fmt.Sprintf("codes%d", i)},
			attrs: []tAttr{aStrings("keys_strings", k...), aInts("values_int64s", indexes(len(k))...)}})
	}
	nodes = append(nodes, tNode{op: "Cast", in: []string{"codes0"}, out: []string{"X"}, attrs: []tAttr{aInt("to", dtFloat)}}, sumTree("X", 1))
	return encModel(nodes, []tIO{{"S", dtString, 1}}, []tIO{{"Y", dtFloat, 1}})
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
// panicked when it scored (or, for the string columns, allocated
// gigabytes at load). Each is refused at load, naming the attribute, after
// allocating little.
func TestDeclaredSizesAreRefused(t *testing.T) {
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
		{"FeatureVectorizer inputdimensions summing past the bound", featureVectorizer(maxTensorValues, 1), "inputdimensions[1] = 1"},
		// 24 doublings reach 2^24 columns; the tensors together pass 2^22
		// values per row first
		{"OneHotEncoder chain", oneHotChain(24), `node "" (OneHotEncoder): output "oh20": unsupported ONNX model: 2097152 values per row, which bring the graph's tensors to 6291453 values per row together (at most 4194304)`},
		// 2·(2^32+1)(2^32−1)(2^32+1)(2^32−1) wraps around to 2, the input's
		// width (every dimension is exact in the test writer's float64)
		{"Reshape whose product wraps", encModel([]tNode{
			{op: "Reshape", in: []string{"X", "shape"}, out: []string{"R"}}, leafRegressor("R", 1),
		}, []tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}},
			tInit{"shape", dtInt64, []int64{6}, []float64{-1, 2, 1<<32 + 1, 1<<32 - 1, 1<<32 + 1, 1<<32 - 1}}), "Reshape to"},
		// 1,024 columns × 1,025 categories pass 2^20 entries
		{"string columns × categories", stringLabels(1024, 1025),
			`node "labels" (LabelEncoder): unsupported ONNX model: keys_strings: 1025 categories over 1024 string columns bring the string columns' category entries, counted per column, to at least 1049600 (at most 1048576)`},
		// 1,024 categories, then 1,024 encoders of one of them: each has a
		// code table of the list's 1,024 entries
		{"code tables of one column's list", encoderStack(append([][]string{stringKeys(1024)}, slices.Repeat([][]string{{"c0"}}, 1024)...)...),
			`node "enc1024" (LabelEncoder): unsupported ONNX model: keys_strings: 1 categories over 1 string columns bring the entries of the encoders' code tables to at least 1049600 (at most 1048576)`},
		// 1,024 encoders of one category, then one of 1,024 more: the list
		// has 1,025 entries once the graph is compiled, and so has every
		// encoder's code table
		{"code tables of a list that grew", encoderStack(append(slices.Repeat([][]string{{"a"}}, 1024), stringKeys(1024))...),
			`node "enc1023" (LabelEncoder): unsupported ONNX model: keys_strings: its code table of 1025 entries (the categories of its columns' list) brings the string encoders' code tables to 1049600 entries (at most 1048576)`},
		// 65 copies of 2^16 columns side by side
		{"Concat past the bound", encModel([]tNode{
			{op: "Concat", name: "wide", in: slices.Repeat([]string{"X"}, 65), out: []string{"C"}, attrs: []tAttr{aInt("axis", 1)}}, leafRegressor("C", 1),
		}, []tIO{{"X", dtFloat, maxColumns}}, []tIO{{"Y", dtFloat, 1}}),
			`node "wide" (Concat): unsupported ONNX model: Concat along axis 1: input 64 ("X") brings that dimension to 4259840 (at most 4194304)`},
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
		// wider than the inputs may be: an ordinary one-hot encoding of a
		// column of many categories
		{"OneHotEncoder of 70,000 categories", oneHot(70000), 1},
		{"2^20 category entries", stringLabels(1024, 1024), 1},
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

// The string columns an encoder reads share one category list until
// another encoder reads some of them only. Checked against the direct
// statement: each column's list is the union of the lists of the encoders
// reading it, in first-use order, and each encoder maps a column's code to
// its own index.
func TestStringColumnsShareCategoryLists(t *testing.T) {
	type enc struct {
		cols   []int
		cats   []string
		onehot bool
		vals   []int64 // LabelEncoder values
	}
	encs := []enc{
		{cols: []int{0, 1, 2, 3}, cats: []string{"a", "b"}, onehot: true},
		{cols: []int{1, 3}, cats: []string{"c", "a", "d", "c"}, vals: []int64{10, 20, 30, 40}},
		{cols: []int{3}, cats: []string{"e", "b"}, onehot: true},
		{cols: []int{0, 1, 2, 3}, cats: []string{"f"}, vals: []int64{50}},
	}
	var nodes []tNode
	var inits []tTensor
	var parts []string
	for i, e := range encs {
		in := "S"
		if len(e.cols) < 4 {
			in = fmt.Sprintf("s%d", i)
			idx := make([]float64, len(e.cols))
			for k, c := range e.cols {
				idx[k] = float64(c)
			}
			inits = append(inits, tInit{in + "idx", dtInt64, []int64{int64(len(idx))}, idx})
			nodes = append(nodes, tNode{op: "ArrayFeatureExtractor", domain: ml, in: []string{"S", in + "idx"}, out: []string{in}})
		}
		out := fmt.Sprintf("e%d", i)
		if e.onehot {
			nodes = append(nodes,
				tNode{op: "OneHotEncoder", domain: ml, in: []string{in}, out: []string{out + "oh"}, attrs: []tAttr{aStrings("cats_strings", e.cats...)}},
				tNode{op: "Flatten", in: []string{out + "oh"}, out: []string{out}})
		} else {
			nodes = append(nodes,
				tNode{op: "LabelEncoder", domain: ml, in: []string{in}, out: []string{out + "l"}, attrs: []tAttr{aStrings("keys_strings", e.cats...), aInts("values_int64s", e.vals...)}},
				tNode{op: "Cast", in: []string{out + "l"}, out: []string{out}, attrs: []tAttr{aInt("to", dtFloat)}})
		}
		parts = append(parts, out)
	}
	// the encoders' outputs side by side, passed through by a
	// LinearRegressor with identity coefficients
	width := 0
	for _, e := range encs {
		if e.onehot {
			width += len(e.cols) * len(e.cats)
		} else {
			width += len(e.cols)
		}
	}
	coef := make([]float32, width*width)
	for i := 0; i < width; i++ {
		coef[i*width+i] = 1
	}
	nodes = append(nodes,
		tNode{op: "Concat", in: parts, out: []string{"X"}, attrs: []tAttr{aInt("axis", 1)}},
		tNode{op: "LinearRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: []tAttr{aInt("targets", int64(width)), aFloats("coefficients", coef...)}})
	m := mustParse(t, encModel(nodes, []tIO{{"S", dtString, 4}}, []tIO{{"Y", dtFloat, int64(width)}}, inits...))

	// the reference lists, column by column
	lists := make([][]string, 4)
	for _, e := range encs {
		for _, c := range e.cols {
			for _, s := range e.cats {
				if !slices.Contains(lists[c], s) {
					lists[c] = append(lists[c], s)
				}
			}
		}
	}
	if got := m.Info().Categories; !slices.EqualFunc(got, lists, slices.Equal[[]string]) {
		t.Fatalf("categories %q, want %q", got, lists)
	}
	// rows covering every code of every column, and NaN (unknown)
	var x []float32
	var want []float32
	for r := 0; r < 6; r++ {
		str := make([]string, 4)
		for c := 0; c < 4; c++ {
			if code := r % (len(lists[c]) + 1); code < len(lists[c]) {
				x = append(x, float32(code))
				str[c] = lists[c][code]
			} else {
				x = append(x, nan)
			}
		}
		for _, e := range encs {
			for _, c := range e.cols {
				if e.onehot {
					for _, s := range e.cats {
						v := float32(0)
						if str[c] == s {
							v = 1
						}
						want = append(want, v)
					}
					continue
				}
				v := float32(-1) // default_int64
				if i := slices.Index(e.cats, str[c]); str[c] != "" && i >= 0 {
					v = float32(e.vals[i]) // the first of a key listed twice
				}
				want = append(want, v)
			}
		}
	}
	got := make([]float32, len(want))
	if err := m.Predict(x, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("outputs\n%v, want\n%v", got, want)
	}
}

// An initializer has no batch dimension: an operator that reads the batch
// from one read n rows of a value that holds one (Predict indexed out of
// range). Only the inputs an operator takes as constants may be one.
func TestConstantBatchInputsAreRefused(t *testing.T) {
	scaler := func(in string) tNode {
		return tNode{op: "Scaler", domain: ml, in: []string{in}, out: []string{"S"}, attrs: []tAttr{aFloats("offset", 1), aFloats("scale", 2)}}
	}
	c := tInit{"C", dtFloat, []int64{2}, []float64{3, 4}}
	tests := []struct {
		name  string
		nodes []tNode
		want  string // "" for a graph that loads
	}{
		{"Scaler of a constant", []tNode{scaler("C"), sumTree("S", 2)}, `input "C" is an initializer`},
		{"Add of two constants", []tNode{{op: "Add", in: []string{"C", "C"}, out: []string{"S"}}, sumTree("S", 2)}, `input "C" is an initializer`},
		{"FeatureVectorizer of a constant", []tNode{{op: "FeatureVectorizer", domain: ml, in: []string{"X", "C"}, out: []string{"S"},
			attrs: []tAttr{aInts("inputdimensions", 2, 2)}}, sumTree("S", 4)}, `input "C" is an initializer`},
		{"Reshape of a constant", []tNode{{op: "Reshape", in: []string{"C", "shape"}, out: []string{"S"}}, sumTree("S", 2)}, `input "C" is an initializer`},
		{"constant + batch", []tNode{{op: "Add", in: []string{"C", "X"}, out: []string{"S"}}, sumTree("S", 2)}, ""},
		{"batch + constant", []tNode{{op: "Add", in: []string{"X", "C"}, out: []string{"S"}}, sumTree("S", 2)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(encModel(tt.nodes, []tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}},
				c, tInit{"shape", dtInt64, []int64{2}, []float64{-1, 2}}), "x")
			if tt.want != "" {
				if err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want ErrUnsupported naming %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// x + [3 4] > 0.5: rows [0 0] → 3, [-3 -4] → 0, [-3 0] → 2
			out := make([]float32, 3)
			if err := m.Predict([]float32{0, 0, -3, -4, -3, 0}, out); err != nil {
				t.Fatal(err)
			}
			if want := []float32{3, 0, 2}; !slices.Equal(out, want) {
				t.Errorf("%v, want %v", out, want)
			}
		})
	}
}

// castChain is a double input [N, cols] cast n times (float, double,
// float…), then a tree over its first four columns.
func castChain(cols int64, n int) []byte {
	var nodes []tNode
	prev := "X"
	for i := 0; i < n; i++ {
		to := int64(dtFloat)
		if i%2 == 1 {
			to = dtDouble
		}
		out := fmt.Sprintf("c%d", i)
		nodes = append(nodes, tNode{op: "Cast", in: []string{prev}, out: []string{out}, attrs: []tAttr{aInt("to", to)}})
		prev = out
	}
	nodes = append(nodes, sumTree(prev, 4))
	return encModel(nodes, []tIO{{"X", dtDouble, cols}}, []tIO{{"Y", dtFloat, 1}})
}

// The graph's inputs are bounded together by maxColumns, and all its
// tensors together by maxRowValues: a Predict call holds them for its
// rows.
func TestGraphWidthsTogetherAreBounded(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string // "" for a graph that loads
	}{
		{"inputs together past the bound", encModel([]tNode{leafRegressor("A", 1)},
			[]tIO{{"A", dtFloat, maxColumns}, {"B", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}}), "more than 65536 columns together"},
		{"inputs together at the bound", encModel([]tNode{leafRegressor("A", 1)},
			[]tIO{{"A", dtFloat, maxColumns - 1}, {"B", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}}), ""},
		// the input and 63 casts of 2^16 columns hold 2^22 values per row,
		// and the tree's output one more
		{"tensors together past the bound", castChain(maxColumns, 63),
			`node "" (TreeEnsembleRegressor): output "Y": unsupported ONNX model: 1 values per row, which bring the graph's tensors to 4194305 values per row together (at most 4194304)`},
		{"tensors together under the bound", castChain(maxColumns, 62), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, alloc, err := parseAlloc(tt.data)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted (%d inputs, Parse allocated %d bytes)", len(m.Info().Features), alloc)
			case tt.want != "" && (!errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want ErrUnsupported naming %q", err, tt.want)
			}
			if alloc > maxParseAlloc {
				t.Errorf("Parse allocated %d MB", alloc>>20)
			}
		})
	}
}

// A graph whose tensors hold many values per row is scored in chunks of
// rows: a Predict call holds about frameValues values however many rows
// it is given, and the outputs are those of one row at a time.
func TestPredictChunksWideGraphs(t *testing.T) {
	const cols, rows = maxColumns, 18      // four chunks of 4 rows and one of 2
	m := mustParse(t, castChain(cols, 14)) // 15·2^16 + 1 values per row: chunks of 4 rows
	if m.chunkRows != 4 {
		t.Fatalf("chunks of %d rows, want 4", m.chunkRows)
	}
	x := make([]float64, rows*cols)
	x32 := make([]float32, rows*cols)
	for r := 0; r < rows; r++ {
		for j := 0; j < 4; j++ {
			if r>>j&1 == 1 {
				x[r*cols+j], x32[r*cols+j] = 1, 1
			}
		}
	}
	for _, f64 := range []bool{false, true} {
		call := "Predict"
		if f64 {
			call = "Predict64"
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out := make([]float32, rows)
		var err error
		if f64 {
			err = m.Predict64(x, out)
		} else {
			err = m.Predict(x32, out)
		}
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		// 4 rows of 15·2^16 float and double values: 23 MB; 18 rows at once
		// take 104 MB (the frame is pooled: under -race the pool drops it at
		// random, and the plain run measures this)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 48<<20 && !raceEnabled {
			t.Errorf("%s: %d rows allocated %d MB", call, rows, alloc>>20)
		}
		for r := 0; r < rows; r++ {
			if out[r] != float32(r%16) { // the tree adds 2^j for x_j > 0.5, j < 4
				t.Errorf("%s: row %d scored %v, want %d", call, r, out[r], r%16)
			}
		}
	}
}

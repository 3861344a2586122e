package onnxml

import (
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

const ml = "ai.onnx.ml"

var nan = float32(math.NaN())

// twoTrees is an ensemble over two features:
//
//	tree 0: x0 <= 1.5 (missing → true) ? 10 : (x1 < 0 ? 20 : 30)
//	tree 1: x1 >= 2 ? 1 : 2
func twoTrees(prefix string, extra ...tAttr) []tAttr {
	a := []tAttr{
		aInts("nodes_treeids", 0, 0, 0, 0, 0, 1, 1, 1),
		aInts("nodes_nodeids", 0, 1, 2, 3, 4, 0, 1, 2),
		aInts("nodes_featureids", 0, 0, 1, 0, 0, 1, 0, 0),
		aStrings("nodes_modes", "BRANCH_LEQ", "LEAF", "BRANCH_LT", "LEAF", "LEAF", "BRANCH_GTE", "LEAF", "LEAF"),
		aFloats("nodes_values", 1.5, 0, 0, 0, 0, 2, 0, 0),
		aInts("nodes_truenodeids", 1, 0, 3, 0, 0, 1, 0, 0),
		aInts("nodes_falsenodeids", 2, 0, 4, 0, 0, 2, 0, 0),
		aInts("nodes_missing_value_tracks_true", 1, 0, 0, 0, 0, 0, 0, 0),
		aInts(prefix+"_treeids", 0, 0, 0, 1, 1),
		aInts(prefix+"_nodeids", 1, 3, 4, 1, 2),
		aInts(prefix+"_ids", 0, 0, 0, 0, 0),
		aFloats(prefix+"_weights", 10, 20, 30, 1, 2),
	}
	return append(a, extra...)
}

var treeRows = []float32{1, 5, nan, -1, 2, -1, 2, nan}

func predict(t *testing.T, data []byte, x []float32, n int) (*Model, []float32) {
	t.Helper()
	m, err := Parse(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, n*m.Info().Outputs())
	if err := m.Predict(x, out); err != nil {
		t.Fatal(err)
	}
	return m, out
}

func TestTreeEnsembleRegressor(t *testing.T) {
	tests := []struct {
		agg  string
		base []float32
		want []float32
	}{
		{"SUM", []float32{0.5}, []float32{11.5, 12.5, 22.5, 32.5}},
		{"AVERAGE", []float32{0.5}, []float32{6, 6.5, 11.5, 16.5}},
		{"MIN", []float32{0.5}, []float32{1.5, 2.5, 2.5, 2.5}},
		{"MAX", nil, []float32{10, 10, 20, 30}},
	}
	for _, tt := range tests {
		t.Run(tt.agg, func(t *testing.T) {
			attrs := twoTrees("target", aString("aggregate_function", tt.agg), aInt("n_targets", 1))
			if tt.base != nil {
				attrs = append(attrs, aFloats("base_values", tt.base...))
			}
			data := encModel([]tNode{{op: "TreeEnsembleRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: attrs}},
				[]tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}})
			m, got := predict(t, data, treeRows, 4)
			if info := m.Info(); info.Output != scoring.Regression || m.NumTrees() != 2 || m.NumNodes() != 8 {
				t.Fatalf("info %+v trees %d nodes %d", info, m.NumTrees(), m.NumNodes())
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("row %d: %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func sigmoid(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestTreeEnsembleClassifierBinaryMixedLogistic(t *testing.T) {
	// GradientBoosting-like: one class id, signed weights, LOGISTIC.
	attrs := []tAttr{
		aInts("nodes_treeids", 0, 0, 0), aInts("nodes_nodeids", 0, 1, 2), aInts("nodes_featureids", 0, 0, 0),
		aStrings("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF"), aFloats("nodes_values", 0, 0, 0),
		aInts("nodes_truenodeids", 1, 0, 0), aInts("nodes_falsenodeids", 2, 0, 0),
		aInts("class_treeids", 0, 0), aInts("class_nodeids", 1, 2), aInts("class_ids", 0, 0),
		aFloats("class_weights", -0.5, 1.2), aInts("classlabels_int64s", 0, 1),
		aFloats("base_values", 0.3), aString("post_transform", "LOGISTIC"),
	}
	data := encModel([]tNode{
		{op: "TreeEnsembleClassifier", domain: ml, in: []string{"X"}, out: []string{"label", "probabilities"}, attrs: attrs},
		{op: "ZipMap", domain: ml, in: []string{"probabilities"}, out: []string{"output_probability"}, attrs: []tAttr{aInts("classlabels_int64s", 0, 1)}},
	}, []tIO{{"X", dtFloat, 1}}, []tIO{{"label", dtInt64, 0}, {"output_probability", 0, 0}})
	m, got := predict(t, data, []float32{-1, 1}, 2)
	if m.Info().Output != scoring.Binary {
		t.Fatalf("info %+v", m.Info())
	}
	for i, want := range []float64{sigmoid(-0.5 + 0.3), sigmoid(1.2 + 0.3)} {
		if !near(float64(got[i]), want) {
			t.Errorf("row %d: P(1) = %v, want %v", i, got[i], want)
		}
	}
}

func TestTreeEnsembleClassifierMulticlass(t *testing.T) {
	attrs := []tAttr{
		aInts("nodes_treeids", 0, 0, 0), aInts("nodes_nodeids", 0, 1, 2), aInts("nodes_featureids", 0, 0, 0),
		aStrings("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF"), aFloats("nodes_values", 0, 0, 0),
		aInts("nodes_truenodeids", 1, 0, 0), aInts("nodes_falsenodeids", 2, 0, 0),
		aInts("class_treeids", 0, 0), aInts("class_nodeids", 1, 2), aInts("class_ids", 0, 2),
		aFloats("class_weights", 2, 3), aInts("classlabels_int64s", 10, 11, 12),
		aFloats("base_values", 0.1, 0.2, 0.3), aString("post_transform", "SOFTMAX"),
	}
	data := encModel([]tNode{{op: "TreeEnsembleClassifier", domain: ml, in: []string{"X"}, out: []string{"label", "probabilities"}, attrs: attrs}},
		[]tIO{{"X", dtFloat, 1}}, []tIO{{"label", dtInt64, 0}, {"probabilities", dtFloat, 3}})
	m, got := predict(t, data, []float32{-1, 1}, 2)
	if info := m.Info(); info.Output != scoring.MultiClass || info.Classes != 3 {
		t.Fatalf("info %+v", info)
	}
	softmax64 := func(s ...float64) []float64 {
		var sum float64
		out := make([]float64, len(s))
		for i, v := range s {
			out[i] = math.Exp(v)
			sum += out[i]
		}
		for i := range out {
			out[i] /= sum
		}
		return out
	}
	want := append(softmax64(2.1, 0.2, 0.3), softmax64(0.1, 0.2, 3.3)...)
	for i := range got {
		if !near(float64(got[i]), want[i]) {
			t.Errorf("output %d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestLinearAndNormalizer(t *testing.T) {
	x := []float32{1, 3, 2, 0}
	t.Run("regressor", func(t *testing.T) {
		data := encModel([]tNode{{op: "LinearRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"},
			attrs: []tAttr{aFloats("coefficients", 2, -1), aFloats("intercepts", 0.5)}}},
			[]tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}})
		_, got := predict(t, data, x, 2)
		if got[0] != -0.5 || got[1] != 4.5 {
			t.Errorf("got %v", got)
		}
	})
	t.Run("binary classifier", func(t *testing.T) {
		data := encModel([]tNode{{op: "LinearClassifier", domain: ml, in: []string{"X"}, out: []string{"label", "probabilities"},
			attrs: []tAttr{aFloats("coefficients", 0.25, -0.125), aFloats("intercepts", 0.125), aInts("classlabels_ints", 0, 1)}}},
			[]tIO{{"X", dtFloat, 2}}, []tIO{{"label", dtInt64, 0}, {"probabilities", dtFloat, 2}})
		_, got := predict(t, data, x, 2)
		if got[0] != 0 || got[1] != 0.625 { // z = 0.25-0.375+0.125 = 0; 0.5+0.125
			t.Errorf("got %v", got)
		}
	})
	t.Run("multiclass softmax, then L1", func(t *testing.T) {
		data := encModel([]tNode{
			{op: "LinearClassifier", domain: ml, in: []string{"X"}, out: []string{"label", "scores"},
				attrs: []tAttr{aFloats("coefficients", 1, 0, 0, 1, 1, 1), aFloats("intercepts", 0, 0, -4), aInts("classlabels_ints", 0, 1, 2),
					aString("post_transform", "SOFTMAX")}},
			{op: "Normalizer", domain: ml, in: []string{"scores"}, out: []string{"probabilities"}, attrs: []tAttr{aString("norm", "L1")}},
		}, []tIO{{"X", dtFloat, 2}}, []tIO{{"label", dtInt64, 0}, {"probabilities", dtFloat, 3}})
		_, got := predict(t, data, x, 2)
		e := []float64{math.Exp(1), math.Exp(3), math.Exp(0)}
		s := e[0] + e[1] + e[2]
		for i, want := range []float64{e[0] / s, e[1] / s, e[2] / s} {
			if !near(float64(got[i]), want) {
				t.Errorf("class %d: %v, want %v", i, got[i], want)
			}
		}
	})
}

// TestDoubleGraph is the layout skl2onnx emits for a logistic regression
// with double input: MatMul, Add, Sigmoid-free Softmax and ArgMax.
func TestDoubleGraph(t *testing.T) {
	data := encModel([]tNode{
		{op: "MatMul", in: []string{"X", "W"}, out: []string{"mm"}},
		{op: "Add", in: []string{"mm", "B"}, out: []string{"z"}},
		{op: "Softmax", in: []string{"z"}, out: []string{"probabilities"}, attrs: []tAttr{aInt("axis", -1)}},
		{op: "ArgMax", in: []string{"probabilities"}, out: []string{"label"}, attrs: []tAttr{aInt("axis", 1)}},
	}, []tIO{{"X", dtDouble, 2}}, []tIO{{"label", dtInt64, 0}, {"probabilities", dtDouble, 2}},
		tInit{"W", dtDouble, []int64{2, 2}, []float64{-0.3, 0.3, 0.7, -0.7}},
		tInit{"B", dtDouble, []int64{2}, []float64{0.1, -0.1}})
	m, err := Parse(data, "lr")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Float64Input() || m.Info().Output != scoring.Binary {
		t.Fatalf("info %+v", m.Info())
	}
	x := []float64{1.5, -2.25}
	out := make([]float32, 1)
	if err := m.Predict64(x, out); err != nil {
		t.Fatal(err)
	}
	z0 := 1.5*-0.3 + -2.25*0.7 + 0.1
	z1 := 1.5*0.3 + -2.25*-0.7 - 0.1
	want := float32(math.Exp(z1-math.Max(z0, z1)) / (math.Exp(z0-math.Max(z0, z1)) + math.Exp(z1-math.Max(z0, z1))))
	if out[0] != want {
		t.Errorf("P(1) = %v, want %v", out[0], want)
	}
}

func TestConcatNamesInputsAndCast(t *testing.T) {
	data := encModel([]tNode{
		{op: "Concat", in: []string{"age", "income"}, out: []string{"X"}, attrs: []tAttr{aInt("axis", 1)}},
		{op: "Cast", in: []string{"X"}, out: []string{"Xf"}, attrs: []tAttr{aInt("to", dtFloat)}},
		{op: "Scaler", domain: ml, in: []string{"Xf"}, out: []string{"Xs"}, attrs: []tAttr{aFloats("offset", 1, 2), aFloats("scale", 0.5, 0.5)}},
		{op: "LinearRegressor", domain: ml, in: []string{"Xs"}, out: []string{"Y"}, attrs: []tAttr{aFloats("coefficients", 1, 10), aFloats("intercepts", 0)}},
	}, []tIO{{"age", dtDouble, 1}, {"income", dtDouble, 1}}, []tIO{{"Y", dtFloat, 1}})
	m, got := predict(t, data, []float32{3, 6}, 1)
	if f := m.Info().Features; len(f) != 2 || f[0] != "age" || f[1] != "income" {
		t.Errorf("features %v", f)
	}
	if got[0] != 21 { // (3-1)*0.5 + 10*(6-2)*0.5
		t.Errorf("got %v", got)
	}
}

func TestRefusesWhatItCannotRun(t *testing.T) {
	in, out := []tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}}
	tests := []struct {
		name string
		node tNode
		want string
	}{
		{"unknown operator", tNode{op: "SVMClassifier", domain: ml, in: []string{"X"}, out: []string{"Y"}}, "SVMClassifier"},
		{"unknown attribute", tNode{op: "Scaler", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: []tAttr{aFloats("offset", 0), aFloats("scale", 1), aInt("frobnicate", 1)}}, "frobnicate"},
		{"foreign domain", tNode{op: "FusedGemm", domain: "com.microsoft", in: []string{"X"}, out: []string{"Y"}}, "com.microsoft"},
		{"missing input", tNode{op: "Identity", in: []string{"nope"}, out: []string{"Y"}}, `"nope"`},
		{"bad mode", tNode{op: "TreeEnsembleRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"},
			attrs: append(twoTrees("target")[:3], append([]tAttr{aStrings("nodes_modes", "BRANCH_XX", "LEAF", "LEAF", "LEAF", "LEAF", "LEAF", "LEAF", "LEAF")}, twoTrees("target")[4:]...)...)}, "BRANCH_XX"},
		{"bad aggregate", tNode{op: "TreeEnsembleRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"},
			attrs: twoTrees("target", aString("aggregate_function", "MEDIAN"))}, "MEDIAN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(encModel([]tNode{tt.node}, in, out), "bad")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to name %s", err, tt.want)
			}
		})
	}
	if _, err := Parse([]byte("garbage that is not protobuf \xff\xff"), "x"); err == nil {
		t.Error("garbage accepted")
	}
	_, err := Parse(encModel([]tNode{{op: "Foo", in: []string{"X"}, out: []string{"Y"}}}, in, out), "x")
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown op error %v does not wrap ErrUnsupported", err)
	}
}

func TestConcurrentPredict(t *testing.T) {
	data := encModel([]tNode{{op: "TreeEnsembleRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"},
		attrs: twoTrees("target")}}, []tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}})
	m, want := predict(t, data, treeRows, 4)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := make([]float32, 4)
			for i := 0; i < 200; i++ {
				m.Predict(treeRows, got)
				for k := range got {
					if got[k] != want[k] {
						t.Errorf("concurrent result %v, want %v", got, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// An elementwise Add of the batch [N, 2] and a constant broadcasts the
// constant over the rows as numpy does, whichever input the constant is
// (skl2onnx and other converters emit both orders), in the batch's type.
func TestAddBroadcastsAConstantEitherSide(t *testing.T) {
	shapes := []struct {
		name string
		dims []int64
		vals []float64
	}{
		{"scalar", nil, []float64{10}},
		{"[1]", []int64{1}, []float64{10}},
		{"[2]", []int64{2}, []float64{10, 20}},
		{"[1,1]", []int64{1, 1}, []float64{10}},
		{"[1,2]", []int64{1, 2}, []float64{10, 20}},
	}
	x := []float64{1, 2, 3, -4}
	for _, dt := range []int32{dtFloat, dtDouble, dtInt64} {
		for _, sh := range shapes {
			for _, first := range []bool{true, false} {
				name := typeName(dt) + " " + sh.name + " + batch"
				in := []string{"C", "b"}
				if !first {
					name, in = typeName(dt)+" batch + "+sh.name, []string{"b", "C"}
				}
				t.Run(name, func(t *testing.T) {
					c := tInit{"C", dt, sh.dims, sh.vals}
					var data []byte
					if dt == dtInt64 { // the int64 input itself, cast to float, then the scores
						in[0], in[1] = strings.Replace(in[0], "b", "X", 1), strings.Replace(in[1], "b", "X", 1)
						data = encModel([]tNode{{op: "Add", in: in, out: []string{"S"}},
							{op: "Cast", in: []string{"S"}, out: []string{"Sf"}, attrs: []tAttr{aInt("to", dtFloat)}},
							{op: "MatMul", in: []string{"Sf", "I"}, out: []string{"Y"}}},
							[]tIO{{"X", dtInt64, 2}}, []tIO{{"Y", dtFloat, 2}}, c, tInit{"I", dtFloat, []int64{2, 2}, []float64{1, 0, 0, 1}})
					} else { // scores: X times the identity, plus the constant
						data = encModel([]tNode{{op: "MatMul", in: []string{"X", "I"}, out: []string{"b"}},
							{op: "Add", in: in, out: []string{"Y"}}},
							[]tIO{{"X", dt, 2}}, []tIO{{"Y", dt, 2}}, c, tInit{"I", dt, []int64{2, 2}, []float64{1, 0, 0, 1}})
					}
					m, err := Parse(data, "add")
					if err != nil {
						t.Fatal(err)
					}
					if info := m.Info(); info.Output != scoring.Regression || info.Targets != 2 {
						t.Fatalf("info %+v", info)
					}
					got := make([]float32, 4)
					if err := m.Predict64(x, got); err != nil {
						t.Fatal(err)
					}
					for i := range got {
						if want := float32(x[i] + sh.vals[i%2%len(sh.vals)]); got[i] != want {
							t.Errorf("output %d: %v, want %v (all %v)", i, got[i], want, got)
						}
					}
				})
			}
		}
	}
}

// A constant that numpy would not broadcast over the rows of the batch
// [N, 2] as one row is refused, in either order: a column [2, 1] or rows
// [2, 2] (numpy broadcasts them for a batch of 1 or 2 rows only, to a
// [2, 2] result), a rank-3 shape (a rank-3 result), a last dimension
// neither 1 nor 2 (no batch broadcasts), another element type.
func TestAddRefusesOtherBroadcasts(t *testing.T) {
	tests := []struct {
		name string
		c    tInit
		want string
	}{
		{"column [2,1]", tInit{"C", dtFloat, []int64{2, 1}, []float64{10, 20}}, "[2 1]"},
		{"rank 3 [1,1,2]", tInit{"C", dtFloat, []int64{1, 1, 2}, []float64{10, 20}}, "[1 1 2]"},
		{"[3]", tInit{"C", dtFloat, []int64{3}, []float64{1, 2, 3}}, "cannot broadcast shape [3]"},
		{"[2,2]", tInit{"C", dtFloat, []int64{2, 2}, []float64{1, 2, 3, 4}}, "[2 2]"},
		{"double constant, float batch", tInit{"C", dtDouble, []int64{2}, []float64{1, 2}}, "double"},
	}
	for _, tt := range tests {
		for _, in := range [][]string{{"C", "b"}, {"b", "C"}} {
			t.Run(tt.name+" "+in[0]+"+"+in[1], func(t *testing.T) {
				data := encModel([]tNode{{op: "MatMul", in: []string{"X", "I"}, out: []string{"b"}},
					{op: "Add", in: in, out: []string{"Y"}}},
					[]tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 2}}, tt.c, tInit{"I", dtFloat, []int64{2, 2}, []float64{1, 0, 0, 1}})
				_, err := Parse(data, "add")
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want a refusal naming %s", err, tt.want)

				}
			})
		}
	}
}

// An int64 initializer holds its values exactly: past 2^53 a float64 does
// not (2^62+1 read as 2^62, 2^53+1 as 2^53, 2^63−1 as 2^63, which is no
// int64).
func TestInt64InitializersAreExact(t *testing.T) {
	t.Run("Add", func(t *testing.T) {
		// (x + [2^62+1, 3]) + [−2^62, 0] = x + [1, 3]
		data := encModel([]tNode{
			{op: "Add", in: []string{"X", "C1"}, out: []string{"S1"}},
			{op: "Add", in: []string{"C2", "S1"}, out: []string{"S2"}},
			{op: "Cast", in: []string{"S2"}, out: []string{"Sf"}, attrs: []tAttr{aInt("to", dtFloat)}},
			{op: "MatMul", in: []string{"Sf", "I"}, out: []string{"Y"}},
		}, []tIO{{"X", dtInt64, 2}}, []tIO{{"Y", dtFloat, 2}},
			tInts{"C1", []int64{1, 2}, []int64{1<<62 + 1, 3}}, tInts{"C2", []int64{2}, []int64{-1 << 62, 0}},
			tInit{"I", dtFloat, []int64{2, 2}, []float64{1, 0, 0, 1}})
		_, got := predict(t, data, []float32{5, -7, 0, 2}, 2)
		if want := []float32{6, -4, 1, 5}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	refusals := []struct {
		name string
		node tNode
		c    tInts
		want string
	}{
		{"Reshape dimension 2^53+1", tNode{op: "Reshape", in: []string{"X", "K"}, out: []string{"R"}},
			tInts{"K", []int64{2}, []int64{-1, 1<<53 + 1}}, "dimension 9007199254740993 is more than"},
		{"ArrayFeatureExtractor index 2^63−1", tNode{op: "ArrayFeatureExtractor", domain: ml, in: []string{"X", "K"}, out: []string{"R"}},
			tInts{"K", []int64{1}, []int64{math.MaxInt64}}, "index 9223372036854775807 is out of range"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(encModel([]tNode{tt.node, leafRegressor("R", 1)}, []tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}}, tt.c), "x")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to name %q", err, tt.want)
			}
		})
	}
	t.Run("raw data", func(t *testing.T) {
		raw := []byte{1, 0, 0, 0, 0, 0, 0, 0x80, 2, 0, 0, 0, 0, 0, 0, 0}
		if xs, err := tensorInts(&tensorProto{dataType: dtInt64, raw: raw}); err != nil || !slices.Equal(xs, []int64{math.MinInt64 + 1, 2}) {
			t.Errorf("tensorInts of int64 raw data: %v, %v", xs, err)
		}
		if xs, err := (&tensorProto{dataType: dtInt64, raw: raw[:15]}).float64s(); !errors.Is(err, errTruncated) {
			t.Errorf("15 bytes of int64 raw data: %v, %v, want %v", xs, err, errTruncated)
		}
	})
}

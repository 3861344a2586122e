package onnxml

import (
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// sumTree is a TreeEnsembleRegressor whose prediction is Σ 2^j·[x_j > 0.5]
// over nf features: it shows every input column exactly.
func sumTree(in string, nf int) tNode {
	var tree, node, feat, tid, nid []int64
	var modes []string
	var vals, w []float32
	var tt, ft []int64
	for j := 0; j < nf; j++ {
		tree = append(tree, int64(j), int64(j), int64(j))
		node = append(node, 0, 1, 2)
		feat = append(feat, int64(j), 0, 0)
		modes = append(modes, "BRANCH_GT", "LEAF", "LEAF")
		vals = append(vals, 0.5, 0, 0)
		tt = append(tt, 1, 0, 0)
		ft = append(ft, 2, 0, 0)
		tid = append(tid, int64(j))
		nid = append(nid, 1)
		w = append(w, float32(math.Ldexp(1, j)))
	}
	ids := make([]int64, nf)
	return tNode{op: "TreeEnsembleRegressor", domain: ml, in: []string{in}, out: []string{"Y"}, attrs: []tAttr{
		aInts("nodes_treeids", tree...), aInts("nodes_nodeids", node...), aInts("nodes_featureids", feat...),
		aStrings("nodes_modes", modes...), aFloats("nodes_values", vals...), aInts("nodes_truenodeids", tt...),
		aInts("nodes_falsenodeids", ft...), aInts("target_treeids", tid...), aInts("target_nodeids", nid...),
		aInts("target_ids", ids...), aFloats("target_weights", w...)}}
}

func mustParse(t *testing.T, data []byte) *Model {
	t.Helper()
	m, err := Parse(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOneHotEncoderStrings(t *testing.T) {
	nan := float32(math.NaN())
	graph := func(zeros int64) []byte {
		return encModel([]tNode{
			{op: "OneHotEncoder", domain: ml, in: []string{"city"}, out: []string{"oh"},
				attrs: []tAttr{aStrings("cats_strings", "paris", "rome", "paris", "oslo"), aInt("zeros", zeros)}},
			{op: "Reshape", in: []string{"oh", "shape"}, out: []string{"X"}},
			sumTree("X", 4),
		}, []tIO{{"city", dtString, 1}}, []tIO{{"Y", dtFloat, 1}},
			tInit{"shape", dtInt64, []int64{2}, []float64{-1, 4}})
	}
	m := mustParse(t, graph(1))
	if c := m.Info().Categories; len(c) != 1 || !slices.Equal(c[0], []string{"paris", "rome", "oslo"}) {
		t.Fatalf("categories %v", c)
	}
	// codes: paris 0, rome 1, oslo 2; NaN = a category the encoder does not know
	out := make([]float32, 4)
	if err := m.Predict([]float32{0, 1, 2, nan}, out); err != nil {
		t.Fatal(err)
	}
	// paris sets its last index (2, as onnxruntime's map keeps), never 0
	if want := []float32{4, 2, 8, 0}; !slices.Equal(out, want) {
		t.Errorf("zeros=1: %v, want %v", out, want)
	}
	// zeros=0: onnxruntime fails the call on an unknown category; the row
	// alone becomes NaN (a dead letter), and so does a code that is no
	// category's
	m = mustParse(t, graph(0))
	out = make([]float32, 5)
	if err := m.Predict([]float32{0, nan, 1, 3, 0.5}, out); err != nil {
		t.Fatal(err)
	}
	if out[0] != 4 || out[2] != 2 || out[1] == out[1] || out[3] == out[3] || out[4] == out[4] {
		t.Errorf("zeros=0: %v, want [4 NaN 2 NaN NaN]", out)
	}
}

// Two encoders read one string column: its category list is the union, in
// first-use order, and each encoder maps a code to its own index.
func TestStringColumnFeedsTwoEncoders(t *testing.T) {
	m := mustParse(t, encModel([]tNode{
		{op: "LabelEncoder", domain: ml, in: []string{"plan"}, out: []string{"code"},
			attrs: []tAttr{aStrings("keys_strings", "pro", "basic", "pro"), aInts("values_int64s", 1, 0, 7)}},
		{op: "OneHotEncoder", domain: ml, in: []string{"plan"}, out: []string{"oh"}, attrs: []tAttr{aStrings("cats_strings", "team", "basic")}},
		{op: "Cast", in: []string{"code"}, out: []string{"codef"}, attrs: []tAttr{aInt("to", dtFloat)}},
		{op: "Flatten", in: []string{"oh"}, out: []string{"ohf"}},
		{op: "Concat", in: []string{"codef", "ohf"}, out: []string{"X"}, attrs: []tAttr{aInt("axis", 1)}},
		{op: "LinearRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: []tAttr{aFloats("coefficients", 1, 10, 100), aFloats("intercepts", 0)}},
	}, []tIO{{"plan", dtString, 1}}, []tIO{{"Y", dtFloat, 1}}))
	if c := m.Info().Categories[0]; !slices.Equal(c, []string{"pro", "basic", "team"}) {
		t.Fatalf("categories %v", c)
	}
	out := make([]float32, 4)
	if err := m.Predict([]float32{0, 1, 2, float32(math.NaN())}, out); err != nil {
		t.Fatal(err)
	}
	// pro: label 1 (the first of two, as onnxruntime's LabelEncoder keeps), no one-hot
	// basic: label 0, one-hot [0 1]; team: default −1, one-hot [1 0]; unseen: −1, zeros
	if want := []float32{1, 100, -1 + 10, -1}; !slices.Equal(out, want) {
		t.Errorf("%v, want %v", out, want)
	}
}

// A [N, 3] string tensor split by ArrayFeatureExtractor: each column has
// the categories of the encoder that reads it.
func TestArrayFeatureExtractorKeepsColumnCategories(t *testing.T) {
	m := mustParse(t, encModel([]tNode{
		{op: "ArrayFeatureExtractor", domain: ml, in: []string{"S", "i2"}, out: []string{"c2"}},
		{op: "ArrayFeatureExtractor", domain: ml, in: []string{"S", "i0"}, out: []string{"c0"}},
		{op: "LabelEncoder", domain: ml, in: []string{"c2"}, out: []string{"l2"},
			attrs: []tAttr{aStrings("keys_strings", "x", "y"), aFloats("values_floats", 1, 0.25)}},
		{op: "LabelEncoder", domain: ml, in: []string{"c0"}, out: []string{"l0"},
			attrs: []tAttr{aStrings("classes_strings", "a", "b", "a")}},
		{op: "Cast", in: []string{"l0"}, out: []string{"l0f"}, attrs: []tAttr{aInt("to", dtFloat)}},
		{op: "Concat", in: []string{"l2", "l0f"}, out: []string{"Y"}, attrs: []tAttr{aInt("axis", 1)}},
		{op: "LinearRegressor", domain: ml, in: []string{"Y"}, out: []string{"Z"}, attrs: []tAttr{aFloats("coefficients", 1, 10), aFloats("intercepts", 0)}},
	}, []tIO{{"S", dtString, 3}}, []tIO{{"Z", dtFloat, 1}},
		tInit{"i2", dtInt64, []int64{1}, []float64{2}}, tInit{"i0", dtInt64, []int64{1}, []float64{0}}))
	cats := m.Info().Categories
	if len(cats) != 3 || !slices.Equal(cats[0], []string{"a", "b"}) || len(cats[1]) != 0 || cats[1] == nil || !slices.Equal(cats[2], []string{"x", "y"}) {
		t.Fatalf("categories %q", cats)
	}
	out := make([]float32, 3)
	nan := float32(math.NaN())
	// row: [col0 code, col1 (no encoder: only NaN is valid), col2 code]
	if err := m.Predict([]float32{0, nan, 1, 1, nan, 0, nan, nan, nan}, out); err != nil {
		t.Fatal(err)
	}
	// classes_strings keeps the last index of "a" (2); the float default is −0
	if want := []float32{0.25 + 20, 1 + 10, -10}; !slices.Equal(out, want) {
		t.Errorf("%v, want %v", out, want)
	}
}

func TestOneHotEncoderNumbersAndConcatAxis2(t *testing.T) {
	// int64 and float inputs: onnxruntime casts to int64 (truncates) and
	// looks the value up in cats_int64s; the [N,1,K] outputs are joined on
	// axis 2 as skl2onnx does, then reshaped.
	m := mustParse(t, encModel([]tNode{
		{op: "OneHotEncoder", domain: ml, in: []string{"a"}, out: []string{"oa"}, attrs: []tAttr{aInts("cats_int64s", 3, 5)}},
		{op: "OneHotEncoder", domain: ml, in: []string{"b"}, out: []string{"ob"}, attrs: []tAttr{aInts("cats_int64s", -1, 0, 2)}},
		{op: "Concat", in: []string{"oa", "ob"}, out: []string{"c"}, attrs: []tAttr{aInt("axis", 2)}},
		{op: "Reshape", in: []string{"c", "shape"}, out: []string{"X"}},
		sumTree("X", 5),
	}, []tIO{{"a", dtInt64, 1}, {"b", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}},
		tInit{"shape", dtInt64, []int64{2}, []float64{0, -1}}))
	if m.Info().Categories != nil {
		t.Errorf("numeric inputs report categories %v", m.Info().Categories)
	}
	out := make([]float32, 4)
	if err := m.Predict([]float32{3, -1.9, 5, 2.99, 4, float32(math.NaN()), 3, 0.5}, out); err != nil {
		t.Fatal(err)
	}
	if want := []float32{1 + 4, 2 + 16, 0, 1 + 8}; !slices.Equal(out, want) {
		t.Errorf("%v, want %v", out, want)
	}
}

func TestImputerAndFeatureVectorizer(t *testing.T) {
	nan := float32(math.NaN())
	m := mustParse(t, encModel([]tNode{
		{op: "Imputer", domain: ml, in: []string{"A"}, out: []string{"Ai"}, attrs: []tAttr{aFloats("imputed_value_floats", 1, 2, 3), aFloat("replaced_value_float", nan)}},
		{op: "Imputer", domain: ml, in: []string{"B"}, out: []string{"Bi"}, attrs: []tAttr{aInts("imputed_value_int64s", 9, 9), aInt("replaced_value_int64", -1)}},
		{op: "FeatureVectorizer", domain: ml, in: []string{"Ai", "Bi"}, out: []string{"X"}, attrs: []tAttr{aInts("inputdimensions", 2, 2)}},
		{op: "LinearRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: []tAttr{aFloats("coefficients", 1, 10, 100, 1000), aFloats("intercepts", 0)}},
	}, []tIO{{"A", dtFloat, 3}, {"B", dtInt64, 1}}, []tIO{{"Y", dtFloat, 1}}))
	out := make([]float32, 2)
	// per-column imputation of NaN; B has one column but two imputed values:
	// onnxruntime then uses the first; FeatureVectorizer keeps 2 of A's 3
	// columns and pads B's one to two
	if err := m.Predict([]float32{nan, nan, 7, -1, 5, 6, nan, 4}, out); err != nil {
		t.Fatal(err)
	}
	if want := []float32{1 + 20 + 900, 5 + 60 + 400}; !slices.Equal(out, want) {
		t.Errorf("%v, want %v", out, want)
	}
}

func TestStringAndShapeRefusals(t *testing.T) {
	tests := []struct {
		name  string
		nodes []tNode
		in    []tIO
		want  string
	}{
		{"string into Scaler", []tNode{{op: "Scaler", domain: ml, in: []string{"s"}, out: []string{"Y"}, attrs: []tAttr{aFloats("offset", 0), aFloats("scale", 1)}}},
			[]tIO{{"s", dtString, 1}}, `input "s" is a string tensor`},
		{"bool input", []tNode{sumTree("b", 1)}, []tIO{{"b", dtBool, 1}}, "element type bool"},
		{"string categories on ints", []tNode{{op: "OneHotEncoder", domain: ml, in: []string{"a"}, out: []string{"Y"}, attrs: []tAttr{aStrings("cats_strings", "x")}}},
			[]tIO{{"a", dtInt64, 1}}, "int64 input with string categories"},
		{"concat over the batch", []tNode{{op: "Concat", in: []string{"a", "a"}, out: []string{"Y"}, attrs: []tAttr{aInt("axis", 0)}}},
			[]tIO{{"a", dtFloat, 2}}, "non-batch axis"},
		{"reshape over the batch", []tNode{{op: "Reshape", in: []string{"a", "flat"}, out: []string{"Y"}}},
			[]tIO{{"a", dtFloat, 2}}, "does not keep the batch"},
		{"feature index out of range", []tNode{{op: "ArrayFeatureExtractor", domain: ml, in: []string{"a", "i9"}, out: []string{"Y"}}},
			[]tIO{{"a", dtFloat, 2}}, "out of range"},
		{"the missing operator is named first", []tNode{{op: "Reshape", in: []string{"s", "flat"}, out: []string{"r"}},
			{op: "Tokenizer", domain: "com.microsoft", in: []string{"r"}, out: []string{"Y"}}},
			[]tIO{{"s", dtString, 1}}, `domain "com.microsoft"`},
		{"text operators", []tNode{{op: "Reshape", in: []string{"s", "flat"}, out: []string{"r"}},
			{op: "StringNormalizer", in: []string{"r"}, out: []string{"Y"}}},
			[]tIO{{"s", dtString, 1}}, "operator StringNormalizer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(encModel(tt.nodes, tt.in, []tIO{{"Y", dtFloat, 1}},
				tInit{"flat", dtInt64, []int64{1}, []float64{-1}}, tInit{"i9", dtInt64, []int64{1}, []float64{9}}), "x")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestNoEstimatorIsRefused(t *testing.T) {
	for _, nodes := range [][]tNode{
		{{op: "Scaler", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: []tAttr{aFloats("offset", 0.5, 1, 2), aFloats("scale", 2, 1, 1)}}},
		{{op: "Imputer", domain: ml, in: []string{"X"}, out: []string{"I"}, attrs: []tAttr{aFloats("imputed_value_floats", 0), aFloat("replaced_value_float", 0)}},
			{op: "Normalizer", domain: ml, in: []string{"I"}, out: []string{"Y"}, attrs: []tAttr{aString("norm", "L2")}}},
	} {
		_, err := Parse(encModel(nodes, []tIO{{"X", dtFloat, 3}}, []tIO{{"Y", dtFloat, 3}}), "scaler")
		if !errors.Is(err, ErrNoEstimator) || !strings.Contains(err.Error(), nodes[0].op) {
			t.Errorf("%s: err = %v, want ErrNoEstimator naming the operators", nodes[0].op, err)
		}
	}
}

// The encoders pipeline built by testdata/make_testdata.py with the onnx
// package, scored from events through the feature plan: the model's
// category lists code the event strings, an unseen or absent string is a
// category no encoder knows.
func TestEncodersPipelineFromEvents(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "encoders_pipeline.onnx"), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scoring.NewScorer(m, nil, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("testdata", "encoders_pipeline.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var events []*schemas.Event
	var want []float64
	for _, rec := range recs[1:] {
		ev := &schemas.Event{}
		for i, name := range []string{"city", "plan"} {
			if rec[1+i] != "" {
				ev.Fields = append(ev.Fields, schemas.Field{Name: name, Value: schemas.StringValue(rec[1+i])})
			}
		}
		if rec[3] != "" {
			age, _ := strconv.ParseFloat(rec[3], 64)
			ev.Fields = append(ev.Fields, schemas.Field{Name: "age", Value: schemas.NumberValue(age)})
		}
		y, _ := strconv.ParseFloat(rec[4], 64)
		events, want = append(events, ev), append(want, y)
	}
	var b scoring.Batch
	s.Score(events, &b)
	for i, r := range b.Results {
		if r.Err != nil || r.Score != want[i] {
			t.Fatalf("row %d (%v): score %v err %v, want %v", i, events[i].Fields, r.Score, r.Err, want[i])
		}
	}
	if len(events) < 100 {
		t.Fatalf("%d rows", len(events))
	}
}

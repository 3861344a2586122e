package onnxml

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// Two targets: tree 0 votes for both, tree 1 for target 1 only.
func TestTreeEnsembleRegressorTwoTargets(t *testing.T) {
	attrs := []tAttr{
		aInts("nodes_treeids", 0, 0, 0, 1), aInts("nodes_nodeids", 0, 1, 2, 0), aInts("nodes_featureids", 0, 0, 0, 0),
		aStrings("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF", "LEAF"), aFloats("nodes_values", 1, 0, 0, 0),
		aInts("nodes_truenodeids", 1, 0, 0, 0), aInts("nodes_falsenodeids", 2, 0, 0, 0),
		aInts("target_treeids", 0, 0, 0, 0, 1), aInts("target_nodeids", 1, 1, 2, 2, 0), aInts("target_ids", 0, 1, 0, 1, 1),
		aFloats("target_weights", 1, 10, 2, 20, 100), aInt("n_targets", 2),
	}
	tests := []struct {
		agg  string
		base []float32
		want []float32 // rows x0 = 0, x0 = 5
	}{
		{"SUM", nil, []float32{1, 110, 2, 120}},
		{"SUM", []float32{0.5, -0.5}, []float32{1.5, 109.5, 2.5, 119.5}},
		{"AVERAGE", nil, []float32{0.5, 55, 1, 60}},
		{"MAX", nil, []float32{1, 100, 2, 100}},
	}
	for _, tt := range tests {
		a := append(append([]tAttr(nil), attrs...), aString("aggregate_function", tt.agg))
		if tt.base != nil {
			a = append(a, aFloats("base_values", tt.base...))
		}
		m, got := predict(t, encModel([]tNode{{op: "TreeEnsembleRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: a}},
			[]tIO{{"X", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}}), []float32{0, 5}, 2) // the declared [N,1] is wrong, as in onnxmltools 1.3's export
		if info := m.Info(); info.Output != scoring.Regression || info.Targets != 2 || info.Outputs() != 2 {
			t.Fatalf("info %+v", info)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s %v: %v, want %v", tt.agg, tt.base, got, tt.want)
				break
			}
		}
	}
	_, err := Parse(encModel([]tNode{{op: "TreeEnsembleRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"},
		attrs: append(attrs, aFloats("base_values", 1, 2, 3))}}, []tIO{{"X", dtFloat, 1}}, []tIO{{"Y", dtFloat, 2}}), "x")
	if err == nil || !strings.Contains(err.Error(), "base_values has 3 values for 2 targets") {
		t.Errorf("3 base values for 2 targets: %v", err)
	}
}

// tree_ensemble_v5.onnx (testdata/make_testdata.py): TreeEnsemble of
// ai.onnx.ml opset 5 over a double input [N, ?], two targets.
func TestTreeEnsembleV5Golden(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "tree_ensemble_v5.onnx"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Info().Features) != 0 || m.MinWidth() != 3 {
		t.Fatalf("an open-width model reports %v features, min width %d", m.Info().Features, m.MinWidth())
	}
	if _, err := m.FitWidth(2); err == nil || !strings.Contains(err.Error(), "reads column 2") {
		t.Errorf("FitWidth(2): %v", err)
	}
	if _, err := m.FitWidth(0); err == nil || !strings.Contains(err.Error(), "features file") {
		t.Errorf("FitWidth(0): %v", err)
	}
	fitted, err := m.FitWidth(3)
	if err != nil {
		t.Fatal(err)
	}
	f := fitted.(*Model)
	info := f.Info()
	if len(info.Features) != 3 || info.Targets != 2 || !f.Float64Input() || f.NumTrees() != 4 {
		t.Fatalf("fitted: %+v, %d trees", info, f.NumTrees())
	}
	col, recs := readCSV(t, "tree_ensemble_v5.csv")
	x := make([]float64, 0, 3*len(recs))
	for _, rec := range recs {
		for _, c := range []string{"x0", "x1", "x2"} {
			v := math.NaN()
			if s := rec[col[c]]; s != "" {
				v, _ = strconv.ParseFloat(s, 64)
			}
			x = append(x, v)
		}
	}
	out := make([]float32, 2*len(recs))
	if err := f.Predict64(x, out); err != nil {
		t.Fatal(err)
	}
	for r, rec := range recs {
		for k, c := range []string{"expected_0", "expected_1"} {
			want, _ := strconv.ParseFloat(rec[col[c]], 64)
			if float64(out[2*r+k]) != want {
				t.Fatalf("row %d target %d: %v, want %v (x %v)", r, k, out[2*r+k], want, x[3*r:3*r+3])
			}
		}
	}
	// wider than the trees need is fine
	if _, err := m.FitWidth(5); err != nil {
		t.Errorf("FitWidth(5): %v", err)
	}
}

func TestTreeEnsembleV5Refusals(t *testing.T) {
	base := func(extra ...tAttr) []tAttr {
		a := []tAttr{
			aInt("n_targets", 1), aInts("tree_roots", 0), aIntTensor("nodes_modes", 2, 0), aInts("nodes_featureids", 0),
			aDoubleTensor("nodes_splits", 0.5), aInts("nodes_truenodeids", 0), aInts("nodes_trueleafs", 1),
			aInts("nodes_falsenodeids", 1), aInts("nodes_falseleafs", 1), aInts("leaf_targetids", 0, 0),
			aDoubleTensor("leaf_weights", 1, 2),
		}
		return append(a, extra...)
	}
	run := func(attrs []tAttr, in int32) error {
		_, err := Parse(encModel([]tNode{{op: "TreeEnsemble", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: attrs}},
			[]tIO{{"X", in, 1}}, []tIO{{"Y", in, 1}}), "x")
		return err
	}
	if err := run(base(), dtDouble); err != nil {
		t.Fatalf("the valid base graph: %v", err)
	}
	tests := []struct {
		name  string
		attrs []tAttr
		in    int32
		want  string
	}{
		{"softmax or logistic", base(aInt("post_transform", 1)), dtDouble, "disagree"},
		{"logistic or softmax", base(aInt("post_transform", 2)), dtDouble, "disagree"},
		{"set membership", append(base()[:2], append([]tAttr{aIntTensor("nodes_modes", 2, 6), aFloatTensor("membership_values", 1, 2)}, base()[3:]...)...), dtDouble, "BRANCH_MEMBER"},
		{"double tensors over float input", base(), dtFloat, "double tensor"},
		{"leaf out of range", append(base()[:len(base())-2], aInts("leaf_targetids", 0), aDoubleTensor("leaf_weights", 1)), dtDouble, "names leaf 1"},
		{"one-leaf tree reading another index", []tAttr{
			aInt("n_targets", 1), aInts("tree_roots", 0), aIntTensor("nodes_modes", 2, 0), aInts("nodes_featureids", 0),
			aDoubleTensor("nodes_splits", 0), aInts("nodes_truenodeids", 1), aInts("nodes_trueleafs", 1),
			aInts("nodes_falsenodeids", 1), aInts("nodes_falseleafs", 1), aInts("leaf_targetids", 0, 0), aDoubleTensor("leaf_weights", 1, 2)},
			dtDouble, "single leaf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := run(tt.attrs, tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// A float TreeEnsemble sums in float32 and outputs float.
func TestTreeEnsembleV5Float(t *testing.T) {
	attrs := []tAttr{
		aInt("n_targets", 1), aInt("aggregate_function", 0), aInts("tree_roots", 0, 1),
		aIntTensor("nodes_modes", 2, 1, 5), aInts("nodes_featureids", 0, 0),
		aFloatTensor("nodes_splits", 0.5, 2), aInts("nodes_truenodeids", 0, 2), aInts("nodes_trueleafs", 1, 1),
		aInts("nodes_falsenodeids", 1, 3), aInts("nodes_falseleafs", 1, 1), aInts("nodes_missing_value_tracks_true", 0, 1),
		aInts("leaf_targetids", 0, 0, 0, 0), aFloatTensor("leaf_weights", 1, 3, 10, 30),
	}
	// tree 0: x < 0.5 ? 1 : 3; tree 1: x != 2 (NaN → true) ? 10 : 30; AVERAGE
	_, got := predict(t, encModel([]tNode{{op: "TreeEnsemble", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: attrs}},
		[]tIO{{"X", dtFloat, 1}}, []tIO{{"Y", dtFloat, 1}}), []float32{0, 2, float32(math.NaN())}, 3)
	if want := []float32{5.5, 16.5, 6.5}; got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("%v, want %v", got, want)
	}
}

package batchscore

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// A multi-target regression writes score (target 0) and target_0 … target_K-1.
// The model's input has no fixed width: the features file's three names
// size it.
func TestMultiTargetColumns(t *testing.T) {
	s := scorer(t, "../../scoring/onnxml/testdata/tree_ensemble_v5.onnx", []scoring.FeatureSpec{{Name: "x0"}, {Name: "x1"}, {Name: "x2"}})
	out := filepath.Join(t.TempDir(), "out.csv")
	sum, err := Run(context.Background(), Options{Scorer: s, Input: "../../scoring/onnxml/testdata/tree_ensemble_v5.csv", Output: out})
	if err != nil || sum.Rejected != 0 || sum.Scored != 300 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	recs := readAllCSV(t, out)
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, c := range []string{"score", "target_0", "target_1", "expected_0", "expected_1"} {
		if _, ok := col[c]; !ok {
			t.Fatalf("no column %s in %v", c, recs[0])
		}
	}
	for _, rec := range recs[1:] {
		for k, c := range []string{"target_0", "target_1"} {
			got, _ := strconv.ParseFloat(rec[col[c]], 64)
			want, _ := strconv.ParseFloat(rec[col["expected_"+strconv.Itoa(k)]], 64)
			if got != want {
				t.Fatalf("%s = %v, want %v (%v)", c, got, want, rec)
			}
		}
		if rec[col["score"]] != rec[col["target_0"]] {
			t.Fatalf("score %s is not target 0's %s", rec[col["score"]], rec[col["target_0"]])
		}
	}
}

// String columns of a CSV feed the model's string inputs through the
// category transform the model's own lists imply.
func TestStringInputsFromCSV(t *testing.T) {
	s := scorer(t, "../../scoring/onnxml/testdata/encoders_pipeline.onnx", nil)
	out := filepath.Join(t.TempDir(), "out.csv")
	sum, err := Run(context.Background(), Options{Scorer: s, Input: "../../scoring/onnxml/testdata/encoders_pipeline.csv", Output: out})
	if err != nil || sum.Rejected != 0 || sum.Scored != 300 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	recs := readAllCSV(t, out)
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, rec := range recs[1:] {
		if rec[col["score"]] != rec[col["expected"]] {
			t.Fatalf("score %s, want %s (%v)", rec[col["score"]], rec[col["expected"]], rec)
		}
	}
}

func TestColumnsOfATwoTargetModel(t *testing.T) {
	got := Columns(scoring.Info{Output: scoring.Regression, Classes: 1, Targets: 2})
	want := []string{ColScore, ColLabel, ColRiskSegment, ColModelVersion, ColScoredAt, "target_0", "target_1"}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
	if got := Columns(scoring.Info{Output: scoring.Regression, Classes: 1}); len(got) != 5 {
		t.Errorf("single target: %v", got)
	}
}

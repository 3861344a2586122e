package batchscore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

const lgbDir = "../../scoring/lightgbm/testdata/"

// TestLightGBMDoublesAndRawScores: a LightGBM model's float64 score
// reaches the file exactly (no float32 rounding), and the raw scores
// follow as raw_0 …; CSV and JSON Lines.
func TestLightGBMDoublesAndRawScores(t *testing.T) {
	s := scorer(t, lgbDir+"golden_binary.txt", nil)
	mm := s.Model().(scoring.MarginModel)
	dir := t.TempDir()
	// The golden rows without infinities (an infinite feature value is a
	// rejected record, as everywhere in streamscore).
	var golden [][]string
	var in strings.Builder
	for i, rec := range readAllCSV(t, lgbDir+"golden_binary.csv") {
		if i > 0 && strings.Contains(strings.Join(rec, ","), "inf") {
			continue
		}
		golden = append(golden, rec)
		in.WriteString(strings.Join(rec, ",") + "\n")
	}
	input, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "scored.csv")
	os.WriteFile(input, []byte(in.String()), 0o644)
	sum, err := Run(context.Background(), Options{Scorer: s, Input: input, Output: out, BatchSize: 100})
	if err != nil || sum.Scored != len(golden)-1 || sum.Scored < 400 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	recs := readAllCSV(t, out)
	if got := strings.Join(recs[0], ","); got != "expected_prob,score,label,risk_segment,model_version,scored_at,raw_0" {
		t.Fatalf("header %s", got)
	}
	rounded := 0
	for i, rec := range recs[1:] {
		want, _ := strconv.ParseFloat(golden[i+1][6], 64)
		got, _ := strconv.ParseFloat(rec[1], 64)
		if got != want || rec[0] != golden[i+1][6] {
			t.Fatalf("row %d: score %s, want %s", i, rec[1], golden[i+1][6])
		}
		if float64(float32(want)) != want {
			rounded++
		}
		x := make([]float64, 6)
		for f := range x {
			x[f], _ = strconv.ParseFloat(golden[i+1][f], 64)
		}
		raw := make([]float64, 1)
		if err := mm.PredictMargins64(x, raw); err != nil {
			t.Fatal(err)
		}
		if r, _ := strconv.ParseFloat(rec[6], 64); r != raw[0] {
			t.Fatalf("row %d: raw_0 %s, want %v", i, rec[6], raw[0])
		}
	}
	if rounded == 0 {
		t.Error("no score would change by a float32 rounding: the test proves nothing")
	}

	// Multi-class to JSON Lines: probabilities and raw scores as numbers.
	model := filepath.Join(dir, "mc.txt")
	var b strings.Builder
	b.WriteString("tree\nversion=v4\nnum_class=3\nnum_tree_per_iteration=3\nlabel_index=0\nmax_feature_idx=0\nobjective=multiclass num_class:3\nfeature_names=x\nfeature_infos=[-1:1]\n\n")
	for c := 0; c < 3; c++ {
		fmt.Fprintf(&b, "Tree=%d\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nsplit_gain=1\nthreshold=0\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=%v %v\nleaf_count=1 1\ninternal_value=0\ninternal_count=2\nis_linear=0\nshrinkage=1\n\n", c, 0.1*float64(c), -0.3*float64(c))
	}
	b.WriteString("end of trees\n")
	os.WriteFile(model, []byte(b.String()), 0o644)
	s = scorer(t, model, nil)
	inj, outj := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	os.WriteFile(inj, []byte("{\"id\":\"a\",\"x\":-1}\n{\"id\":\"b\",\"x\":1}\n"), 0o644)
	if _, err := Run(context.Background(), Options{Scorer: s, Input: inj, Output: outj}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(outj)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan(); line++ {
		var got map[string]any
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		x := []float64{-1, 1}[line]
		probs := make([]float64, 3)
		s.Model().(scoring.Float64OutputModel).Predict64To64([]float64{x}, probs)
		for c := 0; c < 3; c++ {
			leaf := 0.1 * float64(c)
			if x > 0 {
				leaf = -0.3 * float64(c)
			}
			if got["raw_"+strconv.Itoa(c)] != leaf || got["prob_"+strconv.Itoa(c)] != probs[c] {
				t.Errorf("line %d class %d: %s (want raw %v, prob %v)", line, c, sc.Text(), leaf, probs[c])
			}
		}
		if got["score"] != math.Max(probs[0], math.Max(probs[1], probs[2])) {
			t.Errorf("line %d: score %v", line, got["score"])
		}
	}
}

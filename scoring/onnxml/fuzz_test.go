package onnxml

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// fuzzSeeds are FuzzParse's seeds: graphs that load (TestFuzzSeedsLoad
// checks that they do, so that the fuzzer starts from inputs that reach
// Predict) and bytes that must be refused.
func fuzzSeeds(tb testing.TB) (valid, invalid [][]byte) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	valid = append(valid, encModel([]tNode{{op: "TreeEnsembleRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: twoTrees("target")}},
		[]tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}}))
	for _, name := range []string{"encoders_pipeline.onnx", "tree_ensemble_v5.onnx"} {
		valid = append(valid, read(name))
	}
	invalid = append(invalid, read("sk_rf_pipeline.onnx")[:2048], []byte{0x08, 0x08, 0x3a, 0xff, 0xff, 0x03})
	return valid, invalid
}

// The protobuf decoder and graph compiler never panic on arbitrary bytes,
// and a graph they accept can be scored: Predict succeeds on a batch of
// the model's width, a row alone scores as it does in the batch, and a
// wrongly shaped output is an ErrShape.
func FuzzParse(f *testing.F) {
	valid, invalid := fuzzSeeds(f)
	for _, b := range append(valid, invalid...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, "fuzz")
		if err != nil {
			return
		}
		checkScorable(t, m)
	})
}

func TestFuzzSeedsLoad(t *testing.T) {
	valid, invalid := fuzzSeeds(t)
	for i, b := range valid {
		m, err := Parse(b, "seed")
		if err != nil {
			t.Errorf("valid seed %d does not load, so the fuzzer would not reach Predict from it: %v", i, err)
			continue
		}
		if !checkScorable(t, m) {
			t.Errorf("valid seed %d: no input width fits", i)
		}
	}
	for i, b := range invalid {
		if _, err := Parse(b, "seed"); err == nil {
			t.Errorf("invalid seed %d loads", i)
		}
	}
}

// checkScorable fits an open input width, then scores three rows (zeros,
// missing, ones) together and one at a time. It reports false for a graph
// that no width fits (refused before scoring).
func checkScorable(t *testing.T, m *Model) bool {
	t.Helper()
	var sm scoring.Model = m
	if len(m.Info().Features) == 0 {
		var err error
		if sm, err = m.FitWidth(m.MinWidth() + 1); err != nil {
			return false
		}
	}
	info := sm.Info()
	nf, no := len(info.Features), info.Outputs()
	if nf < 1 || no < 1 {
		t.Fatalf("a loaded model with %d inputs and %d outputs", nf, no)
	}
	x := make([]float32, 3*nf)
	for i := range nf {
		x[nf+i], x[2*nf+i] = float32(math.NaN()), 1
	}
	batch := make([]float32, 3*no)
	if err := sm.Predict(x, batch); err != nil {
		t.Fatalf("Predict on 3 rows of width %d: %v", nf, err)
	}
	one := make([]float32, no)
	for r := range 3 {
		if err := sm.Predict(x[r*nf:(r+1)*nf], one); err != nil {
			t.Fatalf("Predict on row %d: %v", r, err)
		}
		for k := range one {
			if math.Float32bits(one[k]) != math.Float32bits(batch[r*no+k]) && !(one[k] != one[k] && batch[r*no+k] != batch[r*no+k]) {
				t.Fatalf("row %d output %d: alone %v, in a batch %v", r, k, one[k], batch[r*no+k])
			}
		}
	}
	if err := sm.Predict(x, make([]float32, 3*no+1)); !errors.Is(err, scoring.ErrShape) {
		t.Fatalf("an output of the wrong size: %v, want ErrShape", err)
	}
	return true
}

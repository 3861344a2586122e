package xgboost

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// fuzzSeeds are FuzzParse's seeds: models that load (so that the fuzzer
// starts from inputs that reach Predict; TestFuzzSeedsLoad checks that
// they do) and inputs that must be refused.
func fuzzSeeds(tb testing.TB) (valid, invalid [][]byte) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	// small models (gen_fuzz_seeds.py): JSON and UBJSON trees, multi-class,
	// gblinear, a categorical split
	for _, name := range []string{"fuzz_tree.json", "fuzz_tree.ubj", "fuzz_multi.ubj", "linear_multi.json"} {
		valid = append(valid, read(name))
	}
	valid = append(valid, []byte(tinyCategorical))
	for _, name := range []string{"xgb_reg.json", "xgb_reg.ubj"} {
		b := read(name)
		invalid = append(invalid, b[:4096]) // truncated
	}
	invalid = append(invalid, read("legacy.model"), read("dump.json"),
		[]byte("{L\x00\x00\x00\x00\x00\x00\x00\x07learner{}"), []byte("[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff"),
		// 0x30a70000 falses in 13 bytes: held as values, 13 GB (found by the fuzzer)
		[]byte("[$F#L\x00\x00\x00\x000\xa7\x00\x00"))
	return valid, invalid
}

// The model loader never panics on arbitrary JSON or UBJSON bytes, and a
// model it loads can be scored: Predict succeeds on a batch of the
// model's width, a row alone scores as it does in the batch, and a
// wrongly shaped batch is an ErrShape.
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
		checkScorable(t, m)
	}
	for i, b := range invalid {
		if _, err := Parse(b, "seed"); err == nil {
			t.Errorf("invalid seed %d loads", i)
		}
	}
}

// checkScorable scores three rows (zeros, missing, ones) together and one
// at a time.
func checkScorable(t *testing.T, m *Model) {
	t.Helper()
	info := m.Info()
	nf, no := len(info.Features), info.Outputs()
	if no < 1 {
		t.Fatalf("the model has %d outputs", no)
	}
	x := make([]float32, 3*nf)
	for i := range nf {
		x[nf+i], x[2*nf+i] = float32(math.NaN()), 1
	}
	batch := make([]float32, 3*no)
	if err := m.Predict(x, batch); err != nil {
		t.Fatalf("Predict on %d rows of width %d: %v", 3, nf, err)
	}
	one := make([]float32, no)
	for r := range 3 {
		if err := m.Predict(x[r*nf:(r+1)*nf], one); err != nil {
			t.Fatalf("Predict on row %d: %v", r, err)
		}
		for k := range one {
			if math.Float32bits(one[k]) != math.Float32bits(batch[r*no+k]) && !(one[k] != one[k] && batch[r*no+k] != batch[r*no+k]) {
				t.Fatalf("row %d output %d: alone %v, in a batch %v", r, k, one[k], batch[r*no+k])
			}
		}
	}
	if err := m.Predict(x[:3*nf], make([]float32, 3*no+1)); !errors.Is(err, scoring.ErrShape) {
		t.Fatalf("an output of the wrong size: %v, want ErrShape", err)
	}
}

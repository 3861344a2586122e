package xgboost

import (
	"os"
	"path/filepath"
	"testing"
)

// The model loader never panics on arbitrary JSON or UBJSON bytes.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"xgb_reg.json", "xgb_reg.ubj", "linear_multi.json", "legacy.model", "dump.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4096)])
	}
	f.Add([]byte("{L\x00\x00\x00\x00\x00\x00\x00\x07learner{}"))
	f.Add([]byte("[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte(tinyCategorical))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, "fuzz")
		if err == nil {
			out := make([]float32, m.Info().Outputs())
			_ = m.Predict(make([]float32, len(m.Info().Features)), out)
		}
	})
}

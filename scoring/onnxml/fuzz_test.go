package onnxml

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// The protobuf decoder and graph compiler never panic on arbitrary bytes.
func FuzzParse(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "sk_rf_pipeline.onnx"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:2048])
	f.Add(encModel([]tNode{{op: "TreeEnsembleRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"}, attrs: twoTrees("target")}},
		[]tIO{{"X", dtFloat, 2}}, []tIO{{"Y", dtFloat, 1}}))
	f.Add([]byte{0x08, 0x08, 0x3a, 0xff, 0xff, 0x03})
	for _, name := range []string{"encoders_pipeline.onnx", "tree_ensemble_v5.onnx"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, "fuzz")
		if err != nil {
			return
		}
		var sm scoring.Model = m
		if len(m.Info().Features) == 0 {
			if sm, err = m.FitWidth(m.MinWidth() + 1); err != nil {
				return
			}
		}
		info := sm.Info()
		out := make([]float32, 2*info.Outputs())
		x := make([]float32, 2*len(info.Features))
		x[0] = float32(math.NaN())
		_ = sm.Predict(x, out)
	})
}

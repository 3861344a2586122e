package onnxml

import (
	"os"
	"path/filepath"
	"testing"
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
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, "fuzz")
		if err == nil {
			out := make([]float32, m.Info().Outputs())
			_ = m.Predict(make([]float32, len(m.Info().Features)), out)
		}
	})
}

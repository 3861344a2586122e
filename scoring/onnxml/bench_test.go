package onnxml

import (
	"path/filepath"
	"testing"
)

// BenchmarkPredictRF scores the 2,000 rows of sk_rf_test.csv with the
// StandardScaler + RandomForest(100 trees) pipeline, one goroutine.
func BenchmarkPredictRF(b *testing.B) {
	m, err := Load(filepath.Join("testdata", "sk_rf_pipeline.onnx"), "")
	if err != nil {
		b.Fatal(err)
	}
	x, n := inputs(b, "sk_rf_test.csv")
	out := make([]float32, n)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Predict(x, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

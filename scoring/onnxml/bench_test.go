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

// BenchmarkPredictLinear scores 2,000 rows of 20 features with a 3-class
// LinearClassifier (SOFTMAX) then a Normalizer, one goroutine.
func BenchmarkPredictLinear(b *testing.B) {
	const nf, k, n = 20, 3, 2000
	coef := make([]float32, nf*k)
	for i := range coef {
		coef[i] = float32(i%7) - 3.25
	}
	data := encModel([]tNode{
		{op: "LinearClassifier", domain: ml, in: []string{"X"}, out: []string{"label", "scores"},
			attrs: []tAttr{aFloats("coefficients", coef...), aFloats("intercepts", 0.5, -0.25, 0.125), aInts("classlabels_ints", 0, 1, 2),
				aString("post_transform", "SOFTMAX")}},
		{op: "Normalizer", domain: ml, in: []string{"scores"}, out: []string{"probabilities"}, attrs: []tAttr{aString("norm", "L1")}},
	}, []tIO{{"X", dtFloat, nf}}, []tIO{{"label", dtInt64, 0}, {"probabilities", dtFloat, k}})
	m, err := Parse(data, "lin")
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float32, nf*n)
	for i := range x {
		x[i] = float32(i%13)/4 - 1.5
	}
	out := make([]float32, n*k)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Predict(x, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

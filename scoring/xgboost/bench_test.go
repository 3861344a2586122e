package xgboost

import (
	"path/filepath"
	"testing"
)

// BenchmarkPredictFraud scores the 5,000 rows of xgb_fraud_test.csv (200
// trees, depth 6, 8 features) per iteration on one goroutine and reports
// rows/s. bench/ compares it with XGBoost's own inplace_predict.
func BenchmarkPredictFraud(b *testing.B) {
	m, err := Load(filepath.Join("testdata", "xgb_fraud.json"), "")
	if err != nil {
		b.Fatal(err)
	}
	g := readGolden(b, filepath.Join("testdata", "xgb_fraud_test.csv"), m.Info().Features, nil)
	out := make([]float32, g.n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := m.Predict(g.x, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(g.n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPredictCategorical scores cat_reg_test.csv (2000 rows; 24 trees,
// 19 with categorical splits, which take the node walk) per iteration.
func BenchmarkPredictCategorical(b *testing.B) {
	m, err := Load(filepath.Join("testdata", "cat_reg.json"), "")
	if err != nil {
		b.Fatal(err)
	}
	g := readGolden(b, filepath.Join("testdata", "cat_reg_test.csv"), m.Info().Features, nil)
	out := make([]float32, g.n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := m.Predict(g.x, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(g.n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

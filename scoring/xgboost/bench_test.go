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

// BenchmarkExplainFraud explains the 5,000 rows of xgb_fraud_test.csv per
// iteration on one goroutine and reports explained rows/s: "row" calls
// Explain once per row (as the stream explains its flagged rows),
// "batch500" once per 500 rows, "batch" once for all rows, "classic" runs XGBoost's algorithm (the tests'
// reference). bench/shap_compare.sh sets them beside XGBoost's own
// pred_contribs and BenchmarkPredictFraud.
func BenchmarkExplainFraud(b *testing.B) {
	m, err := Load(filepath.Join("testdata", "xgb_fraud.json"), "")
	if err != nil {
		b.Fatal(err)
	}
	g := readGolden(b, filepath.Join("testdata", "xgb_fraud_test.csv"), m.Info().Features, nil)
	e, err := m.explainer()
	if err != nil {
		b.Fatal(err)
	}
	nf, cols := m.nfeat, m.nfeat+1
	out := make([]float32, g.n*cols)
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"row", func() error {
			for r := 0; r < g.n; r++ {
				if err := e.Explain(g.x[r*nf:(r+1)*nf], out[r*cols:(r+1)*cols]); err != nil {
					return err
				}
			}
			return nil
		}},
		{"batch500", func() error {
			for r := 0; r < g.n; r += 500 {
				end := min(g.n, r+500)
				if err := e.Explain(g.x[r*nf:end*nf], out[r*cols:end*cols]); err != nil {
					return err
				}
			}
			return nil
		}},
		{"batch", func() error { return e.Explain(g.x, out) }},
		{"classic", func() error { return e.explainClassic(g.x, out) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(g.n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkExplainBundled explains rows of the bundled fraud model
// (models/fraud.json: 80 trees, depth 5, 12 features), one Explain call per
// row, beside its plain Predict per row: the cost the stream pays per
// flagged prediction.
func BenchmarkExplainBundled(b *testing.B) {
	m, err := Load(filepath.Join("..", "..", "models", "fraud.json"), "")
	if err != nil {
		b.Fatal(err)
	}
	g := readGolden(b, filepath.Join("testdata", "bundled_fraud_test.csv"), m.Info().Features, nil)
	e, err := m.explainer()
	if err != nil {
		b.Fatal(err)
	}
	nf, cols := m.nfeat, m.nfeat+1
	out := make([]float32, g.n*cols)
	pred := make([]float32, g.n)
	b.Run("explain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for r := 0; r < g.n; r++ {
				if err := e.Explain(g.x[r*nf:(r+1)*nf], out[r*cols:(r+1)*cols]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(g.n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("predict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for r := 0; r < g.n; r++ {
				if err := m.Predict(g.x[r*nf:(r+1)*nf], pred[r:r+1]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(g.n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

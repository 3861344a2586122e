package lightgbm

import (
	"math/rand/v2"
	"testing"
)

// benchModel is comparable to scoring/xgboost's BenchmarkPredictFraud
// model: 200 complete trees of depth 6 over 8 features, binary, generated
// (seeded) in LightGBM's text format and loaded with Parse; rows are n
// float64 rows with 5% missing values (5,000 as in BenchmarkPredictFraud).
func benchModel(b *testing.B, o genOpts, n int) (*Model, []float64, int) {
	rng := rand.New(rand.NewPCG(7, 8))
	m, err := Parse([]byte(genModel(rng, o)), "bench")
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float64, n*o.feats)
	for i := range x {
		x[i] = rng.NormFloat64() * 3
		if rng.IntN(20) == 0 {
			x[i] = nan
		}
	}
	return m, x, n
}

func benchPredict(b *testing.B, m *Model, x []float64, n int) {
	out := make([]float64, n*m.Info().Outputs())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := m.Predict64To64(x, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

var bench200x6 = genOpts{trees: 200, depth: 6, feats: 8, objective: "binary sigmoid:1", missing: true}

// BenchmarkPredict200x6 is the complete-tree walk (compare with
// scoring/xgboost's BenchmarkPredictFraud in the same run).
func BenchmarkPredict200x6(b *testing.B) {
	m, x, n := benchModel(b, bench200x6, 5000)
	if len(m.fast.trees) != 200 {
		b.Fatalf("%d trees on the fast walk", len(m.fast.trees))
	}
	benchPredict(b, m, x, n)
}

// BenchmarkPredict200x6NodeWalk is the same model on the flat node walk
// (1,000 rows per call: the node walk is slower).
func BenchmarkPredict200x6NodeWalk(b *testing.B) {
	m, x, n := benchModel(b, bench200x6, 1000)
	benchPredict(b, withoutFast(m), x, n)
}

// BenchmarkPredict200x6Categorical has categorical splits in most trees
// (the node walk; 1,000 rows per call).
func BenchmarkPredict200x6Categorical(b *testing.B) {
	o := bench200x6
	o.cats = true
	m, x, n := benchModel(b, o, 1000)
	benchPredict(b, m, x, n)
}

// BenchmarkPredict200x6Wide is the complete-tree walk over 100 features
// (rows of more slots than XGBoost's fixed 32-slot stride serves).
func BenchmarkPredict200x6Wide(b *testing.B) {
	o := bench200x6
	o.feats = 100
	m, x, n := benchModel(b, o, 5000)
	if len(m.fast.trees) != 200 || m.fast.width <= 32 {
		b.Fatalf("%d fast trees, %d slots", len(m.fast.trees), m.fast.width)
	}
	benchPredict(b, m, x, n)
}

package load

import (
	"encoding/csv"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// The conformance suite: every model format passes the same checks through
// the loader and the scoring.Model interface.

type golden struct {
	csv      string
	features []string // CSV columns of the inputs, in model order
	expected []string // CSV columns of the expected outputs, one per model output (P(class 1); a prediction; each class's probability or target's value)
	expCSV   string   // a second CSV holding expected (onnxruntime's), same row order
}

type conformanceCase struct {
	path   string
	format string
	golden *golden
	width  int // a model whose input width is open is fitted to this many columns
}

var xgbFraud = []string{"amount", "hour", "merchant_risk", "tx_count_1h", "distance_km", "account_age_days", "device_score", "velocity_ratio"}

var cases = []conformanceCase{
	{"../xgboost/testdata/xgb_fraud.json", "xgboost-json", &golden{"../xgboost/testdata/xgb_fraud_test.csv", xgbFraud, []string{"expected_prob"}, ""}, 0},
	{"../xgboost/testdata/xgb_fraud.ubj", "xgboost-ubjson", &golden{"../xgboost/testdata/xgb_fraud_test.csv", xgbFraud, []string{"expected_prob"}, ""}, 0},
	{"../xgboost/testdata/xgb_reg.json", "xgboost-json", &golden{"../xgboost/testdata/xgb_reg_test.csv", []string{"f0", "f1", "f2", "f3", "f4", "f5"}, []string{"expected_pred"}, ""}, 0},
	{"../xgboost/testdata/xgb_multi.ubj", "xgboost-ubjson", &golden{"../xgboost/testdata/xgb_multi_test.csv", []string{"f0", "f1", "f2", "f3"}, []string{"expected_prob0", "expected_prob1", "expected_prob2"}, ""}, 0},
	{"../onnxml/testdata/sk_rf_pipeline.onnx", "onnx", &golden{"../onnxml/testdata/sk_rf_test.csv", []string{"x0", "x1", "x2", "x3", "x4"}, []string{"ort_prob1"}, "../onnxml/testdata/ort_sk_rf_test.csv"}, 0},
	{"../onnxml/testdata/sk_rf_pipeline_nozipmap.onnx", "onnx", &golden{"../onnxml/testdata/sk_rf_boundary.csv", []string{"x0", "x1", "x2", "x3", "x4"}, []string{"ort_prob1"}, "../onnxml/testdata/ort_sk_rf_boundary.csv"}, 0},
	{"testdata/churn.linear.json", "linear", &golden{"testdata/churn.linear_test.csv", []string{"f0", "f1", "f2", "f3"}, []string{"expected_prob"}, ""}, 0},
	{"../xgboost/testdata/cat_reg.ubj", "xgboost-ubjson", &golden{"../xgboost/testdata/cat_reg_test.csv", []string{"merchant", "channel", "amount", "age"}, []string{"pred_0"}, ""}, 0},
	{"../xgboost/testdata/dart_multi.json", "xgboost-json", &golden{"../xgboost/testdata/dart_multi_test.csv", []string{"f0", "f1", "f2", "f3", "f4"}, []string{"pred_0", "pred_1", "pred_2"}, ""}, 0},
	{"../xgboost/testdata/linear_binary.json", "xgboost-json", &golden{"../xgboost/testdata/linear_binary_test.csv", []string{"f0", "f1", "f2", "f3", "f4", "f5"}, []string{"pred_0"}, ""}, 0},
	{"../xgboost/testdata/multi_target.ubj", "xgboost-ubjson", &golden{"../xgboost/testdata/multi_target_test.csv", []string{"f0", "f1", "f2", "f3"}, []string{"pred_0", "pred_1", "pred_2"}, ""}, 0},
	// string inputs (category codes), encoders, Imputer, Reshape, Concat
	{"../onnxml/testdata/encoders_pipeline.onnx", "onnx", nil, 0},
	// ai.onnx.ml opset-5 TreeEnsemble, two targets, input [N, ?]
	{"../onnxml/testdata/tree_ensemble_v5.onnx", "onnx", nil, 3},
	{"../lightgbm/testdata/golden_binary.txt", "lightgbm", &golden{"../lightgbm/testdata/golden_binary.csv", []string{"x0", "x1", "x2", "x3", "x4", "x5"}, []string{"expected_prob"}, ""}, 0},
	{"../lightgbm/testdata/categorical.txt", "lightgbm", nil, 0},
	{"../lightgbm/testdata/linear.txt", "lightgbm", nil, 0},
}

// unbounded reports whether a model multiplies its inputs
// (streamscore-linear, XGBoost gblinear, LightGBM linear trees): an
// infinite input then gives an infinite or NaN output, as its reference
// library computes it.
func unbounded(tc conformanceCase, m scoring.Model) bool {
	b, ok := m.(interface{ Booster() string })
	return tc.format == "linear" || ok && b.Booster() == "gblinear" || strings.HasSuffix(tc.path, "/linear.txt")
}

func readColumns(t *testing.T, path string, cols ...string) [][]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	idx := map[string]int{}
	for i, h := range recs[0] {
		idx[h] = i
	}
	out := make([][]float64, len(cols))
	for k, c := range cols {
		i, ok := idx[c]
		if !ok {
			t.Fatalf("%s has no column %s", path, c)
		}
		for _, rec := range recs[1:] {
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil {
				t.Fatal(err)
			}
			out[k] = append(out[k], v)
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	for _, tc := range cases {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			m, err := Model(tc.path, Auto, "")
			if err != nil {
				t.Fatal(err)
			}
			if f, ok := m.(scoring.WidthFitter); ok && len(m.Info().Features) == 0 {
				if tc.width == 0 {
					t.Fatal("the model's input width is open and the case gives none")
				}
				if m, err = f.FitWidth(tc.width); err != nil {
					t.Fatal(err)
				}
			}
			info := m.Info()
			nf, no := len(info.Features), info.Outputs()
			t.Run("info", func(t *testing.T) {
				again, _ := Model(tc.path, Auto, "")
				if info.Format != tc.format || info.Name == "" || info.Version == "" || nf == 0 ||
					again.Info().Version != info.Version {
					t.Errorf("info %+v (version again %s)", info, again.Info().Version)
				}
				if info.Output == scoring.MultiClass && info.Classes < 3 || info.Output == scoring.Binary && info.Classes != 2 {
					t.Errorf("output %v with %d classes", info.Output, info.Classes)
				}
				if info.Targets > 1 && (info.Output == scoring.MultiClass || info.Outputs() != info.Targets) {
					t.Errorf("output %v with %d targets, %d outputs", info.Output, info.Targets, info.Outputs())
				}
			})
			if g := tc.golden; g != nil {
				t.Run("golden", func(t *testing.T) {
					if len(g.expected) != no {
						t.Fatalf("the case names %d expected columns for the model's %d outputs", len(g.expected), no)
					}
					cols := readColumns(t, g.csv, g.features...)
					var want [][]float64
					if g.expCSV != "" {
						want = readColumns(t, g.expCSV, g.expected...)
					} else {
						want = readColumns(t, g.csv, g.expected...)
					}
					n := len(want[0])
					x := make([]float32, n*nf)
					for r := 0; r < n; r++ {
						for f := 0; f < nf; f++ {
							x[r*nf+f] = float32(cols[f][r])
						}
					}
					out := make([]float32, n*no)
					if err := m.Predict(x, out); err != nil {
						t.Fatal(err)
					}
					for r := 0; r < n; r++ {
						for k := 0; k < no; k++ {
							if got, w := out[r*no+k], want[k][r]; float64(got) != w && float32(w) != got {
								t.Fatalf("row %d output %d (%s): %v, reference %v", r, k, g.expected[k], got, w)
							}
						}
					}
				})
			}
			x := hostileRows(info, 257)
			n := len(x) / nf
			batch := make([]float32, n*no)
			if err := m.Predict(x, batch); err != nil {
				t.Fatal(err)
			}
			t.Run("NaN and extreme rows", func(t *testing.T) {
				for i, v := range batch {
					if !unbounded(tc, m) && (v != v || math.IsInf(float64(v), 0)) {
						t.Errorf("output %d = %v for a hostile row", i, v)
					}
				}
			})
			t.Run("batch equals row at a time", func(t *testing.T) {
				one := make([]float32, no)
				for r := 0; r < n; r++ {
					if err := m.Predict(x[r*nf:(r+1)*nf], one); err != nil {
						t.Fatal(err)
					}
					for c := range one {
						if math.Float32bits(one[c]) != math.Float32bits(batch[r*no+c]) {
							t.Fatalf("row %d class %d: alone %v, in batch %v", r, c, one[c], batch[r*no+c])
						}
					}
				}
			})
			t.Run("concurrent use", func(t *testing.T) {
				var wg sync.WaitGroup
				for w := 0; w < 4; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						out := make([]float32, n*no)
						for i := 0; i < 5; i++ {
							if err := m.Predict(x, out); err != nil {
								t.Error(err)
								return
							}
							for k := range out {
								if math.Float32bits(out[k]) != math.Float32bits(batch[k]) {
									t.Errorf("concurrent output %d differs", k)
									return
								}
							}
						}
					}()
				}
				wg.Wait()
			})
			t.Run("shape errors", func(t *testing.T) {
				if err := m.Predict(x[:nf+1], make([]float32, no)); !errors.Is(err, scoring.ErrShape) && nf > 1 {
					t.Errorf("ragged input: %v", err)
				}
				if err := m.Predict(x[:nf], make([]float32, no+1)); !errors.Is(err, scoring.ErrShape) {
					t.Errorf("wrong output size: %v", err)
				}
			})
			t.Run("no allocation per row", func(t *testing.T) {
				if raceEnabled {
					t.Log("not measured under -race (sync.Pool drops items); the plain test run checks it")
					return
				}
				out := make([]float32, n*no)
				small := testing.AllocsPerRun(5, func() { m.Predict(x[:8*nf], out[:8*no]) })
				large := testing.AllocsPerRun(5, func() { m.Predict(x, out) })
				if large > small+1 {
					t.Errorf("%v allocations for 8 rows, %v for %d rows", small, large, n)
				}
			})
		})
	}
}

// hostileRows mixes ordinary values with NaN, ±Inf, ±0, huge and tiny
// numbers. A categorical feature (Info.Categories) takes what the feature
// plan gives it: a category's code, or NaN for an unseen one.
func hostileRows(info scoring.Info, n int) []float32 {
	nf := len(info.Features)
	rng := rand.New(rand.NewPCG(11, 12))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e30, -1e30}
	x := make([]float32, nf*n)
	for i := range x {
		if c := info.Categories; c != nil && c[i%nf] != nil {
			if k := len(c[i%nf]); k > 0 && rng.IntN(4) > 0 {
				x[i] = float32(rng.IntN(k))
			} else {
				x[i] = float32(math.NaN())
			}
			continue
		}
		if rng.IntN(3) == 0 {
			x[i] = special[rng.IntN(len(special))]
		} else {
			x[i] = float32(rng.NormFloat64() * 10)
		}
	}
	return x
}

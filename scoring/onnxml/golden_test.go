package onnxml

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

func readCSV(t testing.TB, name string) (map[string]int, [][]string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	return col, recs[1:]
}

func floatCol(t testing.TB, recs [][]string, i int) []float64 {
	out := make([]float64, len(recs))
	for r, rec := range recs {
		v, err := strconv.ParseFloat(rec[i], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[r] = v
	}
	return out
}

// inputs reads x0..x4 of a scikit-learn reference CSV as float32 rows.
func inputs(t testing.TB, name string) ([]float32, int) {
	col, recs := readCSV(t, name)
	x := make([]float32, 0, 5*len(recs))
	for _, rec := range recs {
		for j := 0; j < 5; j++ {
			v, err := strconv.ParseFloat(rec[col["x"+strconv.Itoa(j)]], 64)
			if err != nil {
				t.Fatal(err)
			}
			x = append(x, float32(v))
		}
	}
	return x, len(recs)
}

func TestGoldenAgainstOnnxruntime(t *testing.T) {
	cases := []struct{ model, in, ort string }{
		{"sk_rf_pipeline.onnx", "sk_rf_test.csv", "ort_sk_rf_test.csv"},
		{"sk_rf_pipeline.onnx", "sk_rf_boundary.csv", "ort_sk_rf_boundary.csv"},
		{"sk_rf_pipeline_nozipmap.onnx", "sk_rf_test.csv", "ort_sk_rf_test.csv"},
		{"sk_rf_pipeline_nozipmap.onnx", "sk_rf_boundary.csv", "ort_sk_rf_boundary.csv"},
		{"sk_rf_minleaf5_pipeline_nozipmap.onnx", "sk_rf_test.csv", "ort_sk_rf_minleaf5_test.csv"},
	}
	for _, tc := range cases {
		t.Run(tc.model+"/"+tc.in, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", tc.model), "")
			if err != nil {
				t.Fatal(err)
			}
			info := m.Info()
			if info.Output != scoring.Binary || info.Classes != 2 || len(info.Features) != 5 || info.Format != Format {
				t.Fatalf("info = %+v", info)
			}
			x, n := inputs(t, tc.in)
			col, recs := readCSV(t, tc.ort)
			want := floatCol(t, recs, col["ort_prob1"])
			if len(want) != n {
				t.Fatalf("%d reference rows for %d inputs", len(want), n)
			}
			got := make([]float32, n)
			if err := m.Predict(x, got); err != nil {
				t.Fatal(err)
			}
			bad := 0
			for r := range got {
				if float64(got[r]) != want[r] {
					if bad++; bad <= 5 {
						t.Errorf("row %d: %v, onnxruntime %v", r, got[r], want[r])
					}
				}
			}
			// one row at a time gives the same
			one := make([]float32, 1)
			for r := 0; r < n; r += 37 {
				if err := m.Predict(x[5*r:5*r+5], one); err != nil || one[0] != got[r] {
					t.Errorf("row %d alone: %v, in batch %v", r, one[0], got[r])
				}
			}
			t.Logf("%d rows, %d equal to onnxruntime", n, n-bad)
		})
	}
}

// TestLayoutsAgree: the ZipMap layout and the plain one give the same.
func TestLayoutsAgree(t *testing.T) {
	a, err := Load(filepath.Join("testdata", "sk_rf_pipeline.onnx"), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(filepath.Join("testdata", "sk_rf_pipeline_nozipmap.onnx"), "")
	if err != nil {
		t.Fatal(err)
	}
	x, n := inputs(t, "sk_rf_test.csv")
	pa, pb := make([]float32, n), make([]float32, n)
	a.Predict(x, pa)
	b.Predict(x, pb)
	for r := range pa {
		if math.Float32bits(pa[r]) != math.Float32bits(pb[r]) {
			t.Fatalf("row %d: %v vs %v", r, pa[r], pb[r])
		}
	}
	if a.NumTrees() != 100 || a.NumNodes() == 0 {
		t.Errorf("trees %d nodes %d", a.NumTrees(), a.NumNodes())
	}
}

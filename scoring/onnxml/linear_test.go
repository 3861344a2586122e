package onnxml

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// The MLAS path follows the graph's batch dimension: fixed at 1 (onnxruntime
// runs such a graph one row at a time) → the M = 1 kernel; otherwise the
// packed kernel, whatever the batch Predict is given.
func TestLinearRegressorGemmPath(t *testing.T) {
	coef := []float32{20.4923687, 34.1698112, 67.6242447, 87.9234772}
	node := []tNode{{op: "LinearRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"},
		attrs: []tAttr{aFloats("coefficients", coef...), aFloats("intercepts", -7.5e-15)}}}
	io, out := []tIO{{"X", dtFloat, 4}}, []tIO{{"Y", dtFloat, 1}}
	batched, err := Parse(encModel(node, io, out), "n")
	if err != nil {
		t.Fatal(err)
	}
	single, err := Parse(encModelBatch(node, io, out, 1), "one")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 500
	x := make([]float32, 4*n)
	for i := range x {
		x[i] = float32(rng.Float64()*15 - 4.5)
	}
	gotB, gotS := make([]float32, n), make([]float32, n)
	if err := batched.Predict(x, gotB); err != nil {
		t.Fatal(err)
	}
	if err := single.Predict(x, gotS); err != nil {
		t.Fatal(err)
	}
	b := float32(-7.5e-15)
	paths := 0
	for r := 0; r < n; r++ {
		row := x[4*r : 4*r+4]
		p := func(i int) float32 { return float32(row[i] * coef[i]) }
		m1 := ((p(0) + p(1)) + (p(2) + p(3))) + b
		packed := exactFMA(row[3], coef[3], exactFMA(row[2], coef[2], exactFMA(row[1], coef[1], exactFMA(row[0], coef[0], 0)))) + b
		if gotS[r] != m1 {
			t.Fatalf("row %d, batch fixed at 1: %v, want the M = 1 sum %v", r, gotS[r], m1)
		}
		if gotB[r] != packed {
			t.Fatalf("row %d, dynamic batch: %v, want the FMA chain %v", r, gotB[r], packed)
		}
		if m1 != packed {
			paths++
		}
	}
	if paths == 0 {
		t.Error("the two paths never differ on these rows")
	}
}

func TestLinearClassifierLogisticIsMLAS(t *testing.T) {
	data := encModel([]tNode{{op: "LinearClassifier", domain: ml, in: []string{"X"}, out: []string{"label", "p"},
		attrs: []tAttr{aFloats("coefficients", 0.4, -1.3, -0.4, 1.3, 2, 0.5), aFloats("intercepts", -0.2, 0.2, 0.1),
			aInts("classlabels_ints", 0, 1, 2), aString("post_transform", "LOGISTIC")}}},
		[]tIO{{"X", dtFloat, 2}}, []tIO{{"label", dtInt64, 0}, {"p", dtFloat, 3}})
	rng := rand.New(rand.NewPCG(2, 2))
	const n = 400
	x := make([]float32, 2*n)
	for i := range x {
		x[i] = float32(rng.Float64()*8 - 4)
	}
	_, got := predict(t, data, x, n)
	g := newGemm(gemmPacked, 2, []float32{0.4, -1.3, -0.4, 1.3, 2, 0.5}, []float32{-0.2, 0.2, 0.1})
	z := make([]float32, 3)
	differs := 0
	for r := 0; r < n; r++ {
		g.row(x[2*r:2*r+2], z)
		for c := range z {
			if want := logisticMLAS(z[c]); got[3*r+c] != want {
				t.Fatalf("row %d class %d: %v, want %v", r, c, got[3*r+c], want)
			}
			if logistic(z[c]) != got[3*r+c] {
				differs++
			}
		}
	}
	if differs == 0 {
		t.Error("MLAS's logistic never differs from 1/(1+e^-x) here")
	}
}

func TestNormalizerL2AndMax(t *testing.T) {
	build := func(norm string, dt int32) []byte {
		return encModel([]tNode{
			{op: "LinearClassifier", domain: ml, in: []string{"X"}, out: []string{"l", "s"},
				attrs: []tAttr{aFloats("coefficients", 1, 0, 0, 1, 1, 1), aFloats("intercepts", 0, 0, 0), aInts("classlabels_ints", 0, 1, 2)}},
			{op: "Normalizer", domain: ml, in: []string{"s"}, out: []string{"p"}, attrs: []tAttr{aString("norm", norm)}},
		}, []tIO{{"X", dt, 2}}, []tIO{{"l", dtInt64, 0}, {"p", dtFloat, 3}})
	}
	x := []float32{3, -4, 0.1, 0.7}
	_, got := predict(t, build("L2", dtFloat), x, 2)
	for r := 0; r < 2; r++ {
		s := []float32{x[2*r], x[2*r+1], x[2*r] + x[2*r+1]}
		var sum float32
		for _, v := range s {
			sum += v * v
		}
		for c, v := range s {
			want := sqrtf(float32(v*v) / sum) // onnxruntime: ±sqrt(x²/Σx²), not x/‖x‖
			if v < 0 {
				want = -want
			}
			if got[3*r+c] != want {
				t.Errorf("L2 row %d class %d: %v, want %v", r, c, got[3*r+c], want)
			}
		}
	}
	_, got = predict(t, build("MAX", dtFloat), x, 2)
	if got[0] != 1 || got[1] != float32(-4)/3 || got[2] != float32(-1)/3 {
		t.Errorf("MAX row 0: %v", got[:3])
	}
}

func TestLinearRefusals(t *testing.T) {
	tests := []struct {
		name  string
		node  tNode
		in    int32
		cols  int64
		wants string
	}{
		{"regressor on double", tNode{op: "LinearRegressor", domain: ml, in: []string{"X"}, out: []string{"Y"},
			attrs: []tAttr{aFloats("coefficients", 1, 2), aFloats("intercepts", 0)}}, dtDouble, 1, "float only"},
		{"binary probit", tNode{op: "LinearClassifier", domain: ml, in: []string{"X"}, out: []string{"l", "Y"},
			attrs: []tAttr{aFloats("coefficients", 1, 2), aFloats("intercepts", 0), aInts("classlabels_ints", 0, 1), aString("post_transform", "PROBIT")}}, dtFloat, 2, "PROBIT"},
		{"softmax over 5", tNode{op: "LinearClassifier", domain: ml, in: []string{"X"}, out: []string{"l", "Y"},
			attrs: []tAttr{aFloats("coefficients", 1, 2, 3, 4, 5), aFloats("intercepts", 0, 0, 0, 0, 0), aInts("classlabels_ints", 0, 1, 2, 3, 4), aString("post_transform", "SOFTMAX")}}, dtFloat, 5, "SOFTMAX over 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols := int64(2)
			if tt.name == "softmax over 5" {
				cols = 1
			}
			_, err := Parse(encModel([]tNode{tt.node}, []tIO{{"X", tt.in, cols}}, []tIO{{"Y", dtFloat, tt.cols}}), "x")
			if err == nil || !strings.Contains(err.Error(), tt.wants) {
				t.Errorf("err = %v, want it to say %q", err, tt.wants)
			}
		})
	}
}

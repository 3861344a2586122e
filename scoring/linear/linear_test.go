package linear

import (
	"math"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

func TestLinear(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name string
		json string
		x    []float32
		want []float64
		kind scoring.OutputKind
	}{
		{"identity", `{"format":"streamscore-linear","link":"identity","features":["a","b"],"coefficients":[2,-1],"intercept":0.5}`,
			[]float32{1, 3, 4, 0}, []float64{-0.5, 8.5}, scoring.Regression},
		{"logistic with missing", `{"format":"streamscore-linear","link":"logistic","features":["a","b"],"coefficients":[1,1],"intercept":-1,"missing":{"b":2}}`,
			[]float32{1, nan, 0, 0}, []float64{1 / (1 + math.Exp(-2)), 1 / (1 + math.Exp(1))}, scoring.Binary},
		{"softmax", `{"format":"streamscore-linear","link":"softmax","features":["a"],"coefficients":[[1],[2],[0]],"intercept":[0,-1,0]}`,
			[]float32{1}, []float64{math.E / (2*math.E + 1), math.E / (2*math.E + 1), 1 / (2*math.E + 1)}, scoring.MultiClass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.json), "m")
			if err != nil {
				t.Fatal(err)
			}
			if m.Info().Output != tt.kind || !IsLinear([]byte(tt.json)) {
				t.Fatalf("info %+v", m.Info())
			}
			out := make([]float32, len(tt.want))
			if err := m.Predict(tt.x, out); err != nil {
				t.Fatal(err)
			}
			for i := range out {
				if out[i] != float32(tt.want[i]) {
					t.Errorf("output %d = %v, want %v", i, out[i], float32(tt.want[i]))
				}
			}
		})
	}
}

func TestLinearMissingWithoutImputeIsNaN(t *testing.T) {
	m, _ := Parse([]byte(`{"format":"streamscore-linear","link":"identity","features":["a"],"coefficients":[1]}`), "m")
	out := make([]float32, 1)
	m.Predict([]float32{float32(math.NaN())}, out)
	if out[0] == out[0] {
		t.Errorf("got %v, want NaN", out[0])
	}
}

func TestLinearRejects(t *testing.T) {
	for _, bad := range []string{
		`{"format":"other","link":"identity","features":["a"],"coefficients":[1]}`,
		`{"format":"streamscore-linear","link":"probit","features":["a"],"coefficients":[1]}`,
		`{"format":"streamscore-linear","link":"identity","features":["a","b"],"coefficients":[1]}`,
		`{"format":"streamscore-linear","link":"identity","features":["a","a"],"coefficients":[1,1]}`,
		`{"format":"streamscore-linear","link":"softmax","features":["a"],"coefficients":[[1]]}`,
		`{"format":"streamscore-linear","link":"identity","features":["a"],"coefficients":[1],"missing":{"z":1}}`,
		`{"format":"streamscore-linear","link":"identity","features":["a"],"coefficients":[1],"extra":1}`,
	} {
		if _, err := Parse([]byte(bad), "m"); err == nil {
			t.Errorf("accepted %s", bad)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("empty error for %s", bad)
		}
	}
}

package scoring

import (
	"fmt"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/schemas"
)

// openModel is a test double for a model whose input width the file leaves
// open: its Info lists no features until FitWidth, and it predicts
// (x0 + x_last, 2·x0) as a two-target regression.
type openModel struct{ width int }

func (m openModel) Info() Info {
	info := Info{Name: "open", Version: "v", Output: Regression, Classes: 1, Targets: 2}
	for i := 0; i < m.width; i++ {
		info.Features = append(info.Features, "")
	}
	return info
}

func (m openModel) Predict(x, out []float32) error {
	n, err := CheckShape(m.Info(), x, out)
	if err != nil {
		return err
	}
	for r := 0; r < n; r++ {
		row := x[r*m.width : (r+1)*m.width]
		out[2*r], out[2*r+1] = row[0]+row[m.width-1], 2*row[0]
	}
	return nil
}

func (m openModel) FitWidth(n int) (Model, error) {
	switch {
	case m.width > 0:
		return m, nil
	case n < 2:
		return nil, fmt.Errorf("needs at least 2 columns, got %d", n)
	}
	return openModel{width: n}, nil
}

func TestNewScorerFitsAnOpenWidthModel(t *testing.T) {
	specs := []FeatureSpec{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	s, err := NewScorer(openModel{}, specs, DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Info().Features; len(got) != 3 || got[2] != "c" || s.Model().Info().Outputs() != 2 {
		t.Fatalf("features %v, outputs %d", got, s.Model().Info().Outputs())
	}
	var b Batch
	s.Score([]*schemas.Event{event(f("a", schemas.NumberValue(1)), f("c", schemas.NumberValue(0.25)))}, &b)
	r := b.Results[0]
	// a multi-target regression: score = target 0, Probs = every target
	if r.Err != nil || r.Score != 1.25 || len(r.Probs) != 2 || r.Probs[1] != 2 {
		t.Fatalf("result %+v", r)
	}
	if p := s.Prediction(&schemas.Event{}, &r, schemas.Source{}, schemas.Millis{}); len(p.Scores) != 2 || p.Scores[1] != 2 {
		t.Errorf("prediction scores %v", p.Scores)
	}
	for _, specs := range [][]FeatureSpec{nil, {{Name: "a"}}} {
		if _, err := NewScorer(openModel{}, specs, DefaultPolicy); err == nil || !strings.Contains(err.Error(), "model open: needs at least 2") {
			t.Errorf("%d specs: err = %v", len(specs), err)
		}
	}
}

func TestOutputsCountsTargets(t *testing.T) {
	tests := []struct {
		info Info
		want int
	}{
		{Info{Output: Regression, Classes: 1}, 1},
		{Info{Output: Regression, Classes: 1, Targets: 1}, 1},
		{Info{Output: Regression, Classes: 1, Targets: 3}, 3},
		{Info{Output: Binary, Classes: 2, Targets: 3}, 3}, // multi-label: one P(class 1) per target
		{Info{Output: MultiClass, Classes: 4}, 4},
	}
	for _, tt := range tests {
		if got := tt.info.Outputs(); got != tt.want {
			t.Errorf("%+v: Outputs %d, want %d", tt.info, got, tt.want)
		}
	}
}

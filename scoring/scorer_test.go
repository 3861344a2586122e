package scoring

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/schemas"
)

// sumModel is a test double: a "multi-class" model whose class scores are
// x0 and x1, failing when told to.
type sumModel struct {
	kind    OutputKind
	fail    bool
	targets int
}

func (m sumModel) Info() Info {
	c := 2
	if m.kind == MultiClass {
		c = 3
	}
	return Info{Name: "sum", Version: "v", Features: []string{"a", "b"}, Output: m.kind, Classes: c, Targets: m.targets}
}

func (m sumModel) Predict(x, out []float32) error {
	n, err := CheckShape(m.Info(), x, out)
	if err != nil {
		return err
	}
	if m.fail {
		return errors.New("boom")
	}
	k := m.Info().Outputs()
	for r := 0; r < n; r++ {
		for c := 0; c < k; c++ {
			out[r*k+c] = x[r*2] * float32(c+1) / 10
		}
	}
	return nil
}

func TestScorerReportsPerRecord(t *testing.T) {
	s, err := NewScorer(sumModel{kind: Binary}, nil, DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	evs := []*schemas.Event{
		event(f("a", schemas.NumberValue(7))),
		event(f("a", schemas.StringValue("x"))),
		event(f("a", schemas.NumberValue(2))),
	}
	var b Batch
	s.Score(evs, &b)
	if len(b.Results) != 3 || b.Results[1].Stage != "features" || !errors.Is(b.Results[1].Err, ErrFeature) {
		t.Fatalf("results = %+v", b.Results)
	}
	if b.Results[0].Score != float64(float32(0.7)) || b.Results[0].Label != 1 || b.Results[2].Score != float64(float32(0.2)) {
		t.Errorf("results = %+v", b.Results)
	}
	good := []*schemas.Event{evs[0], evs[2], evs[0]}
	if allocs := testing.AllocsPerRun(20, func() { s.Score(good, &b) }); allocs != 0 {
		t.Errorf("Score allocates %v per batch", allocs)
	}

	s, _ = NewScorer(sumModel{kind: MultiClass}, nil, DefaultPolicy)
	s.Score(evs[:1], &b)
	if r := b.Results[0]; len(r.Probs) != 3 || r.Label != 2 || r.Score != float64(float32(2.1)) {
		t.Errorf("multiclass = %+v", r)
	}
	p := s.Prediction(&schemas.Event{ID: "e", Entity: "c", Type: schemas.Transaction}, &b.Results[0], schemas.Source{Topic: "t"}, schemas.Millis{})
	if len(p.Scores) != 3 || p.ModelName != "sum" || p.EntityID != "c" {
		t.Errorf("prediction = %+v", p)
	}

	s, _ = NewScorer(sumModel{kind: Binary, fail: true}, nil, DefaultPolicy)
	s.Score(evs, &b)
	if b.Results[0].Stage != "score" || !strings.Contains(b.Results[0].Err.Error(), "boom") || b.Results[1].Stage != "features" {
		t.Errorf("model failure: %+v", b.Results)
	}
}

// nanModel returns NaN for rows whose first input is negative.
type nanModel struct{ sumModel }

func (m nanModel) Predict(x, out []float32) error {
	for r := range out {
		out[r] = 0.25
		if x[r*2] < 0 {
			out[r] = float32(math.NaN())
		}
	}
	return nil
}

func TestNonFiniteScoreIsAPerRecordError(t *testing.T) {
	s, _ := NewScorer(nanModel{sumModel{kind: Binary}}, nil, DefaultPolicy)
	var b Batch
	s.Score([]*schemas.Event{event(f("a", schemas.NumberValue(1))), event(f("a", schemas.NumberValue(-1)))}, &b)
	if b.Results[0].Err != nil || b.Results[0].Score != 0.25 {
		t.Errorf("good row: %+v", b.Results[0])
	}
	if b.Results[1].Stage != "score" || b.Results[1].Err == nil {
		t.Errorf("NaN row: %+v", b.Results[1])
	}
}

// TestMultiTargetScores: a multi-target model's row has one output per
// target; the score and label follow target 0 and every target reaches the
// prediction's scores.
func TestMultiTargetScores(t *testing.T) {
	for _, kind := range []OutputKind{Binary, Regression} {
		m := sumModel{kind: kind, targets: 3}
		if info := m.Info(); info.Outputs() != 3 || !info.MultiTarget() {
			t.Fatalf("%v: outputs %d", kind, info.Outputs())
		}
		s, err := NewScorer(m, nil, DefaultPolicy)
		if err != nil {
			t.Fatal(err)
		}
		var b Batch
		ev := event(f("a", schemas.NumberValue(7)))
		s.Score([]*schemas.Event{ev}, &b)
		r := b.Results[0]
		if r.Err != nil || r.Score != float64(float32(0.7)) || r.Label != 1 || len(r.Probs) != 3 || r.Probs[2] != float32(7)*3/10 {
			t.Fatalf("%v: result %+v", kind, r)
		}
		if p := s.Prediction(ev, &r, schemas.Source{}, schemas.Millis{}); len(p.Scores) != 3 || p.Scores[1] != float64(float32(7)*2/10) {
			t.Errorf("%v: prediction scores %v", kind, p.Scores)
		}
	}
	if (Info{Output: MultiClass, Classes: 3, Targets: 2}).Outputs() != 3 || (Info{Output: Regression, Targets: 1}).MultiTarget() {
		t.Error("Targets changes a multi-class or single-target model")
	}
}

// A model reporting more outputs per row than MaxOutputs is refused before
// the scorer sizes anything by them (a batch's output buffer holds
// batch × outputs values).
func TestNewScorerBoundsOutputs(t *testing.T) {
	tests := []struct {
		name string
		m    sumModel
		ok   bool
	}{
		{"binary", sumModel{kind: Binary}, true},
		{"targets at the bound", sumModel{kind: Regression, targets: MaxOutputs}, true},
		{"targets past the bound", sumModel{kind: Regression, targets: MaxOutputs + 1}, false},
		{"2^24 targets", sumModel{kind: Regression, targets: 1 << 24}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewScorer(tt.m, nil, DefaultPolicy)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "outputs per row") || !strings.Contains(err.Error(), strconv.Itoa(MaxOutputs)) {
				t.Errorf("err = %v, want a refusal naming the outputs and the bound", err)
			}
		})
	}
}

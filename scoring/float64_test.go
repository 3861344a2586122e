package scoring

import (
	"math"
	"testing"

	"github.com/streamscore/streamscore/schemas"
)

// f64Model is a Float64OutputModel and MarginModel test double: output c
// of a row is x0·(c+1)/10 + 1e-12 (not a float32 value), its margins are
// x0 and x1; x0 = 99 gives an infinite output.
type f64Model struct{ kind OutputKind }

func (m f64Model) Info() Info {
	c := 2
	if m.kind == MultiClass {
		c = 3
	}
	return Info{Name: "f64", Version: "v", Features: []string{"a", "b"}, Output: m.kind, Classes: c}
}

func (m f64Model) Predict(x, out []float32) error { panic("the float32 path must not be used") }
func (m f64Model) Float64Input() bool             { return true }
func (m f64Model) Predict64(x []float64, out []float32) error {
	panic("the float32-output path must not be used")
}

func (m f64Model) Predict64To64(x, out []float64) error {
	k := m.Info().Outputs()
	for r := 0; r < len(x)/2; r++ {
		for c := 0; c < k; c++ {
			out[r*k+c] = x[r*2]*float64(c+1)/10 + 1e-12
			if x[r*2] == 99 {
				out[r*k+c] = math.Inf(1)
			}
		}
	}
	return nil
}

func (m f64Model) Margins() int { return 2 }
func (m f64Model) PredictMargins64(x, out []float64) error {
	copy(out, x)
	return nil
}

func want64(x0 float64, c int) float64 { return x0*float64(c+1)/10 + 1e-12 }

func TestFloat64OutputsReachThePrediction(t *testing.T) {
	s, err := NewScorer(f64Model{kind: Binary}, nil, DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	evs := []*schemas.Event{
		event(f("a", schemas.NumberValue(5)), f("b", schemas.NumberValue(-2))), // score 0.5 + 1e-12: above the threshold
		event(f("a", schemas.NumberValue(99))),
		event(f("a", schemas.NumberValue(3))),
	}
	var b Batch
	s.Score(evs, &b)
	r := b.Results[0]
	if r.Err != nil || r.Score != want64(5, 0) || r.Label != 1 {
		t.Errorf("row 0: %+v (want score %v exactly, label 1: a float32 score would be 0.5, label 0)", r, want64(5, 0))
	}
	if r.Margins != nil || r.Probs != nil || r.Probs64 != nil {
		t.Errorf("row 0 has margins or probabilities without asking: %+v", r)
	}
	if b.Results[1].Stage != "score" || b.Results[1].Err == nil {
		t.Errorf("infinite output: %+v", b.Results[1])
	}
	if r := b.Results[2]; r.Score != want64(3, 0) || r.Label != 0 {
		t.Errorf("row 2: %+v", r)
	}
	good := []*schemas.Event{evs[0], evs[2]}
	b.WantMargins = true
	if allocs := testing.AllocsPerRun(20, func() { s.Score(good, &b) }); allocs != 0 {
		t.Errorf("Score allocates %v per batch", allocs)
	}
	if m := b.Results[1].Margins; len(m) != 2 || m[0] != 3 || !math.IsNaN(m[1]) {
		t.Errorf("margins of row 2 = %v, want [3 NaN]", m)
	}

	s, _ = NewScorer(f64Model{kind: MultiClass}, nil, DefaultPolicy)
	s.Score(evs[:1], &b)
	r = b.Results[0]
	if len(r.Probs64) != 3 || r.Label != 2 || r.Score != want64(5, 2) || r.Probs64[1] != want64(5, 1) ||
		r.Probs[1] != float32(want64(5, 1)) || len(r.Margins) != 2 || r.Margins[1] != -2 {
		t.Errorf("multiclass = %+v", r)
	}
	p := s.Prediction(&schemas.Event{ID: "e", Entity: "c", Type: schemas.Transaction}, &r, schemas.Source{Topic: "t"}, schemas.Millis{})
	if len(p.Scores) != 3 || p.Scores[0] != want64(5, 0) || p.Score != want64(5, 2) {
		t.Errorf("prediction = %+v", p)
	}
}

func TestDecide64(t *testing.T) {
	p := DefaultPolicy
	if d := p.Decide64(Binary, []float64{0.5 + 1e-15}); d.Label != 1 || d.Score != 0.5+1e-15 || d.Segment != Medium {
		t.Errorf("binary: %+v", d)
	}
	if d := p.Decide64(Binary, []float64{0.5}); d.Label != 0 {
		t.Errorf("a tie is class 0: %+v", d)
	}
	if d := p.Decide64(MultiClass, []float64{0.2, 0.4, 0.4}); d.Label != 1 || d.Score != 0.4 {
		t.Errorf("multiclass (first maximum): %+v", d)
	}
}

// TestModelCategoriesTakeNumbersAsCodes: for a model whose library reads a
// numeric categorical input as its code (LightGBM), a number is the code;
// for any other model it is matched by value (TestCategory).
func TestModelCategoriesTakeNumbersAsCodes(t *testing.T) {
	info := Info{Features: []string{"c", "flag", "x"}, Categories: [][]string{{"a", "b"}, {"false", "true"}, nil}, NumbersAreCodes: true}
	plan, err := CompileFor(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	for _, tc := range []struct {
		v    schemas.Value
		want float64 // NaN: missing
		err  bool
	}{
		{schemas.StringValue("b"), 1, false},
		{schemas.StringValue("z"), nan, false},      // unseen: missing
		{schemas.NumberValue(1), 1, false},          // a number is the code
		{schemas.NumberValue(7), 7, false},          // beyond the list: the model's rule (not in the bitset)
		{schemas.NumberValue(-1), -1, false},        // pandas' -1 code: the model's rule (right)
		{schemas.NumberValue(math.Inf(1)), 0, true}, // non-finite numbers are errors, as for any feature
		{schemas.BoolValue(true), 0, true},          // no boolean categories in this list
		{schemas.Value{Kind: schemas.Null}, nan, false},
	} {
		row := make([]float64, 3)
		err := plan.Extract64(event(f("c", tc.v), f("flag", schemas.BoolValue(true)), f("x", schemas.NumberValue(2))), row)
		if (err != nil) != tc.err {
			t.Errorf("%+v: err = %v", tc.v, err)
			continue
		}
		if tc.err {
			continue
		}
		if got := row[0]; got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("%+v: code %v, want %v", tc.v, got, tc.want)
		}
		if row[1] != 1 || row[2] != 2 {
			t.Errorf("%+v: boolean category true → %v, plain number → %v", tc.v, row[1], row[2])
		}
	}
	// A features file that lists the model's categories maps numbers by
	// their decimal form (so numeric categories can be given as values).
	info = Info{Features: []string{"cyl"}, Categories: [][]string{{"3", "4", "6", "8"}}}
	plan, err = CompileFor(info, []FeatureSpec{{Name: "cyl", Transform: TransformCategory, Categories: []string{"3", "4", "6", "8"}}})
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float64, 1)
	if err := plan.Extract64(event(f("cyl", schemas.NumberValue(6))), row); err != nil || row[0] != 2 {
		t.Errorf("features-file categories: 6 → %v (%v), want code 2", row[0], err)
	}
}

package scoring

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/schemas"
)

// linearExplainer is a test double: a binary model over a and b whose
// contributions are 2a and −3b (0 when missing) with bias 0.5.
type linearExplainer struct{ sumModel }

func (m linearExplainer) Explainer() (Explainer, error) { return m, nil }

func (m linearExplainer) Explain(x, out []float32) error {
	if len(x)%2 != 0 || len(out) != len(x)/2*3 {
		return ErrShape
	}
	for r := 0; r < len(x)/2; r++ {
		for f, w := range []float32{2, -3} {
			v := x[2*r+f]
			if v != v {
				v = 0
			}
			out[3*r+f] = w * v
		}
		out[3*r+2] = 0.5
	}
	return nil
}

// refusingModel cannot explain and says why.
type refusingModel struct{ sumModel }

func (refusingModel) Explainer() (Explainer, error) {
	return nil, errors.New("no covers, for a test")
}

func TestTopReasons(t *testing.T) {
	nan := float32(math.NaN())
	x := []float32{10, 11, 12, 13, 14, nan}
	tests := []struct {
		name    string
		contrib []float32 // features then bias
		k       int
		want    []Reason
	}{
		{"largest absolute first", []float32{0.1, -0.5, 0.3, 0, 0.2, -0.05, 9}, 3,
			[]Reason{{1, 11, -0.5}, {2, 12, 0.3}, {4, 14, 0.2}}},
		{"ties by lower index", []float32{0.2, -0.2, 0.2, 0.1, -0.2, 0, 9}, 3,
			[]Reason{{0, 10, 0.2}, {1, 11, -0.2}, {2, 12, 0.2}}},
		{"zeros and NaN are no reasons", []float32{0, nan, 0.1, 0, 0, 0, 9}, 3,
			[]Reason{{2, 12, 0.1}}},
		{"k beyond the features", []float32{0.1, -0.5, 0.3, 0.4, 0.2, 0.05, 9}, 10,
			[]Reason{{1, 11, -0.5}, {3, 13, 0.4}, {2, 12, 0.3}, {4, 14, 0.2}, {0, 10, 0.1}, {5, nan, 0.05}}},
		{"the bias is never a reason", []float32{0, 0, 0, 0, 0, 0, 9}, 2, nil},
		{"k = 0", []float32{1, 2, 3, 4, 5, 6, 9}, 0, nil},
		{"a missing value keeps NaN", []float32{0, 0, 0, 0, 0, -1, 9}, 1, []Reason{{5, nan, -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []Reason{{Feature: 99}}
			got := TopReasons(append([]Reason(nil), prefix...), tt.contrib, x, tt.k)
			if len(got) != 1+len(tt.want) || got[0].Feature != 99 {
				t.Fatalf("got %v, want %v after the prefix", got, tt.want)
			}
			for i, w := range tt.want {
				g := got[1+i]
				if g.Feature != w.Feature || g.Contribution != w.Contribution || math.Float32bits(g.Value) != math.Float32bits(w.Value) {
					t.Errorf("reason %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
	dst := make([]Reason, 0, 3)
	c := []float32{0.1, -0.5, 0.3, 0, 0.2, -0.05, 9}
	if a := testing.AllocsPerRun(100, func() { dst = TopReasons(dst[:0], c, x, 3) }); a != 0 {
		t.Errorf("TopReasons allocates %v times", a)
	}
}

// TestTopReasonsIsASort: against a full sort by (|c| descending, index).
func TestTopReasonsIsASort(t *testing.T) {
	contrib := make([]float32, 41)
	x := make([]float32, 40)
	for trial := 0; trial < 200; trial++ {
		for i := range x {
			// few distinct magnitudes, so that ties are common
			contrib[i] = float32((i*7+trial*13)%9-4) / 4
			x[i] = float32(i)
		}
		for _, k := range []int{1, 3, 10, 40} {
			got := TopReasons(nil, contrib, x, k)
			var want []Reason
			for m := 4; m > 0; m-- { // |c| = m/4, indices ascending
				for i := range x {
					if abs32(contrib[i]) == float32(m)/4 && len(want) < k {
						want = append(want, Reason{i, x[i], contrib[i]})
					}
				}
			}
			if len(got) != len(want) {
				t.Fatalf("trial %d k %d: %v, want %v", trial, k, got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("trial %d k %d: %v, want %v", trial, k, got, want)
				}
			}
		}
	}
}

func TestScorerExplain(t *testing.T) {
	s, err := NewScorer(linearExplainer{sumModel{kind: Binary}}, nil, DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Explainer(); err != nil {
		t.Fatal(err)
	}
	if s.ContributionLen() != 3 {
		t.Fatalf("ContributionLen %d", s.ContributionLen())
	}
	evs := []*schemas.Event{
		event(f("a", schemas.NumberValue(1)), f("b", schemas.NumberValue(2))),
		event(f("a", schemas.StringValue("x"))),
		event(f("a", schemas.NumberValue(3))),
		event(f("b", schemas.NumberValue(-1))),
	}
	var b Batch
	s.Score(evs, &b)
	if r := b.Features(2); len(r) != 2 || r[0] != 3 || r[1] == r[1] {
		t.Fatalf("Features(2) = %v, want [3 NaN]", r)
	}
	if r := b.Features(1); r != nil {
		t.Fatalf("Features(1) of a feature failure = %v", r)
	}
	for _, i := range []int{-1, 4} {
		if r := b.Features(i); r != nil {
			t.Fatalf("Features(%d) = %v", i, r)
		}
	}
	if b.Features64(0) != nil {
		t.Fatal("Features64 of a float32 model")
	}
	want := map[int][]float32{0: {2, -6, 0.5}, 2: {6, 0, 0.5}, 3: {0, 3, 0.5}}
	out := make([]float32, 3)
	for i, w := range want {
		if err := s.Explain(&b, i, out); err != nil {
			t.Fatal(err)
		}
		for j := range w {
			if out[j] != w[j] {
				t.Errorf("result %d: %v, want %v", i, out, w)
			}
		}
	}
	if err := s.Explain(&b, 1, out); !errors.Is(err, ErrNoFeatureRow) {
		t.Errorf("feature failure: %v", err)
	}
	if err := s.Explain(&b, 0, make([]float32, 4)); !errors.Is(err, ErrShape) {
		t.Errorf("wrong length: %v", err)
	}
	if a := testing.AllocsPerRun(50, func() { s.Explain(&b, 0, out) }); a != 0 {
		t.Errorf("Explain allocates %v times", a)
	}

	all := make([]float32, 9)
	if err := s.ExplainResults(&b, []int{3, 0, 2}, all); err != nil {
		t.Fatal(err)
	}
	for k, i := range []int{3, 0, 2} {
		for j, w := range want[i] {
			if all[3*k+j] != w {
				t.Errorf("ExplainResults row %d (result %d): %v, want %v", k, i, all[3*k:3*k+3], want[i])
			}
		}
	}
	if err := s.ExplainResults(&b, []int{0, 1}, make([]float32, 6)); !errors.Is(err, ErrNoFeatureRow) {
		t.Errorf("ExplainResults with a feature failure: %v", err)
	}
	if err := s.ExplainResults(&b, []int{0}, all); !errors.Is(err, ErrShape) {
		t.Errorf("ExplainResults wrong length: %v", err)
	}
	if err := s.ExplainResults(&b, nil, nil); err != nil {
		t.Errorf("no results: %v", err)
	}
	if a := testing.AllocsPerRun(50, func() { s.ExplainResults(&b, []int{3, 0, 2}, all) }); a != 0 {
		t.Errorf("ExplainResults allocates %v times", a)
	}
}

func TestScorerCannotExplain(t *testing.T) {
	for _, tc := range []struct {
		m    Model
		want string
	}{
		{sumModel{kind: Binary}, `model sum: the model cannot explain its scores: format "" has no feature contributions`},
		{refusingModel{sumModel{kind: Binary}}, "model sum: no covers, for a test"},
	} {
		s, err := NewScorer(tc.m, nil, DefaultPolicy)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Explainer()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%T: err = %v, want it to say %q", tc.m, err, tc.want)
		}
		var b Batch
		s.Score([]*schemas.Event{event(f("a", schemas.NumberValue(1)))}, &b)
		if err2 := s.Explain(&b, 0, make([]float32, 3)); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%T: Explain err = %v, want %v", tc.m, err2, err)
		}
	}
	// A model without the interface wraps ErrCannotExplain.
	_, err := NewExplainer(sumModel{kind: Binary})
	if !errors.Is(err, ErrCannotExplain) {
		t.Errorf("err = %v", err)
	}
}

func TestExplainedGroup(t *testing.T) {
	mc := Info{Output: MultiClass, Classes: 3}
	for _, tc := range []struct {
		info Info
		d    Decision
		want int
	}{
		{mc, Decision{Label: 2}, 2},
		{mc, Decision{Label: 0}, 0},
		{mc, Decision{Label: 7}, 0},
		{Info{Output: Binary, Classes: 2}, Decision{Label: 1}, 0},
		{Info{Output: Regression, Classes: 1, Targets: 3}, Decision{Label: 1}, 0},
	} {
		if got := ExplainedGroup(tc.info, tc.d); got != tc.want {
			t.Errorf("%+v %+v: %d, want %d", tc.info, tc.d, got, tc.want)
		}
	}
}

// f64InputModel takes float64 input.
type f64InputModel struct{ sumModel }

func (f64InputModel) Float64Input() bool { return true }
func (m f64InputModel) Predict64(x []float64, out []float32) error {
	for r := range out {
		out[r] = float32(x[2*r]) / 10
	}
	return nil
}

func TestFeatures64(t *testing.T) {
	s, err := NewScorer(f64InputModel{sumModel{kind: Binary}}, nil, DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	s.Score([]*schemas.Event{event(f("a", schemas.StringValue("x"))), event(f("a", schemas.NumberValue(0.1)), f("b", schemas.NumberValue(2)))}, &b)
	if r := b.Features64(1); len(r) != 2 || r[0] != 0.1 || r[1] != 2 {
		t.Fatalf("Features64(1) = %v", r)
	}
	if b.Features64(0) != nil || b.Features(1) != nil {
		t.Fatal("a failed row, or the float32 row of a float64 model")
	}
}

// f64Explainer is a float64-input model whose explainer reports the
// float64 row it is given: contribution f = x[f] − float64(float32(x[f]))
// scaled up, nonzero only when the row reached it unrounded.
type f64Explainer struct{ f64InputModel }

func (m f64Explainer) Explainer() (Explainer, error) { return m, nil }
func (m f64Explainer) Explain(x, out []float32) error {
	return errors.New("Explain called for a float64-input model")
}
func (m f64Explainer) Explain64(x []float64, out []float32) error {
	if len(x)%2 != 0 || len(out) != len(x)/2*3 {
		return ErrShape
	}
	for r := 0; r < len(x)/2; r++ {
		for f := 0; f < 2; f++ {
			out[3*r+f] = float32((x[2*r+f] - float64(float32(x[2*r+f]))) * 1e12)
		}
		out[3*r+2] = float32(x[2*r])
	}
	return nil
}

// f64NoExplain64 explains float32 rows only.
type f64NoExplain64 struct{ f64InputModel }

func (m f64NoExplain64) Explainer() (Explainer, error)  { return m, nil }
func (m f64NoExplain64) Explain(x, out []float32) error { return nil }

// TestScorerExplain64: a float64-input model is explained from the float64
// rows it was scored with (Explainer64), one explainer without Explain64
// cannot explain the Scorer's rows.
func TestScorerExplain64(t *testing.T) {
	s, err := NewScorer(f64Explainer{}, nil, DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	evs := []*schemas.Event{
		event(f("a", schemas.NumberValue(0.1)), f("b", schemas.NumberValue(2))),
		event(f("a", schemas.StringValue("x"))),
		event(f("a", schemas.NumberValue(3)), f("b", schemas.NumberValue(0.3))),
	}
	s.Score(evs, &b)
	want := map[int][]float32{
		0: {float32((0.1 - float64(float32(0.1))) * 1e12), 0, 0.1},
		2: {0, float32((0.3 - float64(float32(0.3))) * 1e12), 3},
	}
	out := make([]float32, 3)
	for i, w := range want {
		if err := s.Explain(&b, i, out); err != nil {
			t.Fatal(err)
		}
		if out[0] != w[0] || out[1] != w[1] || out[2] != w[2] || (w[0] == 0 && w[1] == 0) {
			t.Errorf("result %d: %v, want %v", i, out, w)
		}
	}
	all := make([]float32, 6)
	if err := s.ExplainResults(&b, []int{2, 0}, all); err != nil {
		t.Fatal(err)
	}
	for k, i := range []int{2, 0} {
		for j, w := range want[i] {
			if all[3*k+j] != w {
				t.Errorf("ExplainResults row %d: %v, want %v", k, all[3*k:3*k+3], want[i])
			}
		}
	}
	if err := s.Explain(&b, 1, out); !errors.Is(err, ErrNoFeatureRow) {
		t.Errorf("feature failure: %v", err)
	}
	if err := s.ExplainResults(&b, []int{0, 1}, all); !errors.Is(err, ErrNoFeatureRow) {
		t.Errorf("ExplainResults feature failure: %v", err)
	}
	if a := testing.AllocsPerRun(50, func() { s.ExplainResults(&b, []int{2, 0}, all) }); a != 0 {
		t.Errorf("ExplainResults allocates %v times", a)
	}

	s, err = NewScorer(f64NoExplain64{}, nil, DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	s.Score(evs, &b)
	if err := s.Explain(&b, 0, out); !errors.Is(err, ErrCannotExplain) || !strings.Contains(err.Error(), "no Explain64") {
		t.Errorf("no Explain64: %v", err)
	}
	if err := s.ExplainResults(&b, []int{0}, out); !errors.Is(err, ErrCannotExplain) {
		t.Errorf("ExplainResults, no Explain64: %v", err)
	}
}

package scoring

import (
	"math"
	"slices"
	"testing"

	"github.com/streamscore/streamscore/schemas"
)

// Batch.Missing counts, per model input, the events of the last Score that
// had it missing (NaN): absent, null, or an unseen category; a default is
// not missing, and an event that failed at the features stage is not
// counted. The brute-force reference is the extracted rows themselves.
func TestBatchCountsMissingInputs(t *testing.T) {
	def := 3.0
	specs := []FeatureSpec{{Name: "a"}, {Name: "b", Default: &def}}
	s, err := NewScorer(sumModel{kind: Binary}, specs, DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	null := schemas.Value{Kind: schemas.Null}
	evs := []*schemas.Event{
		event(f("a", schemas.NumberValue(1)), f("b", schemas.NumberValue(2))), // none missing
		event(f("b", schemas.NumberValue(2))),                                 // a absent
		event(f("a", null)),                                                   // a null, b absent: its default
		event(f("a", schemas.StringValue("x"))),                               // a feature error: not counted
		event(),                                                               // a absent
	}
	var b Batch
	s.Score(evs, &b)
	if got := b.Missing(); !slices.Equal(got, []uint32{3, 0}) {
		t.Errorf("missing = %v, want [3 0]", got)
	}
	// the reference: the NaNs of each extracted row
	want := make([]uint32, 2)
	row := make([]float32, 2)
	for _, ev := range evs {
		if s.Plan().Extract(ev, row) == nil {
			countMissing(row, want)
		}
	}
	if !slices.Equal(b.Missing(), want) {
		t.Errorf("missing = %v, reference %v", b.Missing(), want)
	}
	// each Score counts its own events
	s.Score(evs[:2], &b)
	if got := b.Missing(); !slices.Equal(got, []uint32{1, 0}) {
		t.Errorf("second batch: missing = %v, want [1 0]", got)
	}
	good := []*schemas.Event{evs[0], evs[1], evs[2], evs[4]} // a feature error's message allocates
	if allocs := testing.AllocsPerRun(20, func() { s.Score(good, &b) }); allocs != 0 {
		t.Errorf("Score allocates %v per batch", allocs)
	}

	// an unseen category is missing too
	cs, err := NewScorer(sumModel{kind: Binary}, []FeatureSpec{{Name: "a", Transform: TransformCategory, Categories: []string{"x", "y"}}, {Name: "b"}}, DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	cs.Score([]*schemas.Event{event(f("a", schemas.StringValue("z")), f("b", schemas.NumberValue(1))), event(f("a", schemas.StringValue("y")))}, &b)
	if got := b.Missing(); !slices.Equal(got, []uint32{1, 1}) {
		t.Errorf("category: missing = %v, want [1 1]", got)
	}
}

func TestPlanInputs(t *testing.T) {
	def := 0.0
	p, err := Compile([]string{"amount", "hour"}, []FeatureSpec{{Name: "amount", Default: &def}, {Name: "hour", From: "event_time", Transform: TransformHourOfDay}})
	if err != nil {
		t.Fatal(err)
	}
	want := []PlanInput{{"amount", "amount", true, false}, {"hour", "event_time", false, false}}
	if got := p.Inputs(); !slices.Equal(got, want) {
		t.Errorf("inputs = %+v, want %+v", got, want)
	}
}

// BenchmarkCountMissing is the counting Score adds per batch: one NaN test
// per value of a 500-row, 12-input batch (compare BenchmarkScoreFraud in
// models, the whole Score of such a batch).
func BenchmarkCountMissing(b *testing.B) {
	x := make([]float32, 500*12)
	for i := range x {
		if i%1000 == 0 { // now and then, as in a healthy stream
			x[i] = float32(math.NaN())
		}
	}
	counts := make([]uint32, 12)
	for b.Loop() {
		for r := 0; r < 500; r++ {
			countMissing(x[r*12:(r+1)*12], counts)
		}
	}
}

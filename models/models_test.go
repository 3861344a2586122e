package models

import (
	"sort"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// auc is the area under the ROC curve (Mann–Whitney, ties averaged).
func auc(scores []float64, labels []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var rankSum, pos float64
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && scores[idx[j+1]] == scores[idx[i]] {
			j++
		}
		r := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			if labels[idx[k]] {
				rankSum += r
				pos++
			}
		}
		i = j + 1
	}
	neg := float64(len(scores)) - pos
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

func TestBundledModelsAreUseful(t *testing.T) {
	tests := []struct {
		name     string
		load     func(scoring.Policy) (*scoring.Scorer, error)
		features int
		gen      func(g *synth.Generator, ev *schemas.Event, at time.Time) bool
	}{
		{"fraud", Fraud, 12, (*synth.Generator).Transaction},
		{"takeover", Takeover, 10, (*synth.Generator).Activity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.load(scoring.DefaultPolicy)
			if err != nil {
				t.Fatal(err)
			}
			if info := s.Info(); info.Name != tt.name || info.Output != scoring.Binary || len(info.Features) != tt.features {
				t.Fatalf("info = %+v", info)
			}
			// A stream the model never saw: another seed, other customers.
			g := synth.New(4242, 5000, schemas.DefaultFieldNames)
			const n = 40000
			evs := make([]*schemas.Event, n)
			labels := make([]bool, n)
			at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
			for i := range evs {
				evs[i] = &schemas.Event{}
				labels[i] = tt.gen(g, evs[i], at.Add(time.Duration(i)*time.Second))
			}
			var b scoring.Batch
			s.Score(evs, &b)
			scores := make([]float64, n)
			for i, r := range b.Results {
				if r.Err != nil {
					t.Fatalf("event %d: %v", i, r.Err)
				}
				scores[i] = r.Score
			}
			a := auc(scores, labels)
			t.Logf("AUC on %d fresh synthetic events: %.4f", n, a)
			if a < 0.9 {
				t.Errorf("AUC %.4f: the bundled model no longer separates the generator's positives", a)
			}
		})
	}
}

func TestAUC(t *testing.T) {
	if got := auc([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}); got != 0.75 {
		t.Errorf("auc = %v, want 0.75", got)
	}
	if got := auc([]float64{0.5, 0.5}, []bool{false, true}); got != 0.5 {
		t.Errorf("tied auc = %v", got)
	}
}

package models

import (
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// BenchmarkScoreFraud is Scorer.Score on a batch of 500 synthetic
// transactions with the bundled fraud model: features, missing-value
// counting, the model and the policy, as a lane scores a batch.
func BenchmarkScoreFraud(b *testing.B) {
	s, err := Fraud(scoring.DefaultPolicy)
	if err != nil {
		b.Fatal(err)
	}
	g := synth.New(1, 1000, schemas.DefaultFieldNames)
	evs := make([]*schemas.Event, 500)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range evs {
		evs[i] = &schemas.Event{}
		g.Transaction(evs[i], at.Add(time.Duration(i)*time.Second))
	}
	var batch scoring.Batch
	b.ReportAllocs()
	for b.Loop() {
		s.Score(evs, &batch)
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}

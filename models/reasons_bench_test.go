package models

import (
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// BenchmarkReasons scores synthetic transactions (2% fraud) with the
// bundled fraud model in batches of 500, as a lane does, and reports
// events/s: "none" scores only; "flagged" also explains the predictions
// labelled 1 (REASONS_FOR=flagged) and keeps their top 3 reasons; "all"
// explains every prediction. Feature extraction and scoring are the
// stream's per-event model work; its decoding and encoding come on top, so
// the share reasons take of the whole stream is below the share measured
// here.
func BenchmarkReasons(b *testing.B) {
	s, err := Fraud(scoring.DefaultPolicy)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Explainer(); err != nil {
		b.Fatal(err)
	}
	g := synth.New(99, 5000, schemas.DefaultFieldNames)
	const n, batch = 20000, 500
	evs := make([]*schemas.Event, n)
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i := range evs {
		evs[i] = &schemas.Event{}
		g.Transaction(evs[i], at.Add(time.Duration(i)*time.Second))
	}
	cl := s.ContributionLen()
	for _, mode := range []string{"none", "flagged", "all"} {
		b.Run(mode, func(b *testing.B) {
			var sb scoring.Batch
			idx := make([]int, 0, batch)
			contribs := make([]float32, batch*cl)
			reasons := make([]scoring.Reason, 0, 3)
			explained := 0
			b.ReportAllocs()
			for b.Loop() {
				explained = 0
				for lo := 0; lo < n; lo += batch {
					s.Score(evs[lo:lo+batch], &sb)
					if mode == "none" {
						continue
					}
					idx = idx[:0]
					for i := range sb.Results {
						if r := &sb.Results[i]; r.Err == nil && (mode == "all" || r.Label == 1) {
							idx = append(idx, i)
						}
					}
					if err := s.ExplainResults(&sb, idx, contribs[:len(idx)*cl]); err != nil {
						b.Fatal(err)
					}
					for k, i := range idx {
						reasons = scoring.TopReasons(reasons[:0], contribs[k*cl:(k+1)*cl], sb.Features(i), 3)
					}
					explained += len(idx)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(100*float64(explained)/n, "%explained")
		})
	}
}

package pipeline

import (
	"fmt"
	"time"

	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/scoring"
)

// explain is the predictions' reason codes (REASONS_TOP_K, REASONS_FOR),
// with the metrics of the time spent.
func (p *Pipeline) explain() outcome.Explain {
	if p.cfg.ReasonsTopK == 0 {
		return outcome.Explain{}
	}
	ex := outcome.Explain{For: outcome.ExplainFlagged, TopK: p.cfg.ReasonsTopK, Report: p.explained}
	if p.cfg.ReasonsFor == "all" {
		ex.For = outcome.ExplainAll
	}
	return ex
}

// explained counts one batch's explaining (outcome.Explain.Report).
func (p *Pipeline) explained(s *scoring.Scorer, n int, took time.Duration, err error) {
	name := s.Info().Name
	p.obs.ExplainSeconds.WithLabelValues(name).Add(took.Seconds())
	if err != nil {
		p.log.Error("reason codes failed; the batch's predictions carry none", "model", name, "err", err)
		return
	}
	p.obs.Explained.WithLabelValues(name).Add(float64(n))
}

// checkExplain fails when reasons are asked for and a model cannot give
// them; it builds each model's tables now, so no event waits for them.
func checkExplain(topK int, s *scoring.Scorer) error {
	if topK == 0 {
		return nil
	}
	if _, err := s.Explainer(); err != nil {
		return fmt.Errorf("REASONS_TOP_K=%d: %w", topK, err)
	}
	return nil
}

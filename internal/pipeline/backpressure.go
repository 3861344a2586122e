package pipeline

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordBytes is what a polled record counts against MAX_IN_FLIGHT_BYTES.
func recordBytes(r *kgo.Record) int64 { return int64(len(r.Key) + len(r.Value)) }

// backpressure bounds what is in flight (polled, not yet acknowledged) to
// MAX_IN_FLIGHT_RECORDS records and MAX_IN_FLIGHT_BYTES bytes of input.
// When either is reached, fetching of the input topics pauses (no fetch
// request goes out for their partitions) until both are back under three
// quarters of their limits; the open batch keeps closing on its interval
// meanwhile, so its records reach the producer. It returns ctx's error if
// ctx ends while paused.
func (p *Pipeline) backpressure(ctx context.Context) error {
	tr := p.group.Tracker()
	full := func(frac float64) bool {
		n, b := tr.InFlight(), p.inBytes.Load()
		p.inFlightGauges[0].Set(float64(n))
		p.inFlightGauges[1].Set(float64(b))
		return float64(n) >= frac*float64(p.cfg.MaxInFlightRecords) || float64(b) >= frac*float64(p.cfg.MaxInFlightBytes)
	}
	if !full(1) {
		return nil
	}
	p.group.Pause()
	p.obs.FetchPaused.Set(1)
	p.obs.FetchPauses.Inc()
	p.stats.FetchPauses.Add(1)
	p.paused.Store(true)
	start := time.Now()
	defer func() {
		p.group.Resume()
		p.paused.Store(false)
		p.obs.FetchPaused.Set(0)
		p.log.Debug("fetching resumed", "paused_for", time.Since(start).Round(time.Millisecond))
	}()
	p.log.Debug("in-flight limit reached; fetching paused", "records", tr.InFlight(), "bytes", p.inBytes.Load())
	tick := time.NewTicker(p.cfg.BatchInterval)
	defer tick.Stop()
	for {
		changed := tr.Changed()
		if !full(0.75) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case now := <-tick.C:
			p.mu.Lock()
			p.win.Tick(now)
			p.mu.Unlock()
		}
	}
}

// FetchPaused reports whether backpressure has paused fetching now.
func (p *Pipeline) FetchPaused() bool { return p.paused.Load() }

package backfill

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

// progress reports records done against the total: a bar on a terminal,
// a log line every few seconds otherwise.
type progress struct {
	total    int64
	done     atomic.Int64
	start    time.Time
	out      io.Writer
	terminal bool
	log      *slog.Logger
}

func (p *progress) run(stop <-chan struct{}) {
	every := 5 * time.Second
	if p.terminal {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			if p.terminal {
				p.bar()
				fmt.Fprintln(p.out)
			}
			return
		case <-t.C:
			if p.terminal {
				p.bar()
			} else {
				done, rate, eta := p.figures()
				p.log.Info("backfill progress", "done", done, "total", p.total, "records_per_s", int64(rate), "eta", eta)
			}
		}
	}
}

func (p *progress) figures() (done int64, rate float64, eta time.Duration) {
	done = p.done.Load()
	rate = float64(done) / max(time.Since(p.start).Seconds(), 1e-9)
	if rate > 0 {
		eta = time.Duration(float64(max(0, p.total-done)) / rate * float64(time.Second)).Round(time.Second)
	}
	return done, rate, eta
}

func (p *progress) bar() {
	done, rate, eta := p.figures()
	frac := 1.0
	if p.total > 0 {
		frac = min(1, float64(done)/float64(p.total))
	}
	const width = 30
	fill := int(frac * width)
	fmt.Fprintf(p.out, "\r[%s%s] %d/%d %5.1f%%  %.0f records/s  ETA %v   ",
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, p.total, 100*frac, rate, eta)
}

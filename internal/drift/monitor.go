package drift

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/streamscore/streamscore/internal/rolling"
)

// windows are the rolling windows of the live histograms.
var windows = [...]struct {
	name string
	span time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}}

// WindowNames are the names of the rolling windows, shortest first.
func WindowNames() []string {
	out := make([]string, len(windows))
	for i, w := range windows {
		out[i] = w.name
	}
	return out
}

// Epsilon is the floor of a bin's share in PSI: a bin that is empty in
// the baseline or in the live window counts as holding this share, so
// that PSI stays finite (a value never seen in training still drives PSI
// up by about (a − ε)·ln(a/ε)).
const Epsilon = 1e-4

// PSI is the population stability index of actual against expected bin
// shares: Σ (a − e)·ln(a/e), every share floored at Epsilon. Both slices
// are shares of one population each (adding up to 1).
func PSI(expected, actual []float64) float64 {
	psi := 0.0
	for i := range expected {
		e, a := max(expected[i], Epsilon), max(actual[i], Epsilon)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// ErrShape is wrapped by ObserveBatch's error for a batch whose shape is
// not the baseline's.
var ErrShape = errors.New("drift: batch shape")

// Monitor counts a lane's live model inputs and scores into the
// baseline's bins over the rolling windows. Safe for concurrent use: one
// mutex, taken once per batch by the lane and by a snapshot.
type Monitor struct {
	b       *Baseline
	nf      int
	offsets []int // first counter of feature i; a feature has its value bins, then missing
	score   int   // first counter of the score bins
	width   int   // counters per step: every feature's bins, the score's, then rows

	mu sync.Mutex
	w  [len(windows)]*rolling.Window
}

// NewMonitor returns a monitor of b's features and score (b must be valid:
// ReadFile and Builder.Build give valid ones).
func NewMonitor(b *Baseline) *Monitor {
	m := &Monitor{b: b, nf: len(b.Features)}
	for _, f := range b.Features {
		m.offsets = append(m.offsets, m.width)
		m.width += len(f.Counts) + 1
	}
	m.score = m.width
	m.width += len(b.Score.Counts) + 1 // + the row count
	for i, w := range windows {
		m.w[i], _ = rolling.New(w.span, m.width)
	}
	return m
}

// Baseline is the monitor's baseline.
func (m *Monitor) Baseline() *Baseline { return m.b }

// ObserveBatch counts a dense batch: x holds len(scores) rows of the
// baseline's features in order (row-major, NaN = missing), scores the
// model's score of each row, at the batch's time (its records' time).
// It does not allocate.
func (m *Monitor) ObserveBatch(at time.Time, x []float32, scores []float64) error {
	if len(x) != len(scores)*m.nf {
		return fmt.Errorf("%w: %d values for %d rows of %d features", ErrShape, len(x), len(scores), m.nf)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rows := m.rows(at)
	for r, s := range scores {
		for i, v := range x[r*m.nf : (r+1)*m.nf] {
			m.add(&rows, m.slot(i, float64(v)))
		}
		m.addScore(&rows, s)
	}
	return nil
}

// ObserveBatch64 is ObserveBatch for models that compute in float64.
func (m *Monitor) ObserveBatch64(at time.Time, x []float64, scores []float64) error {
	if len(x) != len(scores)*m.nf {
		return fmt.Errorf("%w: %d values for %d rows of %d features", ErrShape, len(x), len(scores), m.nf)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rows := m.rows(at)
	for r, s := range scores {
		for i, v := range x[r*m.nf : (r+1)*m.nf] {
			m.add(&rows, m.slot(i, v))
		}
		m.addScore(&rows, s)
	}
	return nil
}

// rows are the counters of the step of at in every window (nil where
// at is too old for it).
func (m *Monitor) rows(at time.Time) [len(windows)][]uint64 {
	t := at.UnixMilli()
	var rows [len(windows)][]uint64
	for i, w := range m.w {
		rows[i] = w.Row(t)
	}
	return rows
}

func (m *Monitor) add(rows *[len(windows)][]uint64, k int) {
	for _, r := range rows {
		if r != nil {
			r[k]++
		}
	}
}

// slot is the counter of feature i's value v: its bin, or its missing bin.
func (m *Monitor) slot(i int, v float64) int {
	f := &m.b.Features[i]
	if v != v {
		return m.offsets[i] + len(f.Counts)
	}
	return m.offsets[i] + Bin(f.Edges, v)
}

func (m *Monitor) addScore(rows *[len(windows)][]uint64, s float64) {
	if s == s {
		m.add(rows, m.score+Bin(m.b.Score.Edges, s))
	}
	m.add(rows, m.width-1)
}

// FeatureDrift is one input's drift over a window.
type FeatureDrift struct {
	Name string
	// PSI of the live shares against the baseline's, over the value bins
	// and a missing bin (so a field renamed upstream, missing in every
	// live row, shows as a large PSI too); NaN without live rows.
	PSI float64
	// MissingShare is the share of live rows where the input was missing;
	// BaselineMissingShare the training share, to compare.
	MissingShare, BaselineMissingShare float64
}

// WindowDrift is the drift over one window.
type WindowDrift struct {
	Name     string
	Span     time.Duration
	Rows     uint64 // live rows counted (to the window's step, Span/60)
	Features []FeatureDrift
	ScorePSI float64 // NaN without live rows
}

// Merge computes the drift at now of monitors of one baseline (the lanes
// of one model), shortest window first.
func Merge(now time.Time, ms ...*Monitor) ([]WindowDrift, error) {
	if len(ms) == 0 {
		return nil, errors.New("drift: no monitors")
	}
	m0 := ms[0]
	for _, m := range ms[1:] {
		if m.b != m0.b {
			return nil, errors.New("drift: merging monitors of different baselines")
		}
	}
	t := now.UnixMilli()
	sum := make([]uint64, m0.width)
	out := make([]WindowDrift, len(windows))
	for wi, w := range windows {
		clear(sum)
		for _, m := range ms {
			m.mu.Lock()
			m.w[wi].Sum(t, sum)
			m.mu.Unlock()
		}
		out[wi] = m0.drift(w.name, w.span, sum)
	}
	return out, nil
}

// drift turns one window's counters into PSIs.
func (m *Monitor) drift(name string, span time.Duration, sum []uint64) WindowDrift {
	rows := sum[m.width-1]
	wd := WindowDrift{Name: name, Span: span, Rows: rows, ScorePSI: math.NaN()}
	for i := range m.b.Features {
		f := &m.b.Features[i]
		fd := FeatureDrift{Name: f.Name, PSI: math.NaN(), MissingShare: math.NaN(), BaselineMissingShare: f.MissingShare}
		if rows > 0 {
			c := sum[m.offsets[i] : m.offsets[i]+len(f.Counts)+1]
			fd.PSI = PSI(withMissing(&f.Histogram, m.b.Rows), shares(c, rows))
			fd.MissingShare = float64(c[len(c)-1]) / float64(rows)
		}
		wd.Features = append(wd.Features, fd)
	}
	if rows > 0 {
		sc := sum[m.score : m.score+len(m.b.Score.Counts)]
		var n uint64
		for _, c := range sc {
			n += c
		}
		if n > 0 {
			wd.ScorePSI = PSI(withMissing(&m.b.Score, m.b.Rows)[:len(sc)], shares(sc, n))
		}
	}
	return wd
}

// withMissing is a histogram's shares of all rows, the missing share last.
func withMissing(h *Histogram, rows uint64) []float64 {
	out := make([]float64, len(h.Counts)+1)
	for i, c := range h.Counts {
		out[i] = float64(c) / float64(rows)
	}
	out[len(h.Counts)] = float64(h.Missing) / float64(rows)
	return out
}

func shares(c []uint64, n uint64) []float64 {
	out := make([]float64, len(c))
	for i, v := range c {
		out[i] = float64(v) / float64(n)
	}
	return out
}

// Group holds the monitors of one model's baseline in a process (one per
// lane). A dropped monitor's counts stay in the group (nothing replays
// them), so a rebalance does not empty the windows. Safe for concurrent
// use.
type Group struct {
	b        *Baseline
	mu       sync.Mutex
	monitors map[*Monitor]struct{}
	retired  *Monitor
}

// NewGroup returns an empty group for baseline b.
func NewGroup(b *Baseline) *Group {
	return &Group{b: b, monitors: map[*Monitor]struct{}{}, retired: NewMonitor(b)}
}

// Baseline is the group's baseline.
func (g *Group) Baseline() *Baseline { return g.b }

// NewMonitor returns a registered monitor (a lane's, on assignment).
func (g *Group) NewMonitor() *Monitor {
	m := NewMonitor(g.b)
	g.mu.Lock()
	g.monitors[m] = struct{}{}
	g.mu.Unlock()
	return m
}

// Drop unregisters m, keeping its counts.
func (g *Group) Drop(m *Monitor) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.monitors[m]; !ok {
		return
	}
	delete(g.monitors, m)
	m.mu.Lock()
	g.retired.mu.Lock()
	for i := range m.w {
		_ = g.retired.w[i].Merge(m.w[i]) // same baseline: same shape
	}
	g.retired.mu.Unlock()
	m.mu.Unlock()
}

// Snapshot is Merge over the group's monitors and the dropped ones' counts.
func (g *Group) Snapshot(now time.Time) []WindowDrift {
	g.mu.Lock()
	ms := []*Monitor{g.retired}
	for m := range g.monitors {
		ms = append(ms, m)
	}
	g.mu.Unlock()
	out, _ := Merge(now, ms...) // one baseline: cannot fail
	return out
}

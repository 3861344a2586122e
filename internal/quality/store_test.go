package quality

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func mustStore(t testing.TB, o Options) *Store {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// action is one call of the simulation.
type action struct {
	t      int64 // ms since t0
	label  bool
	id     string
	series int // prediction: index into simSeries
	score  float64
	y      int
}

var simSeries = []seriesKey{{"fraud", "v1"}, {"fraud", "v2"}, {"fraud-challenger", "c1"}}

// refPred and refState are the reference model: every prediction is kept
// forever and the rules are evaluated from the definitions.
type refPred struct {
	at     int64
	series int
	score  float64
	label  int // -1 until labelled
}

type refPair struct {
	series int
	at     int64
	Pair
}

type refState struct {
	lw, pf  int64
	wm      int64
	preds   map[string][]*refPred
	pending map[string][2]int64 // id → {at, label}
	pairs   []refPair
	counts  [len(outcomeNames)]uint64
	dups    uint64
	all     []*refPred
}

func (r *refState) advance(t int64) {
	r.wm = max(r.wm, t)
	for id, p := range r.pending {
		if p[0] < r.wm-r.pf {
			delete(r.pending, id)
			r.counts[Unknown]++
		}
	}
}

func (r *refState) kept(p *refPred) bool { return p.at >= r.wm-r.lw }

func (r *refState) prediction(a action) {
	r.advance(a.t)
	label := -1
	for _, p := range r.preds[a.id] {
		if !r.kept(p) {
			continue
		}
		if p.series == a.series {
			r.dups++
			return
		}
		if p.label >= 0 {
			label = p.label
		}
	}
	p := &refPred{at: a.t, series: a.series, score: a.score, label: -1}
	r.preds[a.id] = append(r.preds[a.id], p)
	r.all = append(r.all, p)
	if label < 0 {
		if pl, ok := r.pending[a.id]; ok {
			delete(r.pending, a.id)
			r.counts[JoinedPending]++
			label = int(pl[1])
		}
	}
	if label >= 0 {
		p.label = label
		r.pairs = append(r.pairs, refPair{a.series, a.t, Pair{a.score, label}})
	}
}

func (r *refState) labelArrives(a action) Outcome {
	r.advance(a.t)
	if a.y != 0 && a.y != 1 {
		r.counts[Invalid]++
		return Invalid
	}
	any, joined, expired := false, false, false
	for _, p := range r.preds[a.id] {
		if !r.kept(p) {
			expired = true
			continue
		}
		any = true
		if p.label < 0 {
			p.label = a.y
			joined = true
			r.pairs = append(r.pairs, refPair{p.series, a.t, Pair{p.score, a.y}})
		}
	}
	switch {
	case joined:
		r.counts[Joined]++
		return Joined
	case any:
		r.counts[Duplicate]++
		return Duplicate
	}
	if _, ok := r.pending[a.id]; ok {
		r.counts[Duplicate]++
		return Duplicate
	}
	if expired {
		r.counts[Expired]++
		return Expired
	}
	r.pending[a.id] = [2]int64{a.t, int64(a.y)}
	return Pending
}

// simulate builds a stream of predictions and labels over more than the
// longest window: labels late by up to most of LabelWindow, early by less
// than PendingFor (the race) or by more, duplicated with the same or the
// other value, invalid, for events never predicted, and for expired
// predictions; predictions redelivered; a second model version from
// halfway; a challenger scoring every event with the champion.
func simulate(rng *rand.Rand, lw, pf int64, n int) []action {
	var acts []action
	span := int64(9 * 24 * time.Hour / time.Millisecond)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("e%d", i)
		pt := rng.Int64N(span)
		ser := 0
		if pt > span/2 {
			ser = 1
		}
		var score float64
		if rng.IntN(3) == 0 {
			score = float64(rng.IntN(21)) / 20 // ties
		} else {
			score = float64(float32(rng.Float64()))
		}
		y := 0
		if rng.Float64() < 0.1+0.7*score {
			y = 1
		}
		acts = append(acts, action{t: pt, id: id, series: ser, score: score})
		if rng.IntN(4) == 0 { // the challenger on the same event, same time
			cs := math.Min(1, math.Max(0, score+rng.NormFloat64()*0.1))
			acts = append(acts, action{t: pt, id: id, series: 2, score: cs})
		}
		if rng.IntN(20) == 0 { // a redelivered record, scored again
			acts = append(acts, action{t: pt + rng.Int64N(lw/4), id: id, series: ser, score: score})
		}
		var lt int64
		switch k := rng.IntN(20); {
		case k < 12: // late, inside the label window (off its edge)
			lt = pt + rng.Int64N(lw*9/10)
		case k < 14: // before its prediction, within PendingFor
			lt = pt - 1 - rng.Int64N(pf*9/10)
		case k < 15: // before its prediction by more than PendingFor
			lt = pt - pf*11/10 - rng.Int64N(pf)
		case k < 16: // after the prediction expired, while it is remembered
			lt = pt + lw*11/10 + rng.Int64N(lw*6/10) // with a duplicate (≤ lw/4 later), still < lw after expiry
		case k < 17: // no label at all
			continue
		default:
			lt = pt + rng.Int64N(lw/2)
		}
		acts = append(acts, action{t: lt, label: true, id: id, y: y})
		switch rng.IntN(25) {
		case 0, 1: // duplicate label, maybe a different value
			acts = append(acts, action{t: lt + rng.Int64N(lw/4), label: true, id: id, y: rng.IntN(2)})
		case 2:
			acts = append(acts, action{t: lt + 1, label: true, id: id, y: 7})
		}
	}
	for i := 0; i < n/20; i++ { // labels of events nobody scored
		acts = append(acts, action{t: rng.Int64N(span), label: true, id: fmt.Sprintf("x%d", i), y: rng.IntN(2)})
	}
	sort.SliceStable(acts, func(i, j int) bool { return acts[i].t < acts[j].t })
	return acts
}

// refSnapshot computes the expected windows of a series at now.
func (r *refState) window(series int, now int64, w int) (Scores, uint64, uint64) {
	span := windows[w].span.Milliseconds()
	var ps []Pair
	for _, p := range r.pairs {
		if p.series == series && p.at > now-span && p.at <= now {
			ps = append(ps, p.Pair)
		}
	}
	// predictions and labelled ones, to the step of the window (see rolling)
	step := (span + 59) / 60
	cur := (now + t0.UnixMilli()) / step
	var preds, labelled uint64
	for _, p := range r.all {
		if p.series != series {
			continue
		}
		e := (p.at + t0.UnixMilli()) / step
		if e <= cur && cur-e < 60 {
			preds++
			if p.label >= 0 {
				labelled++
			}
		}
	}
	return bruteScores(ps), preds, labelled
}

func checkAgainstRef(t *testing.T, snap Snapshot, ref *refState, now int64) {
	t.Helper()
	for i, k := range simSeries {
		var se *Series
		for j := range snap.Series {
			if snap.Series[j].Model == k.model && snap.Series[j].Version == k.version {
				se = &snap.Series[j]
			}
		}
		if se == nil {
			want, _, _ := ref.window(i, now, len(windows)-1)
			if want.N > 0 {
				t.Fatalf("at %v: no series %v, want %d pairs in 7d", at(now), k, want.N)
			}
			continue
		}
		for w := range windows {
			want, preds, labelled := ref.window(i, now, w)
			got := se.Windows[w]
			what := fmt.Sprintf("at %v, %s/%s, window %s", at(now), k.model, k.version, got.Name)
			checkScores(t, what, got.Scores, want)
			if got.Predictions != preds || got.Labelled != labelled {
				t.Errorf("%s: %d predictions, %d labelled; want %d and %d", what, got.Predictions, got.Labelled, preds, labelled)
			}
			if got.Truncated {
				t.Errorf("%s: truncated without MaxPairs reached", what)
			}
		}
	}
	for o := range outcomeNames {
		if snap.Counts.Labels[o] != ref.counts[o] {
			t.Errorf("at %v: %d labels %s, want %d", at(now), snap.Counts.Labels[o], Outcome(o), ref.counts[o])
		}
	}
	if snap.Counts.DuplicatePredictions != ref.dups {
		t.Errorf("%d duplicate predictions, want %d", snap.Counts.DuplicatePredictions, ref.dups)
	}
	if snap.Counts.Pending != len(ref.pending) {
		t.Errorf("%d labels pending, want %d", snap.Counts.Pending, len(ref.pending))
	}
}

// TestStoreMatchesReference feeds the simulated stream to stores (one per
// lane, events spread by id) and checks, at checkpoints and while the
// windows roll over after the last record, every measure of every series
// and window and every count against the reference.
func TestStoreMatchesReference(t *testing.T) {
	lw, pf := int64(2*24*time.Hour/time.Millisecond), int64(10*time.Minute/time.Millisecond)
	rng := rand.New(rand.NewPCG(3, 4))
	acts := simulate(rng, lw, pf, 6000)
	reg, err := NewRegistry(Options{LabelWindow: 2 * 24 * time.Hour, PendingFor: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const lanes = 3
	var stores [lanes]*Store
	for i := range stores {
		stores[i] = reg.NewStore()
	}
	// each lane is its own reference (a lane's clock is its own records')
	var refs [lanes]*refState
	for i := range refs {
		refs[i] = &refState{lw: lw, pf: pf, preds: map[string][]*refPred{}, pending: map[string][2]int64{}}
	}
	lane := func(id string) int { return int(id[len(id)-1]) % lanes }
	merged := func() *refState {
		m := &refState{pending: map[string][2]int64{}}
		for _, r := range refs {
			m.pairs = append(m.pairs, r.pairs...)
			m.all = append(m.all, r.all...)
			for o := range m.counts {
				m.counts[o] += r.counts[o]
			}
			m.dups += r.dups
			for k, v := range r.pending {
				m.pending[k] = v
			}
		}
		return m
	}
	outcomes := map[Outcome]int{}
	for i, a := range acts {
		l := lane(a.id)
		if a.label {
			want := refs[l].labelArrives(a)
			got := stores[l].Label(a.id, a.y, at(a.t))
			if got != want {
				t.Fatalf("action %d: label %s at %v: %v, want %v", i, a.id, at(a.t), got, want)
			}
			outcomes[got]++
		} else {
			refs[l].prediction(a)
			stores[l].Prediction(a.id, simSeries[a.series].model, simSeries[a.series].version, a.score, at(a.t))
		}
		if i%1500 == 1499 {
			checkAgainstRef(t, reg.Snapshot(at(a.t)), merged(), a.t)
		}
	}
	for _, o := range []Outcome{Joined, Pending, Duplicate, Expired, Invalid} {
		if outcomes[o] == 0 {
			t.Errorf("the simulation produced no %v label: it does not exercise it", o)
		}
	}
	// roll the windows over with no new records: the 1h window empties
	// first, then 24h, then 7d (pending labels resolve only with records)
	last := acts[len(acts)-1].t
	for _, d := range []time.Duration{30 * time.Minute, 2 * time.Hour, 25 * time.Hour, 6 * 24 * time.Hour, 8 * 24 * time.Hour} {
		now := last + d.Milliseconds()
		checkAgainstRef(t, reg.Snapshot(at(now)), merged(), now)
	}
	mid := reg.Snapshot(at(last - (3 * 24 * time.Hour).Milliseconds())) // a view of what was checked
	for _, se := range mid.Series {
		for _, w := range se.Windows {
			t.Logf("%s/%s %s: %d pairs, AUC %.4f, log loss %.4f, Brier %.4f, ECE %.4f, label rate %.3f, join %d/%d", se.Model, se.Version,
				w.Name, w.N, w.AUC, w.LogLoss, w.Brier, w.ECE, w.LabelRate, w.Labelled, w.Predictions)
		}
	}
	t.Logf("labels by outcome at the end: %v", outcomes)
	snap := reg.Snapshot(at(last + (8 * 24 * time.Hour).Milliseconds()))
	if snap.Counts.Labels[Unknown] == 0 || snap.Counts.Labels[JoinedPending] == 0 {
		t.Errorf("no unknown (%d) or joined-pending (%d) labels: the simulation misses a case",
			snap.Counts.Labels[Unknown], snap.Counts.Labels[JoinedPending])
	}
}

// The documented behaviours, one by one.
func TestLabelBehaviour(t *testing.T) {
	h := int64(time.Hour / time.Millisecond)
	o := Options{LabelWindow: 24 * time.Hour, PendingFor: 10 * time.Minute}
	pairsOf := func(s *Store, now int64, model, version string) int {
		for _, se := range s.Snapshot(at(now)).Series {
			if se.Model == model && se.Version == version {
				return se.Windows[len(se.Windows)-1].N
			}
		}
		return 0
	}
	t.Run("label before its prediction joins when it arrives", func(t *testing.T) {
		s := mustStore(t, o)
		if got := s.Label("a", 1, at(h)); got != Pending {
			t.Fatalf("early label: %v, want pending", got)
		}
		s.Prediction("a", "m", "v1", 0.9, at(h+5*60_000))
		if n := pairsOf(s, h+6*60_000, "m", "v1"); n != 1 {
			t.Fatalf("%d pairs after the prediction arrived, want 1", n)
		}
		c := s.Counts()
		if c.Labels[JoinedPending] != 1 || c.Pending != 0 {
			t.Fatalf("counts %+v: want one joined_pending, none pending", c)
		}
	})
	t.Run("label earlier than PendingFor is unknown", func(t *testing.T) {
		s := mustStore(t, o)
		s.Label("a", 1, at(h))
		s.Prediction("a", "m", "v1", 0.9, at(h+11*60_000))
		if n := pairsOf(s, h+12*60_000, "m", "v1"); n != 0 {
			t.Fatalf("%d pairs, want 0", n)
		}
		if c := s.Counts(); c.Labels[Unknown] != 1 {
			t.Fatalf("counts %+v: want one unknown", c)
		}
	})
	t.Run("the first label wins", func(t *testing.T) {
		s := mustStore(t, o)
		s.Prediction("a", "m", "v1", 0.9, at(h))
		if got := s.Label("a", 0, at(2*h)); got != Joined {
			t.Fatalf("first label %v", got)
		}
		if got := s.Label("a", 1, at(3*h)); got != Duplicate {
			t.Fatalf("second label %v, want duplicate", got)
		}
		snap := s.Snapshot(at(3 * h))
		if w := snap.Series[0].Windows[2]; w.N != 1 || w.Positives != 0 {
			t.Fatalf("7d window %+v: want the one negative label", w)
		}
		s.Label("b", 1, at(3*h))
		if got := s.Label("b", 1, at(3*h+1)); got != Duplicate {
			t.Fatalf("second pending label %v, want duplicate", got)
		}
	})
	t.Run("a label joins the version that made the prediction", func(t *testing.T) {
		s := mustStore(t, o)
		s.Prediction("a", "m", "v1", 0.9, at(h))
		s.Prediction("b", "m", "v2", 0.2, at(2*h)) // reloaded since
		s.Label("a", 1, at(3*h))
		if pairsOf(s, 3*h, "m", "v1") != 1 || pairsOf(s, 3*h, "m", "v2") != 0 {
			t.Fatal("the label of v1's prediction went to the wrong series")
		}
	})
	t.Run("champion and challenger both get the label", func(t *testing.T) {
		s := mustStore(t, o)
		s.Label("a", 1, at(h))                         // early
		s.Prediction("a", "champ", "1", 0.8, at(h+10)) // joins the pending label
		s.Prediction("a", "chall", "1", 0.6, at(h+10)) // inherits it
		s.Prediction("b", "champ", "1", 0.1, at(h+20))
		s.Prediction("b", "chall", "1", 0.3, at(h+20))
		if got := s.Label("b", 0, at(2*h)); got != Joined {
			t.Fatalf("label %v", got)
		}
		for _, m := range []string{"champ", "chall"} {
			if n := pairsOf(s, 2*h, m, "1"); n != 2 {
				t.Fatalf("%s has %d pairs, want 2", m, n)
			}
		}
	})
	t.Run("redelivered prediction is kept once", func(t *testing.T) {
		s := mustStore(t, o)
		s.Prediction("a", "m", "v1", 0.9, at(h))
		s.Prediction("a", "m", "v1", 0.9, at(h+1))
		s.Label("a", 1, at(2*h))
		if n := pairsOf(s, 2*h, "m", "v1"); n != 1 {
			t.Fatalf("%d pairs, want 1", n)
		}
		if c := s.Counts(); c.DuplicatePredictions != 1 || c.Kept != 1 {
			t.Fatalf("counts %+v", c)
		}
	})
	t.Run("expired and unknown", func(t *testing.T) {
		s := mustStore(t, o)
		s.Prediction("a", "m", "v1", 0.9, at(h))
		s.Prediction("z", "m", "v1", 0.9, at(26*h)) // moves the clock: a expires
		if got := s.Label("a", 1, at(26*h)); got != Expired {
			t.Fatalf("label of an expired prediction: %v", got)
		}
		if got := s.Label("never", 1, at(26*h)); got != Pending {
			t.Fatalf("label of an unknown event: %v", got)
		}
		s.Prediction("y", "m", "v1", 0.9, at(27*h))
		if c := s.Counts(); c.Labels[Expired] != 1 || c.Labels[Unknown] != 1 || c.Pending != 0 {
			t.Fatalf("counts %+v", c)
		}
		// forgotten after two more label windows: unknown (after pending)
		s.Prediction("x", "m", "v1", 0.9, at(80*h))
		if got := s.Label("a", 1, at(80*h)); got != Pending {
			t.Fatalf("label of a long-expired prediction: %v, want pending (then unknown)", got)
		}
	})
	t.Run("invalid label", func(t *testing.T) {
		s := mustStore(t, o)
		s.Prediction("a", "m", "v1", 0.9, at(h))
		if got := s.Label("a", 2, at(h)); got != Invalid {
			t.Fatalf("label 2: %v", got)
		}
		if got := s.Label("a", 1, at(h)); got != Joined {
			t.Fatalf("valid label after an invalid one: %v", got)
		}
	})
}

// TestBounds: MaxPredictions evicts the oldest prediction (its label is
// then Expired), MaxPending the oldest pending label (Unknown), MaxPairs
// the oldest pairs (the windows they were in are Truncated).
func TestBounds(t *testing.T) {
	s := mustStore(t, Options{LabelWindow: 24 * time.Hour, MaxPredictions: 3, MaxPending: 2, MaxPairs: 2})
	for i := 0; i < 4; i++ {
		s.Prediction(fmt.Sprint(i), "m", "v", 0.5, at(int64(i)))
	}
	if c := s.Counts(); c.Kept != 3 || c.EvictedPredictions != 1 {
		t.Fatalf("counts %+v: want 3 kept, 1 evicted", c)
	}
	if got := s.Label("0", 1, at(10)); got != Expired {
		t.Fatalf("label of the evicted prediction: %v", got)
	}
	s.Label("1", 1, at(1000))
	s.Label("2", 1, at(2000))
	s.Label("3", 1, at(7_200_000)) // two hours later: pair 1 is evicted
	snap := s.Snapshot(at(7_200_000))
	w := snap.Series[0].Windows
	if w[0].N != 1 || w[0].Truncated || w[1].N != 2 || !w[1].Truncated || !w[2].Truncated {
		t.Fatalf("windows %+v: want 1 pair in 1h, not truncated; 2 in 24h and 7d, truncated", w)
	}
	if snap.Counts.EvictedPairs != 1 {
		t.Fatalf("evicted pairs %d", snap.Counts.EvictedPairs)
	}
	s.Label("p1", 1, at(7_200_001))
	s.Label("p2", 1, at(7_200_002))
	s.Label("p3", 1, at(7_200_003))
	if c := s.Counts(); c.Pending != 2 || c.Labels[Unknown] != 1 {
		t.Fatalf("counts %+v: want 2 pending, 1 unknown", c)
	}
}

// TestRegistryKeepsDroppedCounts: a revoked lane's counters stay in the
// totals; its pairs leave the windows.
func TestRegistryKeepsDroppedCounts(t *testing.T) {
	reg, _ := NewRegistry(Options{LabelWindow: time.Hour})
	a, b := reg.NewStore(), reg.NewStore()
	a.Prediction("1", "m", "v", 0.5, at(0))
	a.Label("1", 1, at(1))
	b.Prediction("2", "m", "v", 0.5, at(0))
	reg.Drop(a)
	reg.Drop(a) // twice is harmless
	snap := reg.Snapshot(at(2))
	if snap.Counts.Labels[Joined] != 1 || snap.Counts.Predictions != 2 {
		t.Fatalf("counts %+v", snap.Counts)
	}
	if len(snap.Series) != 1 || snap.Series[0].Windows[0].N != 0 || snap.Series[0].Kept != 1 {
		t.Fatalf("series %+v", snap.Series)
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("no LabelWindow accepted")
	}
	if _, err := New(Options{LabelWindow: time.Hour, MaxPairs: -1}); err == nil {
		t.Fatal("negative MaxPairs accepted")
	}
}

// TestConcurrentSnapshot: a lane writes while scrapes take snapshots
// (run with -race).
func TestConcurrentSnapshot(t *testing.T) {
	reg, _ := NewRegistry(Options{LabelWindow: time.Hour})
	s := reg.NewStore()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ {
			id := fmt.Sprint(i)
			s.Prediction(id, "m", "v", float64(i%10)/10, at(int64(i)))
			s.Label(id, i%2, at(int64(i)))
		}
	}()
	for {
		select {
		case <-done:
			if n := reg.Snapshot(at(20000)).Series[0].Windows[0].N; n != 20000 {
				t.Fatalf("%d pairs, want 20000", n)
			}
			return
		default:
			reg.Snapshot(at(20000))
		}
	}
}

func TestOutcomeNames(t *testing.T) {
	var names []string
	for o := Joined; o <= JoinedPending; o++ {
		names = append(names, o.String())
	}
	if !slices.Equal(names, []string{"joined", "pending", "duplicate", "expired", "invalid", "unknown", "joined_pending"}) {
		t.Fatal(names)
	}
}

// TestWindowEdges: a window ending at now holds the pairs joined in
// (now − span, now]: one joined exactly a span ago has left it.
func TestWindowEdges(t *testing.T) {
	s := mustStore(t, Options{LabelWindow: 30 * 24 * time.Hour})
	h := int64(time.Hour / time.Millisecond)
	s.Prediction("a", "m", "v", 0.9, at(0))
	s.Prediction("b", "m", "v", 0.1, at(0))
	s.Label("a", 1, at(10*h))
	s.Label("b", 0, at(10*h+1))
	for _, c := range []struct {
		now  int64
		want []int // pairs in 1h, 24h, 7d
	}{
		{10*h - 1, []int{0, 0, 0}}, // before the labels
		{10 * h, []int{1, 1, 1}},
		{11 * h, []int{1, 2, 2}}, // a joined exactly 1h ago: out of 1h
		{11*h + 1, []int{0, 2, 2}},
		{34 * h, []int{0, 1, 2}},
		{10*h + 7*24*h, []int{0, 0, 1}},
		{10*h + 7*24*h + 1, []int{0, 0, 0}},
	} {
		snap := s.Snapshot(at(c.now))
		for w, want := range c.want {
			if got := snap.Series[0].Windows[w].N; got != want {
				t.Errorf("at %dms, window %s: %d pairs, want %d", c.now, snap.Series[0].Windows[w].Name, got, want)
			}
		}
	}
}

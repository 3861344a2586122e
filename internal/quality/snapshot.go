package quality

import (
	"cmp"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"time"
)

// Window is the quality of one model and version over one rolling window.
type Window struct {
	Name string        // "1h", "24h" or "7d"
	Span time.Duration // its length
	// Scores of the pairs joined in the window: labels that arrived (or
	// pending labels that joined their prediction) within the last Span.
	Scores
	// Predictions made in the window (by prediction time, to the window's
	// step: Span/60) and how many of them have a label by now; JoinRatio
	// is Labelled/Predictions (NaN without predictions).
	Predictions, Labelled uint64
	JoinRatio             float64
	// Truncated: MaxPairs dropped pairs joined in this window, so the
	// scores are over its most recent pairs only.
	Truncated bool
}

// Series is the quality of one model and version.
type Series struct {
	Model, Version string
	Kept           int      // predictions kept for their label now
	Windows        []Window // shortest first
}

// Snapshot is the quality of every model and version at a time.
type Snapshot struct {
	At     time.Time
	Counts Counts
	Series []Series // by model, then version
}

// collected is one store's share of a series.
type collected struct {
	kept      int
	pairs     []timedPair
	joins     [len(windows)][2]uint64
	truncated [len(windows)]bool
}

type timedPair struct {
	at int64
	Pair
}

// collect copies what s holds for a snapshot at now into into.
func (s *Store) collect(now int64, into map[seriesKey]*collected) Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, se := range s.series {
		k := seriesKey{se.model, se.version}
		c := into[k]
		if c == nil {
			c = &collected{}
			into[k] = c
		}
		c.kept += se.kept
		for i := 0; i < se.n; i++ {
			p := se.pairs[(se.head+i)%len(se.pairs)]
			if at := p.at(); at > now-longest && at <= now {
				c.pairs = append(c.pairs, timedPair{at, Pair{Score: p.score, Label: int(p.atLabel & 1)}})
			}
		}
		for w, win := range windows {
			se.joins[w].Sum(now, c.joins[w][:])
			if se.truncatedTo > now-win.span.Milliseconds() {
				c.truncated[w] = true
			}
		}
	}
	c := s.counts
	c.Pending = len(s.pending)
	c.Kept = int(s.end - s.first)
	return c
}

// Merge computes the snapshot at now of the predictions and labels of
// stores (the lanes of a process). Its cost is a sort of each series'
// pairs of the longest window, O(n log n) for n pairs, then O(n) per
// window; the stores are locked one at a time, only while their pairs are
// copied.
func Merge(now time.Time, stores ...*Store) Snapshot {
	t := now.UnixMilli()
	by := map[seriesKey]*collected{}
	snap := Snapshot{At: now}
	for _, s := range stores {
		c := s.collect(t, by)
		snap.Counts.add(&c)
	}
	keys := make([]seriesKey, 0, len(by))
	for k, c := range by {
		if c.kept == 0 && len(c.pairs) == 0 && c.joins[len(windows)-1][0] == 0 {
			continue // a version out of service whose data aged out
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b seriesKey) int {
		return cmp.Or(cmp.Compare(a.model, b.model), cmp.Compare(a.version, b.version))
	})
	for _, k := range keys {
		c := by[k]
		slices.SortFunc(c.pairs, func(a, b timedPair) int { return cmp.Compare(a.Score, b.Score) })
		se := Series{Model: k.model, Version: k.version, Kept: c.kept}
		for w, win := range windows {
			from := t - win.span.Milliseconds()
			var a accumulator
			for i := 0; i < len(c.pairs); {
				var pos, neg uint64
				j := i
				for ; j < len(c.pairs) && c.pairs[j].Score == c.pairs[i].Score; j++ {
					if c.pairs[j].at <= from {
						continue
					}
					if c.pairs[j].Label == 1 {
						pos++
					} else {
						neg++
					}
					a.addMeasures(c.pairs[j].Pair)
				}
				a.addTies(pos, neg)
				i = j
			}
			wd := Window{Name: win.name, Span: win.span, Scores: a.scores(),
				Predictions: c.joins[w][0], Labelled: c.joins[w][1], JoinRatio: math.NaN(), Truncated: c.truncated[w]}
			if wd.Predictions > 0 {
				wd.JoinRatio = float64(wd.Labelled) / float64(wd.Predictions)
			}
			se.Windows = append(se.Windows, wd)
		}
		snap.Series = append(snap.Series, se)
	}
	return snap
}

// Snapshot is Merge of s alone.
func (s *Store) Snapshot(now time.Time) Snapshot { return Merge(now, s) }

// Registry holds the stores of a process (one per lane) and keeps the
// counters of dropped stores, so that the totals it reports never go
// down when a lane is revoked. Safe for concurrent use.
type Registry struct {
	opts    Options
	seeds   [2]maphash.Seed // shared by its stores (Store.ID)
	mu      sync.Mutex
	stores  map[*Store]struct{}
	retired Counts
}

// NewRegistry checks o and returns an empty registry whose stores use it.
func NewRegistry(o Options) (*Registry, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	return &Registry{opts: o, seeds: newSeeds(), stores: map[*Store]struct{}{}}, nil
}

// NewStore returns a new store (a lane's, on assignment), registered for
// snapshots.
func (r *Registry) NewStore() *Store {
	s := newStore(r.opts, r.seeds) // the options were checked
	r.mu.Lock()
	r.stores[s] = struct{}{}
	r.mu.Unlock()
	return s
}

// Drop unregisters s (its lane was revoked): its cumulative counters are
// kept in the registry's totals; its predictions, pending labels and
// pairs are forgotten (the new owner of the lane rebuilds them).
func (r *Registry) Drop(s *Store) {
	c := s.Counts()
	c.Pending, c.Kept = 0, 0
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.stores[s]; !ok {
		return
	}
	delete(r.stores, s)
	r.retired.add(&c)
}

// Snapshot merges every registered store (see Merge); Counts include the
// dropped stores' counters.
func (r *Registry) Snapshot(now time.Time) Snapshot {
	r.mu.Lock()
	stores := make([]*Store, 0, len(r.stores))
	for s := range r.stores {
		stores = append(stores, s)
	}
	retired := r.retired
	r.mu.Unlock()
	snap := Merge(now, stores...)
	snap.Counts.add(&retired)
	return snap
}

package entity

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// TestEvictionNeverWrong: under a small MaxBytes every value is either
// exact or null with evicted reported and counted; the bound holds after
// every Observe (checked by State.check).
func TestEvictionNeverWrong(t *testing.T) {
	spec := NewSpec(testAggs())
	for _, c := range []struct {
		max       int64
		tombDrops bool // so small that tombstones must go too
	}{{2_500, true}, {8_000, false}, {20_000, false}} {
		r := rand.New(rand.NewPCG(uint64(c.max), 2))
		log := genLog(r, 800, 20, 0.1, 10*time.Second)
		st := NewState(spec, Options{MaxBytes: c.max})
		// late detection is exact while the entity's record is held; a
		// tombstone dropped takes its newest time along
		calls, nulled := replay(t, st, log, !c.tombDrops)
		s := st.Stats()
		t.Logf("MaxBytes %d: %d of %d calls answered missing, %d values null; %+v", c.max, calls, len(log), nulled, s)
		switch {
		case s.Evictions == 0 || calls == 0 || nulled == 0:
			t.Fatalf("MaxBytes %d: nothing evicted or answered missing: %+v", c.max, s)
		case calls == len(log):
			t.Fatalf("MaxBytes %d: every call answered missing", c.max)
		case s.MissingEvicted != int64(calls) || s.MissingExpired != 0:
			t.Fatalf("MaxBytes %d: %d calls answered missing, stats count %d evicted, %d expired", c.max, calls, s.MissingEvicted, s.MissingExpired)
		case c.tombDrops != (s.TombstonesDropped > 0):
			t.Fatalf("MaxBytes %d: %d tombstones dropped", c.max, s.TombstonesDropped)
		}
		// tombstones expire with the history they stand for
		last := slices.MaxFunc(log, func(x, y obs) int { return x.ev.Time.Compare(y.ev.Time) })
		st.Expire(last.ev.Time.Add(spec.Longest() + time.Millisecond))
		st.check(t)
		if s := st.Stats(); s.Entities != 0 || s.Tombstones != 0 || s.Events != 0 || s.Bytes != st.pinned {
			t.Fatalf("MaxBytes %d: after everything expired: %+v", c.max, s)
		}
	}
}

// TestEvictionUnreadKind: entities known only from a kind no aggregate
// reads hold no history; evicting them loses nothing but their late
// detection (a record is never reported late wrongly).
func TestEvictionUnreadKind(t *testing.T) {
	var aggs []scoring.Aggregate
	for _, a := range testAggs() {
		if a.Of == schemas.Transaction {
			aggs = append(aggs, a)
		}
	}
	spec := NewSpec(aggs)
	log := genLog(rand.New(rand.NewPCG(12, 12)), 800, 30, 0.1, 10*time.Second)
	st := NewState(spec, Options{MaxBytes: 6_000})
	calls, _ := replay(t, st, log, false)
	if s := st.Stats(); calls == 0 || s.Evictions == 0 {
		t.Fatalf("nothing evicted: %+v", s)
	}
}

// TestExpire: with Expire as the watermark advances, records within the
// slack are exact; records later than the slack are exact or get the
// windows that reach into expired history null (reported, counted); the
// state holds exactly the events at or after the cut.
func TestExpire(t *testing.T) {
	spec := NewSpec(testAggs())
	slack := 5 * time.Second
	r := rand.New(rand.NewPCG(11, 5))
	log := genLog(r, 900, 6, 0.2, 30*time.Second)
	st := NewState(spec, Options{Slack: slack})
	idx := allIdx(len(spec.Aggregates()))
	out := make([]schemas.Value, len(idx))
	watermark := int64(0)
	var seen []obs
	calls, late := 0, 0
	for i, o := range log {
		cut := st.cut
		evicted := st.Aggregate(o.ev, idx, out)
		if evicted {
			calls++
			if o.ms()-spec.Longest().Milliseconds() >= cut {
				t.Fatalf("record %d at %d: answered missing though its windows start at or after the cut %d", i, o.ms(), cut)
			}
		}
		checkValues(t, spec.Aggregates(), o.ev, seen, out, evicted)
		if st.Observe(o.ev, o.kind, o.pos) {
			late++
		}
		seen = append(seen, o)
		watermark = max(watermark, o.ms())
		if i%10 == 0 {
			st.Expire(time.UnixMilli(watermark))
			st.check(t)
			var held int64
			for _, x := range seen {
				if x.ms() >= st.cut {
					held++
				}
			}
			if s := st.Stats(); s.Events != held {
				t.Fatalf("after Expire(%d): %d events held, want %d", watermark, s.Events, held)
			}
		}
	}
	s := st.Stats()
	t.Logf("%d late, %d calls answered missing; %+v", late, calls, s)
	if calls == 0 || s.MissingExpired != int64(calls) || s.MissingEvicted != 0 || s.Late != int64(late) {
		t.Fatalf("%d calls answered missing, %d late: stats %+v", calls, late, s)
	}
}

// TestDropBefore: a rebuilt state that declares where its history starts
// answers a window reaching before it missing, not short.
func TestDropBefore(t *testing.T) {
	agg := scoring.Aggregate{Fn: "count", Of: schemas.Transaction, Over: time.Minute}
	st := NewState(NewSpec([]scoring.Aggregate{agg}), Options{})
	st.DropBefore(time.UnixMilli(100_000))
	st.Observe(&schemas.Event{Entity: "c", Time: time.UnixMilli(110_000)}, schemas.Transaction, Pos{})
	out := make([]schemas.Value, 1)
	for _, c := range []struct {
		ms      int64
		evicted bool
		count   float64
	}{{159_999, true, 0}, {160_000, false, 1}, {170_000, false, 1}, {170_001, false, 0}} {
		ev := &schemas.Event{Entity: "c", Time: time.UnixMilli(c.ms)}
		if got := st.Aggregate(ev, []int{0}, out); got != c.evicted || (!got && out[0].Num != c.count) {
			t.Errorf("at %d: evicted %v, value %s", c.ms, got, showValue(out[0]))
		}
		ev.Entity = "new" // no record: the same holds
		if got := st.Aggregate(ev, []int{0}, out); got != c.evicted {
			t.Errorf("unknown entity at %d: evicted %v", c.ms, got)
		}
	}
}

// TestForget: transactions abort at random; their records are forgotten,
// fetched again and observed anew. The values and late flags are those of
// a lane that saw each record once, and the state equals one built from
// the surviving records.
func TestForget(t *testing.T) {
	var aggs []scoring.Aggregate
	for _, a := range testAggs() {
		if a.Over == time.Hour {
			aggs = append(aggs, a)
		}
	}
	spec := NewSpec(aggs)
	idx := allIdx(len(aggs))
	out := make([]schemas.Value, len(idx))
	defer func(every uint64, n int) { markEvery, maxMarks = every, n }(markEvery, maxMarks)
	for seed := range uint64(3) {
		if seed == 2 { // marks so sparse and few that old ones are dropped
			markEvery, maxMarks = 3, 8
		}
		r := rand.New(rand.NewPCG(seed, 9))
		log := genLog(r, 2500, 40, 0.1, 5*time.Second)
		st := NewState(spec, Options{})
		var seen []obs
		aborts := 0
		for i := 0; i < len(log); {
			seg := log[i:min(len(log), i+1+r.IntN(300))]
			for _, o := range seg {
				evicted := st.Aggregate(o.ev, idx, out)
				checkValues(t, aggs, o.ev, seen, out, evicted)
				if late, want := st.Observe(o.ev, o.kind, o.pos), refLate(o.ev, seen); late != want {
					t.Fatalf("late %v, want %v", late, want)
				}
				seen = append(seen, o)
			}
			if aborts < 8 && r.IntN(3) == 0 {
				aborts++
				for s := range int32(3) {
					if k := slices.IndexFunc(seg, func(o obs) bool { return o.pos.Stream == s }); k >= 0 {
						st.Forget(s, seg[k].pos.Offset)
					}
				}
				seen = seen[:len(seen)-len(seg)]
				st.check(t)
				same(t, st, seen)
				continue // fetched again
			}
			i += len(seg)
		}
		if aborts == 0 {
			t.Fatal("no transaction aborted")
		}
		same(t, st, seen)
	}
	// a stream observed out of offset order: Forget falls back to a full scan
	st := NewState(spec, Options{})
	log := genLog(rand.New(rand.NewPCG(5, 5)), 600, 10, 0, 0)
	for _, o := range log {
		o.pos.Offset = int64(len(log)) - o.pos.Offset
		st.Observe(o.ev, o.kind, o.pos)
	}
	for s := range int32(3) {
		st.Forget(s, 0)
	}
	st.check(t)
	if s := st.Stats(); s.Events != 0 {
		t.Fatalf("forgot everything, %d events left", s.Events)
	}
}

// same checks that st equals a state that observed log.
func same(t *testing.T, st *State, log []obs) {
	t.Helper()
	ref := NewState(st.Spec(), Options{})
	for _, o := range log {
		ref.Observe(o.ev, o.kind, o.pos)
	}
	if a, b := st.Stats(), ref.Stats(); a.Events != b.Events || a.Strings != b.Strings {
		t.Fatalf("%d events, %d strings; want %d, %d", a.Events, a.Strings, b.Events, b.Strings)
	}
	idx := allIdx(len(st.Spec().Aggregates()))
	outA, outB := make([]schemas.Value, len(idx)), make([]schemas.Value, len(idx))
	for _, o := range log {
		probe := *o.ev
		probe.Time = probe.Time.Add(time.Millisecond)
		st.Aggregate(&probe, idx, outA)
		ref.Aggregate(&probe, idx, outB)
		for j := range idx {
			if !sameValue(outA[j], outB[j]) {
				t.Fatalf("%s: %s, want %s", st.Spec().Aggregates()[j].Key(), showValue(outA[j]), showValue(outB[j]))
			}
		}
	}
}

// TestConcurrentReaders: Aggregate from many goroutines at once, with the
// writer excluded by a RWMutex, gives the single-threaded answers (run
// with -race).
func TestConcurrentReaders(t *testing.T) {
	spec := NewSpec(testAggs())
	log := genLog(rand.New(rand.NewPCG(8, 8)), 400, 4, 0.1, time.Second)
	st := NewState(spec, Options{MaxBytes: 40_000})
	var mu sync.RWMutex
	idx := allIdx(len(spec.Aggregates()))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			out := make([]schemas.Value, len(idx))
			want := make([]schemas.Value, len(idx))
			for i := range 300 {
				o := log[(i*7+g)%len(log)]
				mu.RLock()
				st.Aggregate(o.ev, idx, out)
				st.Aggregate(o.ev, idx, want)
				_ = st.Stats()
				mu.RUnlock()
				for j := range out {
					if !sameValue(out[j], want[j]) {
						t.Errorf("two reads under one lock differ")
						return
					}
				}
			}
		})
	}
	for _, o := range log {
		mu.Lock()
		st.Observe(o.ev, o.kind, o.pos)
		mu.Unlock()
	}
	wg.Wait()
}

// TestNoAllocation: a warm Aggregate never allocates, count_distinct over
// many values included; a warm Observe of known entities and strings
// does not either.
func TestNoAllocation(t *testing.T) {
	spec := NewSpec(testAggs())
	st := NewState(spec, Options{Slack: time.Minute})
	log := genLog(rand.New(rand.NewPCG(9, 9)), 3000, 3, 0, 0)
	for _, o := range log {
		st.Observe(o.ev, o.kind, o.pos)
	}
	idx := allIdx(len(spec.Aggregates()))
	out := make([]schemas.Value, len(idx))
	probe := *log[len(log)-1].ev
	probe.Time = probe.Time.Add(time.Millisecond)
	if n := testing.AllocsPerRun(200, func() { st.Aggregate(&probe, idx, out) }); n != 0 {
		t.Fatalf("Aggregate: %v allocations per call", n)
	}
	// steady state: the same records again, shifted forward in time past
	// every window, with expiry: capacity and strings are reused
	shift := time.Duration(0)
	var last time.Time
	i := 0
	n := testing.AllocsPerRun(5000, func() {
		o := log[i%len(log)]
		if i%len(log) == 0 {
			shift += log[len(log)-1].ev.Time.Sub(log[0].ev.Time) + 2*spec.Longest()
		}
		ev := *o.ev
		ev.Time = ev.Time.Add(shift)
		st.Observe(&ev, o.kind, Pos{Stream: o.pos.Stream, Offset: int64(i) + 1<<20})
		if ev.Time.After(last) {
			last = ev.Time
		}
		if i%50 == 0 {
			st.Expire(last)
		}
		i++
	})
	if n > 0.01 {
		t.Fatalf("Observe: %v allocations per call", n)
	}
}

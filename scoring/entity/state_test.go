package entity

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// allIdx is 0 … n-1.
func allIdx(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// replay runs log through st as a lane does (aggregate, then observe) and
// checks every value of every event, and every late flag, against the
// reference (the late flags too when lateExact). It returns how many calls
// reported dropped history and how many values were null because of it.
func replay(t *testing.T, st *State, log []obs, lateExact bool) (evictedCalls, nulled int) {
	t.Helper()
	aggs := st.Spec().Aggregates()
	idx := allIdx(len(aggs))
	out := make([]schemas.Value, len(idx))
	var seen []obs
	for i, o := range log {
		evicted := st.Aggregate(o.ev, idx, out)
		if evicted {
			evictedCalls++
		}
		nulled += checkValues(t, aggs, o.ev, seen, out, evicted)
		wantLate := refLate(o.ev, seen)
		if late := st.Observe(o.ev, o.kind, o.pos); late != wantLate && (lateExact || late) {
			t.Fatalf("record %d (%s at %d): late %v, want %v", i, o.ev.Entity, o.ms(), late, wantLate)
		}
		seen = append(seen, o)
		if i%97 == 0 {
			st.check(t)
		}
	}
	st.check(t)
	return evictedCalls, nulled
}

func TestAggregatesMatchReference(t *testing.T) {
	aggs := testAggs()
	spec := NewSpec(aggs)
	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 1))
		log := genLog(r, 700, 6, 0.15, 10*time.Second)
		st := NewState(spec, Options{})
		evicted, _ := replay(t, st, log, true)
		if evicted != 0 {
			t.Fatalf("seed %d: %d calls reported dropped history with no bound and no expiry", seed, evicted)
		}
		s := st.Stats()
		if s.Events != int64(len(log)) || s.Late == 0 {
			t.Fatalf("seed %d: stats %+v: want %d events and some late", seed, s, len(log))
		}
	}
}

// TestObservationOrder: the same records observed in two orders give the
// same state, bit for bit: every aggregate probed afterwards is identical
// (and equal to the reference over the whole log).
func TestObservationOrder(t *testing.T) {
	aggs := testAggs()
	spec := NewSpec(aggs)
	idx := allIdx(len(aggs))
	r := rand.New(rand.NewPCG(7, 7))
	log := genLog(r, 600, 5, 0.1, time.Minute)
	shuffled := slices.Clone(log)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	a, b := NewState(spec, Options{}), NewState(spec, Options{})
	for i := range log {
		a.Observe(log[i].ev, log[i].kind, log[i].pos)
		b.Observe(shuffled[i].ev, shuffled[i].kind, shuffled[i].pos)
	}
	a.check(t)
	b.check(t)
	outA, outB := make([]schemas.Value, len(idx)), make([]schemas.Value, len(idx))
	for _, o := range log {
		for _, shift := range []time.Duration{0, time.Millisecond, 7 * time.Second} {
			probe := *o.ev
			probe.Time = o.ev.Time.Add(shift)
			a.Aggregate(&probe, idx, outA)
			b.Aggregate(&probe, idx, outB)
			for j := range idx {
				if !sameValue(outA[j], outB[j]) {
					t.Fatalf("%s: %s in one order, %s in another", aggs[j].Key(), showValue(outA[j]), showValue(outB[j]))
				}
			}
			checkValues(t, aggs, &probe, log, outA, false)
		}
	}
}

// TestLast pins down last when the latest matching event lacks the field:
// the value is missing (DESIGN.md: the field's value in the latest
// matching event), never an older event's.
func TestLast(t *testing.T) {
	agg := scoring.Aggregate{Fn: "last", Of: schemas.Transaction, Field: "country", Over: time.Hour,
		Where: []scoring.Condition{{Field: "channel", Values: []schemas.Value{schemas.StringValue("web")}}}}
	st := NewState(NewSpec([]scoring.Aggregate{agg}), Options{})
	at := func(ms int64, fields ...schemas.Field) *schemas.Event {
		return &schemas.Event{Entity: "c", Time: time.UnixMilli(ms), Fields: fields}
	}
	web := schemas.Field{Name: "channel", Value: schemas.StringValue("web")}
	pos := schemas.Field{Name: "channel", Value: schemas.StringValue("pos")}
	country := func(c string) schemas.Field { return schemas.Field{Name: "country", Value: schemas.StringValue(c)} }
	null := schemas.Field{Name: "country"}
	log := []*schemas.Event{
		at(1000, web, country("US")),
		at(2000, pos, country("FR")), // does not match where
		at(3000, web),                // matches, no country: missing from here
		at(4000, web, null),          // matches, null country: missing
		at(5000, web, country("DE")), // same millisecond as the probe: not included
		at(5000, web, schemas.Field{Name: "country", Value: schemas.NumberValue(7)}),
	}
	for i, ev := range log {
		st.Observe(ev, schemas.Transaction, Pos{Offset: int64(i)})
	}
	out := make([]schemas.Value, 1)
	for _, c := range []struct {
		ms   int64
		want schemas.Value
	}{
		{1000, schemas.Value{}},
		{1001, schemas.StringValue("US")},
		{2500, schemas.StringValue("US")},
		{3500, schemas.Value{}},        // 3000 lacks the field
		{5000, schemas.Value{}},        // 4000's is null
		{5001, schemas.NumberValue(7)}, // at 5000, the later Pos wins
		{1000 + 3600_000, schemas.NumberValue(7)},
		{5000 + 3600_000, schemas.NumberValue(7)}, // 5000 is at t-over: included
		{5001 + 3600_000, schemas.Value{}},
	} {
		st.Aggregate(at(c.ms), []int{0}, out)
		if !sameValue(out[0], c.want) {
			t.Errorf("last at %d: %s, want %s", c.ms, showValue(out[0]), showValue(c.want))
		}
	}
}

func TestEmptyWindows(t *testing.T) {
	tx := schemas.Transaction
	var aggs []scoring.Aggregate
	for _, fn := range []string{"count", "since_last"} {
		aggs = append(aggs, scoring.Aggregate{Fn: fn, Of: tx, Over: time.Second})
	}
	for _, fn := range []string{"sum", "mean", "min", "max", "count_distinct", "last"} {
		aggs = append(aggs, scoring.Aggregate{Fn: fn, Of: tx, Field: "amount", Over: time.Second})
	}
	want := []schemas.Value{schemas.NumberValue(0), {}, schemas.NumberValue(0), {}, {}, {}, schemas.NumberValue(0), {}}
	spec := NewSpec(aggs)
	st := NewState(spec, Options{})
	out := make([]schemas.Value, len(aggs))
	ev := &schemas.Event{Entity: "c", Time: time.UnixMilli(10_000)}
	check := func(what string) {
		t.Helper()
		if st.Aggregate(ev, allIdx(len(aggs)), out) {
			t.Fatalf("%s: evicted", what)
		}
		for j := range aggs {
			if !sameValue(out[j], want[j]) {
				t.Errorf("%s: %s = %s, want %s", what, aggs[j].Key(), showValue(out[j]), showValue(want[j]))
			}
		}
	}
	check("unknown entity")
	st.Observe(&schemas.Event{Entity: "c", Time: time.UnixMilli(8_000), Fields: []schemas.Field{{Name: "amount", Value: schemas.NumberValue(5)}}}, tx, Pos{})
	check("an event out of the window")
	st.Observe(&schemas.Event{Entity: "c", Time: time.UnixMilli(9_500)}, tx, Pos{Offset: 1})
	want[0], want[1] = schemas.NumberValue(1), schemas.NumberValue(0.5)
	check("an event without the field") // sum 0, mean/min/max/last missing, distinct 0
}

func TestDuplicateObservation(t *testing.T) {
	spec := NewSpec(testAggs())
	log := genLog(rand.New(rand.NewPCG(3, 3)), 200, 3, 0.1, time.Second)
	st := NewState(spec, Options{})
	for _, o := range log {
		st.Observe(o.ev, o.kind, o.pos)
	}
	before := st.Stats()
	for _, o := range log {
		if st.Observe(o.ev, o.kind, o.pos) {
			t.Fatalf("a record observed again is late")
		}
	}
	st.check(t)
	if after := st.Stats(); after != before {
		t.Fatalf("observing every record again changed the state: %+v, was %+v", after, before)
	}
}

// TestUnreadKind: a kind no aggregate reads stores nothing, but its
// observations still make a later-arriving earlier record late.
func TestUnreadKind(t *testing.T) {
	spec := NewSpec([]scoring.Aggregate{{Fn: "count", Of: schemas.Transaction, Over: time.Hour}})
	st := NewState(spec, Options{})
	act := &schemas.Event{Entity: "c", Time: time.UnixMilli(5000), Fields: []schemas.Field{{Name: "device", Value: schemas.StringValue("d")}}}
	if st.Observe(act, schemas.Activity, Pos{Stream: 1}) {
		t.Fatal("first record late")
	}
	if s := st.Stats(); s.Events != 0 || s.Strings != 0 || s.Entities != 1 {
		t.Fatalf("an activity record with no activity aggregate: %+v", s)
	}
	tx := &schemas.Event{Entity: "c", Time: time.UnixMilli(4000)}
	if !st.Observe(tx, schemas.Transaction, Pos{}) {
		t.Fatal("a transaction older than an observed activity is not late")
	}
	st.check(t)
	// an aborted transaction of the transactions' stream keeps the activity
	st.Forget(0, 0)
	if !st.Observe(tx, schemas.Transaction, Pos{}) {
		t.Fatal("after forgetting the transaction, observing it again is not late")
	}
	// forgetting the activity forgets its time too
	st.Forget(0, 0)
	st.Forget(1, 0)
	if st.Observe(tx, schemas.Transaction, Pos{}) {
		t.Fatal("late against a forgotten record")
	}
	if st.Observe(act, schemas.Activity, Pos{Stream: 1}) {
		t.Fatal("the activity observed again, newer than everything held, is late")
	}
	st.check(t)
	st.Expire(time.UnixMilli(5000 + 3600_000 + 1))
	if s := st.Stats(); s.Entities != 0 || s.Events != 0 {
		t.Fatalf("after expiry: %+v", s)
	}
	st.check(t)
}

func TestReset(t *testing.T) {
	spec := NewSpec(testAggs())
	log := genLog(rand.New(rand.NewPCG(4, 4)), 300, 4, 0.1, time.Second)
	st := NewState(spec, Options{MaxBytes: 20_000})
	fresh := NewState(spec, Options{MaxBytes: 20_000}).Stats()
	for _, o := range log {
		st.Observe(o.ev, o.kind, o.pos)
	}
	st.Aggregate(log[len(log)-1].ev, allIdx(len(spec.Aggregates())), make([]schemas.Value, len(spec.Aggregates())))
	if st.Stats() == fresh {
		t.Fatal("the log left no trace")
	}
	st.Reset()
	st.check(t)
	if s := st.Stats(); s != fresh {
		t.Fatalf("after Reset %+v, new %+v", s, fresh)
	}
	replay(t, NewState(spec, Options{}), log, true) // and it works again
	st.Reset()
	st.opt.MaxBytes = 0
	replay(t, st, log, true)
}

package entity

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// obs is one record of a test log: its event (owning its strings), kind
// and position.
type obs struct {
	ev   *schemas.Event
	kind schemas.EventType
	pos  Pos
}

func (o obs) ms() int64 { return o.ev.Time.UnixMilli() }

// refValue evaluates aggregate a for ev straight from DESIGN.md's
// definition over the records observed so far (log, in observation order),
// with the package's documented choices: a non-finite number or a
// non-scalar is absent; numeric functions read numbers and booleans (0/1);
// count_distinct tells kinds apart and -0 from nothing; last and
// since_last take the latest matching event in canonical order (time,
// stream, offset), last the latest one that has the field. Sums run in
// canonical order; naive is the sum in observation order instead.
func refValue(a scoring.Aggregate, ev *schemas.Event, log []obs) (v schemas.Value, naive float64) {
	t := ev.Time.UnixMilli()
	start := t - a.Over.Milliseconds()
	var xs []obs
	for _, x := range log {
		if x.ev.Entity != ev.Entity || x.kind != a.Of || x.ms() < start || x.ms() >= t {
			continue
		}
		ok := true
		for _, c := range a.Where {
			ok = ok && c.Matches(x.ev)
		}
		if ok {
			xs = append(xs, x)
		}
	}
	field := func(x obs) (schemas.Value, bool) {
		v, ok := x.ev.Field(a.Field)
		switch {
		case !ok:
			return v, false
		case v.Kind == schemas.Number:
			return v, !math.IsNaN(v.Num) && !math.IsInf(v.Num, 0)
		case v.Kind == schemas.String, v.Kind == schemas.Bool:
			return v, true
		}
		return v, false
	}
	num := func(x obs) (float64, bool) {
		v, ok := field(x)
		if !ok || v.Kind == schemas.String {
			return 0, false
		}
		return v.Num, true
	}
	for _, x := range xs { // naive: observation order
		if f, ok := num(x); ok {
			naive += f
		}
	}
	slices.SortFunc(xs, func(x, y obs) int {
		return cmp.Or(cmp.Compare(x.ms(), y.ms()), cmp.Compare(x.pos.Stream, y.pos.Stream), cmp.Compare(x.pos.Offset, y.pos.Offset))
	})
	switch a.Fn {
	case scoring.AggCount:
		return schemas.NumberValue(float64(len(xs))), naive
	case scoring.AggSum, scoring.AggMean, scoring.AggMin, scoring.AggMax:
		var sum, m float64
		n := 0
		for _, x := range xs {
			f, ok := num(x)
			if !ok {
				continue
			}
			switch {
			case n == 0:
				m = f
			case a.Fn == scoring.AggMin:
				m = math.Min(m, f)
			case a.Fn == scoring.AggMax:
				m = math.Max(m, f)
			}
			sum += f
			n++
		}
		switch {
		case a.Fn == scoring.AggSum:
			return schemas.NumberValue(sum), naive
		case n == 0:
			return schemas.Value{}, naive
		case a.Fn == scoring.AggMean:
			return schemas.NumberValue(sum / float64(n)), naive
		}
		return schemas.NumberValue(m), naive
	case scoring.AggCountDistinct:
		type key struct {
			k schemas.Kind
			n float64
			s string
		}
		seen := map[key]bool{}
		for _, x := range xs {
			if v, ok := field(x); ok {
				seen[key{v.Kind, v.Num + 0, v.Str}] = true // + 0 makes -0 0
			}
		}
		return schemas.NumberValue(float64(len(seen))), naive
	case scoring.AggLast:
		if len(xs) > 0 {
			if v, ok := field(xs[len(xs)-1]); ok {
				return v, naive
			}
		}
		return schemas.Value{}, naive
	case scoring.AggSinceLast:
		if len(xs) == 0 {
			return schemas.Value{}, naive
		}
		return schemas.NumberValue(float64(t-xs[len(xs)-1].ms()) / 1000), naive
	}
	panic("fn " + a.Fn)
}

// refLate: an event of ev's entity with a later time is in log.
func refLate(ev *schemas.Event, log []obs) bool {
	for _, x := range log {
		if x.ev.Entity == ev.Entity && x.ev.Time.After(ev.Time) {
			return true
		}
	}
	return false
}

// sameValue: equal kinds and bit-identical contents.
func sameValue(x, y schemas.Value) bool {
	return x.Kind == y.Kind && math.Float64bits(x.Num) == math.Float64bits(y.Num) && x.Str == y.Str
}

func showValue(v schemas.Value) string {
	switch v.Kind {
	case schemas.Null:
		return "null"
	case schemas.String:
		return strconv.Quote(v.Str)
	case schemas.Bool:
		return fmt.Sprint(v.Num != 0)
	}
	return strconv.FormatFloat(v.Num, 'g', -1, 64)
}

// testAggs covers every fn on both kinds, with and without where (string,
// number and boolean values, lists), on windows from 10ms to 1h.
func testAggs() []scoring.Aggregate {
	tx, act := schemas.Transaction, schemas.Activity
	str := func(s ...string) []schemas.Value {
		var v []schemas.Value
		for _, x := range s {
			v = append(v, schemas.StringValue(x))
		}
		return v
	}
	web := []scoring.Condition{{Field: "channel", Values: str("web", "app")}}
	cp := []scoring.Condition{{Field: "card_present", Values: []schemas.Value{schemas.BoolValue(true)}}}
	round := []scoring.Condition{{Field: "amount", Values: []schemas.Value{schemas.NumberValue(10), schemas.NumberValue(20)}}}
	usWeb := []scoring.Condition{{Field: "channel", Values: str("web")}, {Field: "country", Values: str("US", "FR")}}
	login := []scoring.Condition{{Field: "activity_type", Values: str("login")}}
	failed := []scoring.Condition{{Field: "activity_type", Values: str("login_failed", "mfa_failed")}}
	var aggs []scoring.Aggregate
	for _, over := range []time.Duration{10 * time.Millisecond, time.Second, 30 * time.Second, time.Hour} {
		for _, where := range [][]scoring.Condition{nil, web, cp, round, usWeb} {
			for _, fn := range []string{"count", "since_last"} {
				aggs = append(aggs, scoring.Aggregate{Fn: fn, Of: tx, Over: over, Where: where})
			}
			for _, fn := range []string{"sum", "mean", "min", "max", "count_distinct", "last"} {
				aggs = append(aggs, scoring.Aggregate{Fn: fn, Of: tx, Field: "amount", Over: over, Where: where})
			}
			for _, f := range []string{"country", "merchant", "card_present"} {
				aggs = append(aggs, scoring.Aggregate{Fn: "count_distinct", Of: tx, Field: f, Over: over, Where: where})
				aggs = append(aggs, scoring.Aggregate{Fn: "last", Of: tx, Field: f, Over: over, Where: where})
			}
		}
		for _, where := range [][]scoring.Condition{nil, login, failed} {
			aggs = append(aggs,
				scoring.Aggregate{Fn: "count", Of: act, Over: over, Where: where},
				scoring.Aggregate{Fn: "since_last", Of: act, Over: over, Where: where},
				scoring.Aggregate{Fn: "last", Of: act, Field: "device", Over: over, Where: where},
				scoring.Aggregate{Fn: "count_distinct", Of: act, Field: "risk", Over: over, Where: where},
				scoring.Aggregate{Fn: "min", Of: act, Field: "risk", Over: over, Where: where},
				scoring.Aggregate{Fn: "max", Of: act, Field: "risk", Over: over, Where: where},
				scoring.Aggregate{Fn: "sum", Of: act, Field: "risk", Over: over, Where: where},
				scoring.Aggregate{Fn: "last", Of: act, Field: "risk", Over: over, Where: where},
			)
		}
	}
	return aggs
}

// genLog makes n records of nEnt entities, both kinds, in observation
// order: event times with ties at the same millisecond, gaps of exactly a
// window and longer than every window; fields absent, null, of the wrong
// type, non-finite; and a fraction late (observed after later events of
// their entity) by up to maxDelay. Offsets follow observation order per
// stream (streams 0 and 2: transactions, 1: activity), as in a partition.
func genLog(r *rand.Rand, n, nEnt int, lateFrac float64, maxDelay time.Duration) []obs {
	type gen struct {
		o       obs
		arrival int64
		seq     int
	}
	clock := int64(1_700_000_000_000) // event time advances globally, entities interleave
	lastT := make([]int64, nEnt)
	for i := range lastT {
		lastT[i] = clock
	}
	prev := 0
	pick := func(vals ...schemas.Value) schemas.Value { return vals[r.IntN(len(vals))] }
	absent := schemas.Value{Kind: schemas.Other} // marker: leave the field out
	gens := make([]gen, n)
	for i := range gens {
		k := r.IntN(nEnt)
		var ms int64
		switch p := r.Float64(); {
		case p < 0.25: // the previous entity at the same millisecond
			k, ms = prev, lastT[prev]
		case p < 0.33: // exactly a window after the entity's previous event
			ms = lastT[k] + []int64{10, 1000, 30_000, 3_600_000}[r.IntN(4)]
		default:
			switch q := r.Float64(); {
			case q < 0.6:
				clock += int64(r.IntN(50))
			case q < 0.95:
				clock += int64(r.IntN(5_000))
			case q < 0.99:
				clock += int64(r.IntN(600_000))
			default: // past every window
				clock += int64(2*3_600_000 + r.IntN(3_600_000))
			}
			ms = max(clock, lastT[k])
		}
		clock = max(clock, ms)
		lastT[k], prev = ms, k
		ev := &schemas.Event{ID: fmt.Sprint("e", i), Entity: fmt.Sprint("c", k), Time: time.UnixMilli(ms).UTC()}
		add := func(name string, v schemas.Value) {
			if v.Kind != schemas.Other {
				ev.Fields = append(ev.Fields, schemas.Field{Name: name, Value: v})
			}
		}
		kind := schemas.Transaction
		if r.IntN(3) == 0 {
			kind = schemas.Activity
		}
		ev.Type = kind
		if kind == schemas.Transaction {
			amount := schemas.NumberValue(float64(r.IntN(100_000)) / 100)
			switch p := r.Float64(); {
			case p < 0.1:
				amount = pick(schemas.NumberValue(10), schemas.NumberValue(20), schemas.NumberValue(0), schemas.NumberValue(math.Copysign(0, -1)))
			case p < 0.2:
				amount = absent
			case p < 0.25:
				amount = schemas.Value{} // null
			case p < 0.28:
				amount = schemas.StringValue("12.5")
			case p < 0.3:
				amount = pick(schemas.NumberValue(math.NaN()), schemas.NumberValue(math.Inf(1)))
			case p < 0.32:
				amount = schemas.BoolValue(true)
			case p < 0.34:
				amount = schemas.NumberValue(float64(r.IntN(1000)) * 1e6 / 7)
			}
			add("amount", amount)
			add("country", pick(schemas.StringValue("US"), schemas.StringValue("FR"), schemas.StringValue("DE"), absent, schemas.Value{}, schemas.NumberValue(1)))
			add("merchant", schemas.StringValue(fmt.Sprint("m", r.IntN(60))))
			add("card_present", pick(schemas.BoolValue(true), schemas.BoolValue(false), absent, schemas.StringValue("true")))
			add("channel", pick(schemas.StringValue("web"), schemas.StringValue("app"), schemas.StringValue("pos"), absent))
		} else {
			add("activity_type", pick(schemas.StringValue("login"), schemas.StringValue("login_failed"), schemas.StringValue("mfa_failed"), schemas.StringValue("logout"), absent))
			add("device", pick(schemas.StringValue("d0"), schemas.StringValue("d1"), schemas.StringValue("d2"), absent, schemas.Value{}))
			add("risk", pick(schemas.NumberValue(1), schemas.NumberValue(0.5), schemas.BoolValue(true), schemas.BoolValue(false), schemas.NumberValue(0), absent, schemas.Value{Kind: schemas.Other, Str: "{}"}))
		}
		arrival := ms
		if r.Float64() < lateFrac {
			arrival += int64(r.Int64N(int64(maxDelay/time.Millisecond) + 1))
		}
		gens[i] = gen{o: obs{ev: ev, kind: kind}, arrival: arrival, seq: i}
	}
	slices.SortStableFunc(gens, func(x, y gen) int { return cmp.Compare(x.arrival, y.arrival) })
	var off [3]int64
	log := make([]obs, n)
	for i, g := range gens {
		s := int32(2 * (g.seq % 2)) // two transaction topics, 0 and 2
		if g.o.kind == schemas.Activity {
			s = 1
		}
		g.o.pos = Pos{Stream: s, Offset: off[s]}
		off[s]++
		log[i] = g.o
	}
	return log
}

// checkValues compares the state's answer for ev with the reference:
// exact (floats bit for bit, sums in canonical order), or, when the state
// says its history was dropped, every value either exact or null.
func checkValues(t *testing.T, aggs []scoring.Aggregate, ev *schemas.Event, log []obs, got []schemas.Value, evicted bool) (nulled int) {
	t.Helper()
	var mine []obs // the entity's records (refValue filters again; this is only faster)
	for _, x := range log {
		if x.ev.Entity == ev.Entity {
			mine = append(mine, x)
		}
	}
	log = mine
	for j, a := range aggs {
		want, _ := refValue(a, ev, log)
		if sameValue(got[j], want) {
			continue
		}
		if evicted && got[j].Kind == schemas.Null {
			nulled++
			continue
		}
		t.Fatalf("%s at %d (%s): %s: got %s, want %s (evicted %v)", ev.Entity, ev.Time.UnixMilli(), ev.ID, a.Key(), showValue(got[j]), showValue(want), evicted)
	}
	// the sums agree with a sum in observation order too
	for j, a := range aggs {
		if a.Fn != scoring.AggSum || got[j].Kind != schemas.Number {
			continue
		}
		if _, naive := refValue(a, ev, log); math.Abs(got[j].Num-naive) > 1e-9*math.Max(1, math.Abs(naive)) {
			t.Fatalf("%s: sum %v, in observation order %v", a.Key(), got[j].Num, naive)
		}
	}
	return nulled
}

package entity

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

func TestSpec(t *testing.T) {
	tx, act := schemas.Transaction, schemas.Activity
	login := []scoring.Condition{{Field: "activity_type", Values: []schemas.Value{schemas.StringValue("login")}}}
	count1h := scoring.Aggregate{Fn: "count", Of: tx, Over: time.Hour}
	sum24h := scoring.Aggregate{Fn: "sum", Of: tx, Field: "amount", Over: 24 * time.Hour}
	logins := scoring.Aggregate{Fn: "since_last", Of: act, Over: 720 * time.Hour, Where: login}
	countries := scoring.Aggregate{Fn: "count_distinct", Of: tx, Field: "country", Over: 168 * time.Hour,
		Where: []scoring.Condition{{Field: "channel", Values: []schemas.Value{schemas.StringValue("web")}}}}
	s := NewSpec([]scoring.Aggregate{count1h, sum24h, count1h, logins, sum24h, countries})
	if got := s.Aggregates(); len(got) != 4 || got[0].Key() != count1h.Key() || got[3].Key() != countries.Key() {
		t.Fatalf("aggregates %v", s)
	}
	for i, a := range []scoring.Aggregate{count1h, sum24h, logins, countries} {
		if s.Index(a) != i {
			t.Errorf("Index(%s) = %d, want %d", a.Key(), s.Index(a), i)
		}
	}
	if s.Index(scoring.Aggregate{Fn: "count", Of: tx, Over: 2 * time.Hour}) != -1 {
		t.Error("an aggregate not served has an index")
	}
	if s.Longest() != 720*time.Hour {
		t.Errorf("Longest %v", s.Longest())
	}
	if k := s.Kinds(); !slices.Equal(k, []schemas.EventType{act, tx}) {
		t.Errorf("Kinds %v", k)
	}
	if f := s.Fields(tx); !slices.Equal(f, []string{"amount", "channel", "country"}) {
		t.Errorf("Fields(transaction) %v", f)
	}
	if f := s.Fields(act); !slices.Equal(f, []string{"activity_type"}) {
		t.Errorf("Fields(activity) %v", f)
	}
	if f := s.Fields("other"); f != nil {
		t.Errorf("Fields(other) %v", f)
	}
	for _, c := range []struct {
		o    []scoring.Aggregate
		want bool
	}{
		{nil, true},
		{[]scoring.Aggregate{count1h}, true},
		{[]scoring.Aggregate{countries, logins, count1h, sum24h}, true},
		{[]scoring.Aggregate{count1h, {Fn: "count", Of: tx, Over: 2 * time.Hour}}, false},   // more history
		{[]scoring.Aggregate{{Fn: "sum", Of: tx, Field: "amount", Over: time.Hour}}, false}, // same field, a window not served
		{[]scoring.Aggregate{{Fn: "count", Of: act, Over: time.Hour, Where: login}}, false},
	} {
		if got := s.Covers(NewSpec(c.o)); got != c.want {
			t.Errorf("Covers(%v) = %v, want %v", NewSpec(c.o), got, c.want)
		}
	}
	if !s.Covers(nil) || NewSpec(nil).Covers(s) || NewSpec(nil).Longest() != 0 {
		t.Error("empty specs")
	}
	if !strings.Contains(s.String(), "since_last(activity. over 720h0m0s where activity_type in [\"login\"])") {
		t.Errorf("String: %s", s)
	}
}

func TestNewSpecPanicsOnInvalid(t *testing.T) {
	for _, a := range []scoring.Aggregate{
		{Fn: "median", Of: schemas.Transaction, Field: "amount", Over: time.Hour},
		{Fn: "count", Over: time.Hour},
		{Fn: "count", Of: schemas.Transaction, Over: time.Microsecond},
		{Fn: "sum", Of: schemas.Transaction, Over: time.Hour},
		{Fn: "count", Of: schemas.Transaction, Field: "amount", Over: time.Hour},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), a.Key()) {
					t.Errorf("NewSpec(%s): recovered %v, want a panic naming it", a.Key(), r)
				}
			}()
			NewSpec([]scoring.Aggregate{a})
		}()
	}
}

func TestCheck(t *testing.T) {
	tx := schemas.Transaction
	s := NewSpec([]scoring.Aggregate{
		{Fn: "sum", Of: tx, Field: "amount", Over: time.Hour},
		{Fn: "count_distinct", Of: tx, Field: "country", Over: time.Hour},
		{Fn: "count", Of: tx, Over: time.Hour, Where: []scoring.Condition{{Field: "channel", Values: []schemas.Value{schemas.StringValue("web")}}}},
	})
	for _, c := range []struct {
		name  string
		field schemas.Field
		kind  schemas.EventType
		bad   string // in the error; "" for no error
	}{
		{"number", schemas.Field{Name: "amount", Value: schemas.NumberValue(3)}, tx, ""},
		{"boolean", schemas.Field{Name: "amount", Value: schemas.BoolValue(true)}, tx, ""},
		{"null", schemas.Field{Name: "amount"}, tx, ""},
		{"string amount", schemas.Field{Name: "amount", Value: schemas.StringValue("12.5")}, tx, `field "amount" of the transaction: it holds a string ("12.5"), want a number`},
		{"NaN", schemas.Field{Name: "amount", Value: schemas.NumberValue(math.NaN())}, tx, "non-finite number NaN"},
		{"infinite country", schemas.Field{Name: "country", Value: schemas.NumberValue(math.Inf(1))}, tx, "non-finite number +Inf"},
		{"object country", schemas.Field{Name: "country", Value: schemas.Value{Kind: schemas.Other}}, tx, "an object"},
		{"number country", schemas.Field{Name: "country", Value: schemas.NumberValue(1)}, tx, ""},
		{"where field of any type", schemas.Field{Name: "channel", Value: schemas.Value{Kind: schemas.Other}}, tx, ""},
		{"another kind", schemas.Field{Name: "amount", Value: schemas.StringValue("x")}, schemas.Activity, ""},
	} {
		err := s.Check(&schemas.Event{Fields: []schemas.Field{c.field}}, c.kind)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad) || !errors.Is(err, scoring.ErrFeature)):
			t.Errorf("%s: error %v, want one wrapping ErrFeature containing %q", c.name, err, c.bad)
		}
	}
}

// TestManyDistinct: count_distinct past the stack buffer (the hash set),
// against the reference, on dense windows of one entity.
func TestManyDistinct(t *testing.T) {
	tx := schemas.Transaction
	web := []scoring.Condition{{Field: "channel", Values: []schemas.Value{schemas.StringValue("web")}}}
	var aggs []scoring.Aggregate
	for _, over := range []time.Duration{30 * time.Second, time.Hour} {
		for _, where := range [][]scoring.Condition{nil, web} {
			for _, f := range []string{"merchant", "amount"} {
				aggs = append(aggs, scoring.Aggregate{Fn: "count_distinct", Of: tx, Field: f, Over: over, Where: where})
			}
		}
	}
	r := rand.New(rand.NewPCG(2, 2))
	var log []obs
	ms := int64(1_700_000_000_000)
	for i := range 800 {
		ms += int64(r.IntN(2000))
		fields := []schemas.Field{
			{Name: "merchant", Value: schemas.StringValue(fmt.Sprint("m", r.IntN(300)))},
			{Name: "amount", Value: schemas.NumberValue(float64(r.IntN(200)) - 100)},
			{Name: "channel", Value: schemas.StringValue([]string{"web", "pos"}[r.IntN(2)])},
		}
		if r.IntN(10) == 0 {
			fields[1].Value = schemas.NumberValue(math.Copysign(0, -1))
		}
		log = append(log, obs{ev: &schemas.Event{Entity: "c", Time: time.UnixMilli(ms), Fields: fields}, kind: tx, pos: Pos{Offset: int64(i)}})
	}
	st := NewState(NewSpec(aggs), Options{})
	replay(t, st, log, true)
	out := make([]schemas.Value, len(aggs))
	probe := *log[len(log)-1].ev
	probe.Time = probe.Time.Add(time.Millisecond)
	st.Aggregate(&probe, allIdx(len(aggs)), out)
	if out[len(out)-3].Num < 100 {
		t.Fatalf("only %v distinct merchants in the last hour: the hash set is not exercised", out[len(out)-3].Num)
	}
}

// TestManyFields: a kind with more fields than one kind word holds (16)
// stores their kinds in extra columns.
func TestManyFields(t *testing.T) {
	tx := schemas.Transaction
	var aggs []scoring.Aggregate
	const nf = 50
	for j := range nf {
		f := fmt.Sprintf("f%02d", j)
		aggs = append(aggs, scoring.Aggregate{Fn: "last", Of: tx, Field: f, Over: time.Minute})
		if j%7 == 0 {
			aggs = append(aggs, scoring.Aggregate{Fn: "count", Of: tx, Over: time.Minute,
				Where: []scoring.Condition{{Field: f, Values: []schemas.Value{schemas.BoolValue(true), schemas.NumberValue(2)}}}})
		}
	}
	spec := NewSpec(aggs)
	if l := newLayout(len(spec.Fields(tx))); l.stride != wValues+nf+2 {
		t.Fatalf("layout of %d fields: %d columns", nf, l.stride)
	}
	r := rand.New(rand.NewPCG(6, 6))
	var log []obs
	ms := int64(1_700_000_000_000)
	for i := range 300 {
		ms += int64(r.IntN(3000))
		ev := &schemas.Event{Entity: fmt.Sprint("c", r.IntN(3)), Time: time.UnixMilli(ms)}
		for j := range nf {
			var v schemas.Value
			switch r.IntN(5) {
			case 0:
				continue
			case 1:
				v = schemas.NumberValue(float64(r.IntN(3)))
			case 2:
				v = schemas.BoolValue(r.IntN(2) == 0)
			case 3:
				v = schemas.StringValue(fmt.Sprint("s", r.IntN(3)))
			}
			ev.Fields = append(ev.Fields, schemas.Field{Name: fmt.Sprintf("f%02d", j), Value: v})
		}
		log = append(log, obs{ev: ev, kind: tx, pos: Pos{Offset: int64(i)}})
	}
	replay(t, NewState(spec, Options{}), log, true)
}

// TestByteAccounting: the accounted bytes are within 10% of the heap the
// state takes, for entities holding 1, 10 and 100 events.
func TestByteAccounting(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes heap sizes; the accounting is measured without it")
	}
	spec := NewSpec(designAggs(t))
	for _, per := range []int{1, 10, 100} {
		acc, heap, n := measureBytes(t, spec, 50_000/per, per)
		t.Logf("%d per entity: accounted %.1f bytes/event, heap %.1f", per, float64(acc)/float64(n), float64(heap)/float64(n))
		if r := float64(acc) / float64(heap); r < 0.9 || r > 1.1 {
			t.Errorf("%d events per entity: accounted %d bytes, the heap grew %d (ratio %.2f)", per, acc, heap, r)
		}
	}
}

package entity

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// fn is a compiled aggregate function.
type fn uint8

const (
	fnCount fn = iota
	fnSum
	fnMean
	fnMin
	fnMax
	fnDistinct
	fnLast
	fnSinceLast
)

var fnCodes = map[string]fn{
	scoring.AggCount:         fnCount,
	scoring.AggSum:           fnSum,
	scoring.AggMean:          fnMean,
	scoring.AggMin:           fnMin,
	scoring.AggMax:           fnMax,
	scoring.AggCountDistinct: fnDistinct,
	scoring.AggLast:          fnLast,
	scoring.AggSinceLast:     fnSinceLast,
}

// numeric reports whether f reads its field as a number.
func (f fn) numeric() bool { return f == fnSum || f == fnMean || f == fnMin || f == fnMax }

// compiled is an aggregate resolved against the spec's storage layout.
type compiled struct {
	fn    fn
	kind  int   // index into Spec.kinds
	col   int   // the field's column in the kind's stored row; -1 for count and since_last
	over  int64 // the window in milliseconds
	where []whereCol
}

// whereCol is a condition on a stored column.
type whereCol struct {
	col  int
	vals []schemas.Value
}

// Spec is the set of aggregates a lane's state serves (the union of every
// route's plan), deduplicated by [scoring.Aggregate.Key], and the storage
// layout that follows from it: which kinds of event are kept and which of
// their fields. A Spec is immutable and safe for concurrent use; several
// States may share one.
type Spec struct {
	aggs    []scoring.Aggregate
	keys    map[string]int
	comp    []compiled
	longest time.Duration
	kinds   []schemas.EventType // sorted
	fields  [][]string          // per kind, sorted
}

// NewSpec builds the spec serving aggs, in their order with later
// duplicates (equal Key) dropped. The aggregates must be valid, as
// scoring's features-file compiler makes them (a known fn, a kind, a
// positive window, a field where fn needs one): NewSpec panics naming the
// aggregate otherwise, since that is a programming error, not bad input.
func NewSpec(aggs []scoring.Aggregate) *Spec {
	s := &Spec{keys: map[string]int{}}
	fieldSets := map[schemas.EventType]map[string]bool{}
	for _, a := range aggs {
		k := a.Key()
		if _, dup := s.keys[k]; dup {
			continue
		}
		f, ok := fnCodes[a.Fn]
		switch {
		case !ok:
			panic(fmt.Sprintf("entity: aggregate %s: unknown fn %q", k, a.Fn))
		case a.Of == "":
			panic(fmt.Sprintf("entity: aggregate %s: no kind (of)", k))
		case a.Over < time.Millisecond:
			panic(fmt.Sprintf("entity: aggregate %s: window %v is shorter than the event-time resolution (1ms)", k, a.Over))
		case (f == fnCount || f == fnSinceLast) != (a.Field == ""):
			panic(fmt.Sprintf("entity: aggregate %s: fn %s with field %q", k, a.Fn, a.Field))
		}
		s.keys[k] = len(s.aggs)
		s.aggs = append(s.aggs, a)
		s.longest = max(s.longest, a.Over)
		set := fieldSets[a.Of]
		if set == nil {
			set = map[string]bool{}
			fieldSets[a.Of] = set
		}
		if a.Field != "" {
			set[a.Field] = true
		}
		for _, c := range a.Where {
			set[c.Field] = true
		}
	}
	for k := range fieldSets {
		s.kinds = append(s.kinds, k)
	}
	slices.Sort(s.kinds)
	s.fields = make([][]string, len(s.kinds))
	for i, k := range s.kinds {
		for f := range fieldSets[k] {
			s.fields[i] = append(s.fields[i], f)
		}
		slices.Sort(s.fields[i])
	}
	for _, a := range s.aggs {
		ki := slices.Index(s.kinds, a.Of)
		c := compiled{fn: fnCodes[a.Fn], kind: ki, col: -1, over: int64(a.Over / time.Millisecond)}
		if a.Field != "" {
			c.col = slices.Index(s.fields[ki], a.Field)
		}
		for _, w := range a.Where {
			c.where = append(c.where, whereCol{col: slices.Index(s.fields[ki], w.Field), vals: w.Values})
		}
		s.comp = append(s.comp, c)
	}
	return s
}

// Aggregates are the served aggregates; an index into this list is what
// [State.Aggregate] takes. The caller must not modify the list.
func (s *Spec) Aggregates() []scoring.Aggregate { return s.aggs }

// Index is the index of a in Aggregates (by Key), or -1 when it is not
// served.
func (s *Spec) Index(a scoring.Aggregate) int {
	if i, ok := s.keys[a.Key()]; ok {
		return i
	}
	return -1
}

// Longest is the longest window (0 when the spec has no aggregate).
func (s *Spec) Longest() time.Duration { return s.longest }

// Kinds are the kinds of event any aggregate reads, sorted.
func (s *Spec) Kinds() []schemas.EventType { return slices.Clone(s.kinds) }

// Fields are the event fields the state keeps of events of kind (the
// fields read by the aggregates of that kind and by their where
// conditions), sorted; nil for a kind no aggregate reads.
func (s *Spec) Fields(kind schemas.EventType) []string {
	if i := slices.Index(s.kinds, kind); i >= 0 {
		return slices.Clone(s.fields[i])
	}
	return nil
}

// Covers reports whether every aggregate of o is served by s (same Key,
// hence the same window, so a state built for s holds all the history o
// needs): a hot reload from s to o then needs no rebuild, and o's plans are
// served through s.Index. A nil or empty o is covered by any spec.
func (s *Spec) Covers(o *Spec) bool {
	if o == nil {
		return true
	}
	for _, a := range o.aggs {
		if _, ok := s.keys[a.Key()]; !ok {
			return false
		}
	}
	return true
}

// kindIndex is the index of kind in s.kinds, or -1.
func (s *Spec) kindIndex(kind schemas.EventType) int {
	for i, k := range s.kinds {
		if k == kind {
			return i
		}
	}
	return -1
}

// Check reports the first field of ev (of kind) whose value an aggregate
// that reads it cannot use: a numeric function's field (sum, mean, min,
// max) must be a finite number or a boolean, and the field of
// count_distinct or last a string, a finite number or a boolean; absent
// and null are always fine (such an event is skipped by that function).
// The error wraps [scoring.ErrFeature] and names the aggregate, the field
// and the value's type, so the pipeline can dead-letter the record at the
// features stage as it does a bad direct feature. A State never needs
// this: it stores a value it cannot use as absent (see the package doc),
// so Check is for callers that prefer refusing the record to skipping the
// value.
func (s *Spec) Check(ev *schemas.Event, kind schemas.EventType) error {
	for i := range s.comp {
		c := &s.comp[i]
		if c.col < 0 || s.aggs[i].Of != kind {
			continue
		}
		field := s.aggs[i].Field
		v, ok := ev.Field(field)
		if !ok || v.Kind == schemas.Null {
			continue
		}
		var bad string
		switch {
		case v.Kind == schemas.Number && (math.IsNaN(v.Num) || math.IsInf(v.Num, 0)):
			bad = fmt.Sprintf("the non-finite number %v", v.Num)
		case c.fn.numeric() && v.Kind == schemas.String:
			bad = fmt.Sprintf("a string (%s), want a number", quoteShort(v.Str))
		case v.Kind == schemas.Other:
			bad = "an object, want a scalar"
		}
		if bad != "" {
			return fmt.Errorf("%w: aggregate %s reads field %q of the %s: it holds %s", scoring.ErrFeature, s.aggs[i].Key(), field, kind, bad)
		}
	}
	return nil
}

func quoteShort(s string) string {
	const n = 40
	if len(s) > n {
		return fmt.Sprintf("%q…", s[:n])
	}
	return fmt.Sprintf("%q", s)
}

// String lists the served aggregates.
func (s *Spec) String() string {
	keys := make([]string, len(s.aggs))
	for i, a := range s.aggs {
		keys[i] = a.Key()
	}
	return "[" + strings.Join(keys, " ") + "]"
}

// Package entity — TEMPORARY brute-force stand-in (not committed) until the real package lands.
package entity

import (
	"math"
	"sort"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

type Spec struct {
	aggs    []scoring.Aggregate
	longest time.Duration
}

func NewSpec(aggs []scoring.Aggregate) *Spec {
	s := &Spec{}
	for _, a := range aggs {
		if s.Index(a) < 0 {
			s.aggs = append(s.aggs, a)
			s.longest = max(s.longest, a.Over)
		}
	}
	return s
}
func (s *Spec) Aggregates() []scoring.Aggregate { return s.aggs }
func (s *Spec) Index(a scoring.Aggregate) int {
	for i, x := range s.aggs {
		if x.Key() == a.Key() {
			return i
		}
	}
	return -1
}
func (s *Spec) Longest() time.Duration { return s.longest }
func (s *Spec) Fields(kind schemas.EventType) []string {
	var out []string
	for _, a := range s.aggs {
		if a.Of != kind {
			continue
		}
		if a.Field != "" {
			out = append(out, a.Field)
		}
		for _, c := range a.Where {
			out = append(out, c.Field)
		}
	}
	return out
}
func (s *Spec) Kinds() []schemas.EventType {
	var out []schemas.EventType
	for _, a := range s.aggs {
		out = append(out, a.Of)
	}
	return out
}
func (s *Spec) Covers(o *Spec) bool {
	for _, a := range o.aggs {
		if s.Index(a) < 0 {
			return false
		}
	}
	return true
}

type Pos struct {
	Stream int32
	Offset int64
}
type Options struct {
	MaxBytes int64
	Slack    time.Duration
}
type Stats struct{ Entities, Events, Bytes, Evictions, EvictedLookups, Late int64 }

type stored struct {
	kind schemas.EventType
	ms   int64
	pos  Pos
	ev   schemas.Event
}
type State struct {
	spec *Spec
	ents map[string][]stored
	maxS map[string]int64
	st   Stats
}

func NewState(spec *Spec, o Options) *State {
	return &State{spec: spec, ents: map[string][]stored{}, maxS: map[string]int64{}}
}

func (st *State) Aggregate(ev *schemas.Event, idx []int, out []schemas.Value) bool {
	t := ev.Time.UnixMilli()
	if m, ok := st.maxS[ev.Entity]; !ok || t > m {
		st.maxS[ev.Entity] = t
	}
	list := st.ents[ev.Entity]
	for k, i := range idx {
		a := st.spec.aggs[i]
		lo := t - a.Over.Milliseconds()
		var n, sum float64
		mn, mx := math.Inf(1), math.Inf(-1)
		distinct := map[schemas.Value]bool{}
		var last *stored
		for j := range list {
			x := &list[j]
			if x.kind != a.Of || x.ms < lo || x.ms >= t {
				continue
			}
			match := true
			for _, c := range a.Where {
				if !c.Matches(&x.ev) {
					match = false
				}
			}
			if !match {
				continue
			}
			last = x
			if a.Fn == scoring.AggCount || a.Fn == scoring.AggSinceLast || a.Fn == scoring.AggLast {
				n++
				continue
			}
			v, _ := x.ev.Field(a.Field)
			if v.Kind == schemas.Null {
				continue
			}
			if a.Fn == scoring.AggCountDistinct {
				distinct[v] = true
				continue
			}
			if v.Kind != schemas.Number {
				continue
			}
			n++
			sum += v.Num
			mn, mx = min(mn, v.Num), max(mx, v.Num)
		}
		var r schemas.Value
		switch a.Fn {
		case scoring.AggCount:
			r = schemas.NumberValue(n)
		case scoring.AggSum:
			r = schemas.NumberValue(sum)
		case scoring.AggMean:
			if n > 0 {
				r = schemas.NumberValue(sum / n)
			}
		case scoring.AggMin:
			if n > 0 {
				r = schemas.NumberValue(mn)
			}
		case scoring.AggMax:
			if n > 0 {
				r = schemas.NumberValue(mx)
			}
		case scoring.AggCountDistinct:
			r = schemas.NumberValue(float64(len(distinct)))
		case scoring.AggLast:
			if last != nil {
				r, _ = last.ev.Field(a.Field)
			}
		case scoring.AggSinceLast:
			if last != nil {
				r = schemas.NumberValue(float64(t-last.ms) / 1000)
			}
		}
		out[k] = r
	}
	return false
}

func (st *State) Observe(ev *schemas.Event, kind schemas.EventType, pos Pos) bool {
	t := ev.Time.UnixMilli()
	var c schemas.Event
	for _, f := range st.spec.Fields(kind) {
		if v, ok := ev.Field(f); ok {
			if v.Kind == schemas.String {
				v.Str = string([]byte(v.Str))
			}
			c.SetField(f, v)
		}
	}
	list := append(st.ents[ev.Entity], stored{kind: kind, ms: t, pos: pos, ev: c})
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].ms != list[j].ms {
			return list[i].ms < list[j].ms
		}
		if list[i].pos.Stream != list[j].pos.Stream {
			return list[i].pos.Stream < list[j].pos.Stream
		}
		return list[i].pos.Offset < list[j].pos.Offset
	})
	st.ents[string([]byte(ev.Entity))] = list
	st.st.Events++

	late := t < st.maxS[ev.Entity]
	if late {
		st.st.Late++
	}
	return late
}
func (st *State) Expire(watermark time.Time) {}
func (st *State) Forget(stream int32, from int64) {
	for k, list := range st.ents {
		keep := list[:0]
		for _, x := range list {
			if !(x.pos.Stream == stream && x.pos.Offset >= from) {
				keep = append(keep, x)
			}
		}
		st.ents[k] = keep
	}
}
func (st *State) Reset() {
 st.ents = map[string][]stored{}; st.maxS = map[string]int64{} }
func (st *State) Stats() Stats { s := st.st; s.Entities = int64(len(st.ents)); return s }

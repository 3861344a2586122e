package entity

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/streamscore/streamscore/schemas"
)

// Aggregate computes, for ev (entity ev.Entity, time t = ev.Time), the
// values of the spec's aggregates idx (indices into Spec.Aggregates) into
// out (at least len(idx) long), each over the stored events x of the
// entity of the aggregate's kind that match its where, with
// t − over ≤ time(x) < t (see the package doc for each function). Events
// at t itself are not included, so ev never sees itself, whether or not it
// was observed already.
//
// A window that reaches into history the state no longer holds — evicted
// by MaxBytes, or dropped by Expire or DropBefore because ev is later than
// Slack — is not computed: its value is Null and evicted is true (the
// call is counted in Stats.MissingEvicted or MissingExpired). Every other
// value is exact.
//
// Aggregate only reads the state and does not allocate once warm; see
// State for what may run concurrently. Cost per aggregate: O(log n) to
// find the window in the entity's n events of that kind, plus O(w) over
// the w events in the window for sum, mean, min, max, count_distinct
// (O(w log w) past 32 distinct values) and count with where; count
// without where is O(log n); last and since_last scan back from the
// window's end to the first match.
func (st *State) Aggregate(ev *schemas.Event, idx []int, out []schemas.Value) (evicted bool) {
	if len(out) < len(idx) {
		panic(fmt.Sprintf("entity: Aggregate: out has %d slots for %d aggregates", len(out), len(idx)))
	}
	t := ev.Time.UnixMilli()
	var e *entity
	evS, exS := st.lane, st.inheritedExpire()
	if i, ok := st.index[ev.Entity]; ok {
		e = &st.ents[i]
		evS, exS = e.evict, e.expire
	}
	var hitEv, hitEx bool
	for j, ai := range idx {
		a := &st.aggs[ai]
		start := t - a.over
		switch {
		case evS.hits(start, t):
			out[j], hitEv = schemas.Value{}, true
		case exS.hits(start, t):
			out[j], hitEx = schemas.Value{}, true
		case e == nil || e.ser == nil:
			out[j] = empty(a.fn)
		default:
			out[j] = st.compute(a, &e.ser[a.kind], start, t)
		}
	}
	switch {
	case hitEv:
		st.missEvicted.Add(1)
	case hitEx:
		st.missExpired.Add(1)
	}
	return hitEv || hitEx
}

// empty is the value over no events.
func empty(f fn) schemas.Value {
	switch f {
	case fnCount, fnSum, fnDistinct:
		return schemas.NumberValue(0)
	}
	return schemas.Value{}
}

func (a *aggState) match(l *layout, row []uint64) bool {
	for ci := range a.conds {
		c := &a.conds[ci]
		k := l.kind(row, c.col)
		v := row[wValues+c.col]
		ok := false
		for _, w := range c.cells {
			if w.kind == k && (k == vNumber && math.Float64frombits(v) == w.num || k != vNumber && v == w.bits) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// dkey is a count_distinct value: its kind and its bits (-0 as 0).
type dkey struct {
	kind uint8
	bits uint64
}

func cmpDkey(x, y dkey) int {
	if c := cmp.Compare(x.bits, y.bits); c != 0 {
		return c
	}
	return cmp.Compare(x.kind, y.kind)
}

// distinctPool holds the scratch of count_distinct over more than 32
// distinct values (Aggregate may run on several goroutines at once).
var distinctPool = sync.Pool{New: func() any { return new([]dkey) }}

func (st *State) compute(a *aggState, s *series, start, t int64) schemas.Value {
	l := &st.lay[a.kind]
	stride := l.stride
	lo := s.lower(stride, start)
	hi := s.lower(stride, t)
	if lo == hi {
		return empty(a.fn)
	}
	w := s.w
	col := wValues + a.col
	switch a.fn {
	case fnCount:
		if len(a.conds) == 0 {
			return schemas.NumberValue(float64(hi - lo))
		}
		n := 0
		for r := lo; r < hi; r++ {
			if a.match(l, w[r*stride:(r+1)*stride]) {
				n++
			}
		}
		return schemas.NumberValue(float64(n))
	case fnSum, fnMean, fnMin, fnMax:
		// in canonical order (the rows' order), so the result is the same
		// whatever order the events were observed in
		var sum, m float64
		n := 0
		for r := lo; r < hi; r++ {
			row := w[r*stride : (r+1)*stride]
			var x float64
			switch l.kind(row, a.col) {
			case vNumber:
				x = math.Float64frombits(row[col])
			case vBool:
				x = float64(row[col])
			default:
				continue
			}
			if len(a.conds) > 0 && !a.match(l, row) {
				continue
			}
			switch {
			case n == 0:
				m = x
			case a.fn == fnMin:
				m = math.Min(m, x)
			case a.fn == fnMax:
				m = math.Max(m, x)
			}
			sum += x
			n++
		}
		switch {
		case a.fn == fnSum:
			return schemas.NumberValue(sum)
		case n == 0:
			return schemas.Value{}
		case a.fn == fnMean:
			return schemas.NumberValue(sum / float64(n))
		}
		return schemas.NumberValue(m)
	case fnDistinct:
		// distinct values collected in a stack buffer (linear dedupe) up to
		// 32, then sorted in pooled scratch
		var small [32]dkey
		ns := 0
		var big *[]dkey
		for r := lo; r < hi; r++ {
			row := w[r*stride : (r+1)*stride]
			k := l.kind(row, a.col)
			if k == vAbsent || len(a.conds) > 0 && !a.match(l, row) {
				continue
			}
			key := dkey{kind: k, bits: row[col]}
			if k == vNumber && key.bits == 1<<63 {
				key.bits = 0 // -0 == 0
			}
			if big != nil {
				*big = append(*big, key)
				continue
			}
			if slices.Contains(small[:ns], key) {
				continue
			}
			if ns < len(small) {
				small[ns] = key
				ns++
				continue
			}
			big = distinctPool.Get().(*[]dkey)
			*big = append(append((*big)[:0], small[:]...), key)
		}
		if big == nil {
			return schemas.NumberValue(float64(ns))
		}
		keys := *big
		slices.SortFunc(keys, cmpDkey)
		n := 0
		for i := range keys {
			if i == 0 || keys[i] != keys[i-1] {
				n++
			}
		}
		*big = keys[:0]
		distinctPool.Put(big)
		return schemas.NumberValue(float64(n))
	case fnLast:
		for r := hi - 1; r >= lo; r-- {
			row := w[r*stride : (r+1)*stride]
			k := l.kind(row, a.col)
			if k == vAbsent || len(a.conds) > 0 && !a.match(l, row) {
				continue // the latest matching event that has the field
			}
			switch k {
			case vNumber:
				return schemas.NumberValue(math.Float64frombits(row[col]))
			case vBool:
				return schemas.BoolValue(row[col] != 0)
			default:
				return schemas.StringValue(st.strs.strs[row[col]])
			}
		}
		return schemas.Value{}
	case fnSinceLast:
		for r := hi - 1; r >= lo; r-- {
			row := w[r*stride : (r+1)*stride]
			if len(a.conds) == 0 || a.match(l, row) {
				return schemas.NumberValue(float64(t-rowTime(row)) / 1000)
			}
		}
		return schemas.Value{}
	}
	return schemas.Value{}
}

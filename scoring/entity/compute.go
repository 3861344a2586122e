package entity

import (
	"fmt"
	"math"
	"math/bits"
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
// (a linear dedupe up to 16 distinct values, then a hash set) and count
// with where; count without where is O(log n); last and since_last scan
// back from the window's end to the first match.
func (st *State) Aggregate(ev *schemas.Event, idx []int, out []schemas.Value) (evicted bool) {
	if len(out) < len(idx) {
		panic(fmt.Sprintf("entity: Aggregate: out has %d slots for %d aggregates", len(out), len(idx)))
	}
	t := ev.Time.UnixMilli()
	var e *entity
	evS, exS := st.lane, st.inheritedExpire()
	if e = st.lookup(ev.Entity); e != nil {
		if st.hint.Load() != e {
			st.hint.Store(e)
		}
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

// match reports whether row r of a series (array w, capacity c) satisfies
// every where condition of a.
func (a *aggState) match(w []uint64, c, r int) bool {
	for ci := range a.conds {
		cd := &a.conds[ci]
		k := uint8(w[cd.kcol*c+r]>>cd.ksh) & 3
		v := w[cd.vcol*c+r]
		ok := false
		for _, x := range cd.cells {
			if x.kind == k && (k == vNumber && math.Float64frombits(v) == x.num || k != vNumber && v == x.bits) {
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

// dset is a hash set of dkeys for count_distinct over many values: open
// addressing, cleared in O(1) by a generation stamp. Pooled, since
// Aggregate may run on several goroutines at once.
type dset struct {
	keys  []dkey
	stamp []uint32
	gen   uint32
	n     int
	shift uint // 64 − log2(len(keys))
}

var dsetPool = sync.Pool{New: func() any { return new(dset) }}

func (d *dset) reset() {
	if d.keys == nil {
		d.alloc(64)
	}
	d.gen++
	if d.gen == 0 {
		clear(d.stamp)
		d.gen = 1
	}
	d.n = 0
}

func (d *dset) alloc(size int) {
	d.keys = make([]dkey, size)
	d.stamp = make([]uint32, size)
	d.shift = uint(64 - bits.TrailingZeros(uint(size)))
}

func (d *dset) add(k dkey) {
	if 2*(d.n+1) > len(d.keys) {
		old, oldStamp, gen := d.keys, d.stamp, d.gen
		d.alloc(2 * len(old))
		d.gen, d.n = 1, 0
		for i, s := range oldStamp {
			if s == gen {
				d.add(old[i])
			}
		}
	}
	mask := len(d.keys) - 1
	for h := int(((k.bits ^ uint64(k.kind)<<62) * 0x9E3779B97F4A7C15) >> d.shift); ; h = (h + 1) & mask {
		if d.stamp[h] != d.gen {
			d.stamp[h], d.keys[h] = d.gen, k
			d.n++
			return
		}
		if d.keys[h] == k {
			return
		}
	}
}

func (st *State) compute(a *aggState, s *series, start, t int64) schemas.Value {
	lo := s.lower(start)
	hi := s.lower(t)
	if lo == hi {
		return empty(a.fn)
	}
	w, c := s.w, s.c
	where := len(a.conds) > 0
	if a.fn == fnCount {
		if !where {
			return schemas.NumberValue(float64(hi - lo))
		}
		n := 0
		for r := lo; r < hi; r++ {
			if a.match(w, c, r) {
				n++
			}
		}
		return schemas.NumberValue(float64(n))
	}
	if a.fn == fnSinceLast {
		for r := hi - 1; r >= lo; r-- {
			if !where || a.match(w, c, r) {
				return schemas.NumberValue(float64(t-s.time(r)) / 1000)
			}
		}
		return schemas.Value{}
	}
	// the field's kinds and values over the window
	ks := w[a.kcol*c+lo : a.kcol*c+hi]
	vs := w[a.vcol*c+lo : a.vcol*c+hi]
	vs = vs[:len(ks)]
	sh := a.ksh
	switch a.fn {
	case fnSum, fnMean:
		// in canonical order (the rows' order), so the result is the same
		// whatever order the events were observed in
		var sum float64
		n := 0
		for i, kw := range ks {
			x, ok := number(kw, sh, vs[i])
			if !ok {
				continue
			}
			if where && !a.match(w, c, lo+i) {
				continue
			}
			sum += x
			n++
		}
		switch {
		case a.fn == fnSum:
			return schemas.NumberValue(sum)
		case n == 0:
			return schemas.Value{}
		}
		return schemas.NumberValue(sum / float64(n))
	case fnMin, fnMax:
		var m float64
		n := 0
		for i, kw := range ks {
			x, ok := number(kw, sh, vs[i])
			if !ok {
				continue
			}
			if where && !a.match(w, c, lo+i) {
				continue
			}
			// values are finite: the only case beyond < and > is the sign of
			// zero (as math.Min and math.Max: -0 < +0)
			switch {
			case n == 0:
				m = x
			case a.fn == fnMin:
				if x < m || x == 0 && m == 0 && math.Signbit(x) {
					m = x
				}
			default:
				if x > m || x == 0 && m == 0 && !math.Signbit(x) {
					m = x
				}
			}
			n++
		}
		if n == 0 {
			return schemas.Value{}
		}
		return schemas.NumberValue(m)
	case fnDistinct:
		// up to 16 distinct values in a stack buffer (linear dedupe), then
		// a pooled hash set
		var small [16]dkey
		ns := 0
		var set *dset
		for i, kw := range ks {
			k := uint8(kw>>sh) & 3
			if k == vAbsent || where && !a.match(w, c, lo+i) {
				continue
			}
			key := dkey{kind: k, bits: vs[i]}
			if k == vNumber && key.bits == 1<<63 {
				key.bits = 0 // -0 == 0
			}
			switch {
			case set != nil:
				set.add(key)
			case slices.Contains(small[:ns], key):
			case ns < len(small):
				small[ns] = key
				ns++
			default:
				set = dsetPool.Get().(*dset)
				set.reset()
				for _, x := range small {
					set.add(x)
				}
				set.add(key)
			}
		}
		if set == nil {
			return schemas.NumberValue(float64(ns))
		}
		n := set.n
		dsetPool.Put(set)
		return schemas.NumberValue(float64(n))
	case fnLast:
		for i := len(ks) - 1; i >= 0; i-- {
			k := uint8(ks[i]>>sh) & 3
			if where && !a.match(w, c, lo+i) {
				continue
			}
			// the field's value in the latest matching event (DESIGN.md):
			// absent or null there is missing, not an older event's value
			switch k {
			case vAbsent:
				return schemas.Value{}
			case vNumber:
				return schemas.NumberValue(math.Float64frombits(vs[i]))
			case vBool:
				return schemas.BoolValue(vs[i] != 0)
			}
			return schemas.StringValue(st.strs.strs[vs[i]])
		}
	}
	return schemas.Value{}
}

// number is a window row's field as a number (a boolean as 0 or 1), given
// its kind word kw, the kind's shift sh and its value word v; ok is false
// for the other kinds (missing, string).
func number(kw uint64, sh uint, v uint64) (x float64, ok bool) {
	switch uint8(kw>>sh) & 3 {
	case vNumber:
		return math.Float64frombits(v), true
	case vBool:
		return float64(v), true
	}
	return 0, false
}

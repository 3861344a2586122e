package entity

import (
	"math"
	"testing"
)

// check verifies the state's internal invariants: the byte and event
// accounting recomputed from scratch, rows in canonical order, string
// reference counts, the lists, and the expiry heap.
func (st *State) check(t *testing.T) {
	t.Helper()
	refs := map[uint32]int32{}
	for _, a := range st.aggs {
		for _, c := range a.conds {
			for _, w := range c.cells {
				if w.kind == vString {
					refs[uint32(w.bits)]++
				}
			}
		}
	}
	var bytes, events int64
	nTomb := 0
	for id, e := range st.index {
		if e.id != id {
			t.Fatalf("record %q indexed as %q", e.id, id)
		}
		bytes += entityBytes + idBytes(e.id)
		if e.inTomb {
			nTomb++
			if e.n != 0 || e.ser != nil || e.evict.empty() {
				t.Fatalf("tombstone %q: %d events, series %v, evicted %v", id, e.n, e.ser != nil, e.evict)
			}
		}
		if e.n > 0 && e.ser == nil {
			t.Fatalf("%q: %d events and no series", id, e.n)
		}
		if e.ser != nil {
			bytes += st.serBytes()
		}
		n := 0
		for k := range e.ser {
			s := &e.ser[k]
			l := &st.lay[k]
			bytes += 8 * int64(cap(s.w))
			if s.c*l.stride > len(s.w) || s.n > s.c || s.head > s.n {
				t.Fatalf("%q kind %d: %d words, capacity %d rows, head %d, n %d", id, k, len(s.w), s.c, s.head, s.n)
			}
			for r := s.head; r < s.n; r++ {
				if r > s.head && s.cmpRow(r-1, s.time(r), s.pos(r)) >= 0 {
					t.Fatalf("%q kind %d: rows %d, %d out of order", id, k, r-1, r)
				}
				if s.time(r) > e.seen {
					t.Fatalf("%q: a row at %d, newer than seen %d", id, s.time(r), e.seen)
				}
				for j := range l.nf {
					if s.kind(l, j, r) == vString {
						refs[uint32(s.at(wValues+j, r))]++
					}
				}
				n++
			}
		}
		if n != e.n {
			t.Fatalf("%q: counts %d events, holds %d", id, e.n, n)
		}
		events += int64(n)
		if j := int(e.hidx); j < 0 || j >= len(st.heap) || st.heap[j] != e {
			t.Fatalf("%q: heap index %d wrong", id, e.hidx)
		}
		want := int64(math.MaxInt64)
		for k := range e.ser {
			if s := &e.ser[k]; s.live() > 0 {
				want = min(want, s.time(s.head))
			}
		}
		if !e.evict.empty() {
			want = min(want, e.evict.hi)
		} else if e.n == 0 {
			want = min(want, e.seen)
		}
		if e.key != want {
			t.Fatalf("%q: heap key %d, want %d", id, e.key, want)
		}
	}
	for id, n := range refs {
		if st.strs.refs[id] != n {
			t.Fatalf("string %q: %d references counted, %d held", st.strs.strs[id], st.strs.refs[id], n)
		}
	}
	for id, r := range st.strs.refs {
		if r > 0 {
			bytes += int64(len(st.strs.strs[id])) + stringBytes
			if refs[uint32(id)] != r {
				t.Fatalf("string %q: %d references counted, %d held", st.strs.strs[id], r, refs[uint32(id)])
			}
		}
	}
	if len(st.strs.ids) != st.nStrings || len(st.strs.ids) != len(refs) {
		t.Fatalf("%d strings indexed, %d counted, %d referenced", len(st.strs.ids), st.nStrings, len(refs))
	}
	if bytes != st.bytes || events != st.events || nTomb != st.nTomb {
		t.Fatalf("accounted %d bytes, %d events, %d tombstones; recomputed %d, %d, %d", st.bytes, st.events, st.nTomb, bytes, events, nTomb)
	}
	if st.opt.MaxBytes > 0 && st.bytes > st.opt.MaxBytes && len(st.index) > 0 {
		t.Fatalf("%d bytes over the bound %d", st.bytes, st.opt.MaxBytes)
	}
	count := 0
	for _, l := range []list{st.live, st.tomb} {
		var prev *entity
		for e := l.head; e != nil; e = e.next {
			if e.prev != prev || st.index[e.id] != e {
				t.Fatalf("list links broken at %q", e.id)
			}
			if (l == st.tomb) != e.inTomb {
				t.Fatalf("%q in the wrong list", e.id)
			}
			prev = e
			count++
		}
		if l.tail != prev {
			t.Fatalf("list tail %v, last %v", l.tail, prev)
		}
	}
	if count != len(st.index) || len(st.heap) != len(st.index) {
		t.Fatalf("%d records, %d in lists, %d in the heap", len(st.index), count, len(st.heap))
	}
	for j := 1; j < len(st.heap); j++ {
		if st.hless(j, (j-1)/2) {
			t.Fatalf("heap order broken at %d", j)
		}
	}
	// the live list is in decreasing order of last observation
	last := uint64(math.MaxUint64)
	for e := st.live.head; e != nil; e = e.next {
		if e.touched > last {
			t.Fatalf("live list out of observation order at %q", e.id)
		}
		last = e.touched
	}
}

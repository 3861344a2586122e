package entity

import (
	"math"
	"strings"
)

// A stored event is one row of uint64 words in its entity's series of
// that kind (see the package doc for the byte accounting):
//
//	word 0          event time, Unix milliseconds (int64)
//	word 1          offset (Pos.Offset)
//	word 2          low 32 bits: stream (Pos.Stream); high 32 bits: the
//	                value kinds of fields 0–15, two bits each
//	words 3 … 3+F-1 the F kept fields' values: a number's float64 bits, a
//	                boolean as 0 or 1, a string's interned id
//	then            ⌈(F−16)/32⌉ words of value kinds for fields 16 and up
//
// Rows are sorted by (time, stream, offset), the canonical order.
const (
	wTime   = 0
	wOffset = 1
	wStream = 2
	wValues = 3
)

// Value kinds as stored (two bits).
const (
	vAbsent uint8 = iota // absent, null, non-finite number, or not a scalar
	vNumber
	vString
	vBool
)

// layout is the row shape of one kind.
type layout struct {
	nf     int // kept fields
	stride int // words per row
}

func newLayout(nf int) layout {
	extra := 0
	if nf > 16 {
		extra = (nf - 16 + 31) / 32
	}
	return layout{nf: nf, stride: wValues + nf + extra}
}

func (l *layout) kind(row []uint64, j int) uint8 {
	if j < 16 {
		return uint8(row[wStream]>>(32+2*j)) & 3
	}
	j -= 16
	return uint8(row[wValues+l.nf+j/32]>>(2*(j%32))) & 3
}

func (l *layout) setKind(row []uint64, j int, k uint8) {
	if j < 16 {
		sh := uint(32 + 2*j)
		row[wStream] = row[wStream]&^(3<<sh) | uint64(k)<<sh
		return
	}
	j -= 16
	w := &row[wValues+l.nf+j/32]
	sh := uint(2 * (j % 32))
	*w = *w&^(3<<sh) | uint64(k)<<sh
}

func rowTime(row []uint64) int64 { return int64(row[wTime]) }

func rowPos(row []uint64) Pos {
	return Pos{Stream: int32(uint32(row[wStream])), Offset: int64(row[wOffset])}
}

// cmpKey orders a row against (t, p) canonically.
func cmpKey(row []uint64, t int64, p Pos) int {
	if rt := rowTime(row); rt != t {
		if rt < t {
			return -1
		}
		return 1
	}
	rp := rowPos(row)
	switch {
	case rp.Stream < p.Stream:
		return -1
	case rp.Stream > p.Stream:
		return 1
	case rp.Offset < p.Offset:
		return -1
	case rp.Offset > p.Offset:
		return 1
	}
	return 0
}

// series is the time-sorted events of one kind of one entity: rows
// [head, len(w)/stride) of w are live (rows before head were trimmed and
// are compacted away lazily).
type series struct {
	w    []uint64
	head int
}

func (s *series) rows(stride int) int { return len(s.w) / stride }

func (s *series) live(stride int) int { return len(s.w)/stride - s.head }

func (s *series) row(stride, i int) []uint64 { return s.w[i*stride : (i+1)*stride : (i+1)*stride] }

// lower is the first live row whose time is ≥ t (binary search).
func (s *series) lower(stride int, t int64) int {
	lo, hi := s.head, len(s.w)/stride
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int64(s.w[m*stride]) < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// find is where a row (t, p) goes in canonical order, and whether a row
// with that key is already there.
func (s *series) find(stride int, t int64, p Pos) (at int, dup bool) {
	n := len(s.w) / stride
	if n == s.head || cmpKey(s.row(stride, n-1), t, p) < 0 {
		return n, false // the common case: in order
	}
	lo, hi := s.head, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cmpKey(s.row(stride, m), t, p) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < n && cmpKey(s.row(stride, lo), t, p) == 0
}

// insert puts row at row index at, shifting later rows (a late event is
// inserted in place); it returns the change in capacity, in words.
func (s *series) insert(stride, at int, row []uint64) int {
	c := cap(s.w)
	if s.head > 0 && len(s.w)+stride > cap(s.w) {
		at -= s.head
		s.compact(stride) // reuse the trimmed front before growing
	}
	n := len(s.w) / stride
	s.w = append(s.w, row...)
	if at < n {
		copy(s.w[(at+1)*stride:], s.w[at*stride:n*stride])
		copy(s.w[at*stride:], row)
	}
	return cap(s.w) - c
}

// compact moves the live rows to the front.
func (s *series) compact(stride int) {
	if s.head == 0 {
		return
	}
	n := copy(s.w, s.w[s.head*stride:])
	s.w = s.w[:n]
	s.head = 0
}

// minCapWords is the capacity below which a series keeps its array when
// it shrinks.
const minCapWords = 64

// tidy compacts a series whose trimmed front is at least half of it, and
// gives back an array at least four times larger than its live rows; it
// returns the change in capacity, in words. Trimming is amortised O(1) per
// row.
func (s *series) tidy(stride int) int {
	c := cap(s.w)
	live := s.live(stride)
	switch {
	case live == 0:
		s.head = 0
		if cap(s.w) > minCapWords {
			s.w = nil
		} else {
			s.w = s.w[:0]
		}
	case s.head > 0 && 2*s.head >= s.rows(stride):
		s.compact(stride)
	}
	if cap(s.w) > minCapWords && cap(s.w) > 4*len(s.w) {
		w := make([]uint64, len(s.w), 2*len(s.w))
		copy(w, s.w)
		s.w = w
	}
	return cap(s.w) - c
}

// interner holds each distinct string value of the stored fields once,
// reference-counted by the rows (and where conditions) that use it.
type interner struct {
	ids  map[string]uint32
	strs []string
	refs []int32
	free []uint32
}

// stringBytes is the accounted cost of one interned string beyond its
// bytes: the map entry, the strs and refs slots (measured; see the
// package doc).
const stringBytes = 64

// ref returns the id of s, interning a copy of it when new, and the
// bytes that added.
func (in *interner) ref(s string) (uint32, int64) {
	if id, ok := in.ids[s]; ok {
		in.refs[id]++
		return id, 0
	}
	s = strings.Clone(s)
	var id uint32
	if n := len(in.free); n > 0 {
		id = in.free[n-1]
		in.free = in.free[:n-1]
		in.strs[id], in.refs[id] = s, 1
	} else {
		id = uint32(len(in.strs))
		in.strs = append(in.strs, s)
		in.refs = append(in.refs, 1)
	}
	in.ids[s] = id
	return id, int64(len(s)) + stringBytes
}

// unref drops one reference to id and returns the bytes freed.
func (in *interner) unref(id uint32) int64 {
	in.refs[id]--
	if in.refs[id] > 0 {
		return 0
	}
	s := in.strs[id]
	delete(in.ids, s)
	in.strs[id] = ""
	in.free = append(in.free, id)
	return int64(len(s)) + stringBytes
}

// span is a closed interval [lo, hi] of event times (ms) whose history the
// state no longer holds; empty when lo > hi.
type span struct{ lo, hi int64 }

var noSpan = span{lo: math.MaxInt64, hi: math.MinInt64}

func (s span) empty() bool { return s.lo > s.hi }

func (s *span) add(o span) {
	s.lo = min(s.lo, o.lo)
	s.hi = max(s.hi, o.hi)
}

// hits reports whether the window [start, t) may contain an event of s.
func (s span) hits(start, t int64) bool { return s.lo <= s.hi && start <= s.hi && s.lo < t }

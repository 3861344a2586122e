package entity

import (
	"math"
	"slices"
	"strings"
)

// A stored event is one row of uint64 words in its entity's series of
// that kind, stored by column (see series; the package doc has the byte
// accounting):
//
//	column 0           event time, Unix milliseconds (int64)
//	column 1           offset (Pos.Offset)
//	column 2           low 32 bits: stream (Pos.Stream); high 32 bits: the
//	                   value kinds of fields 0–15, two bits each
//	columns 3 … 3+F-1  the F kept fields' values: a number's float64 bits, a
//	                   boolean as 0 or 1, a string's interned id
//	then               ⌈(F−16)/32⌉ columns of value kinds for fields 16 and up
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
	stride int // words (columns) per row
}

func newLayout(nf int) layout {
	extra := 0
	if nf > 16 {
		extra = (nf - 16 + 31) / 32
	}
	return layout{nf: nf, stride: wValues + nf + extra}
}

// kindAt is the column and shift of field j's value kind.
func (l *layout) kindAt(j int) (col int, sh uint) {
	if j < 16 {
		return wStream, uint(32 + 2*j)
	}
	j -= 16
	return wValues + l.nf + j/32, uint(2 * (j % 32))
}

// setKind sets field j's kind in a row being built (row[col] is column col).
func (l *layout) setKind(row []uint64, j int, k uint8) {
	col, sh := l.kindAt(j)
	row[col] = row[col]&^(3<<sh) | uint64(k)<<sh
}

// series is the time-sorted events of one kind of one entity, by column in
// one array: column j of a series of capacity c rows is w[j*c : (j+1)*c],
// and rows [head, n) are live (rows before head were trimmed and are
// compacted away lazily). A scan reads only the columns it needs, and the
// binary search for a window runs over the contiguous time column.
type series struct {
	w       []uint64
	c       int // capacity in rows
	head, n int
}

func (s *series) live() int            { return s.n - s.head }
func (s *series) time(r int) int64     { return int64(s.w[r]) }
func (s *series) at(col, r int) uint64 { return s.w[col*s.c+r] }

func (s *series) pos(r int) Pos {
	return Pos{Stream: int32(uint32(s.w[wStream*s.c+r])), Offset: int64(s.w[wOffset*s.c+r])}
}

// kind is the value kind of field j (of layout l) at row r.
func (s *series) kind(l *layout, j, r int) uint8 {
	col, sh := l.kindAt(j)
	return uint8(s.w[col*s.c+r]>>sh) & 3
}

// cmpRow orders row r against (t, p) canonically.
func (s *series) cmpRow(r int, t int64, p Pos) int {
	if rt := s.time(r); rt != t {
		if rt < t {
			return -1
		}
		return 1
	}
	rp := s.pos(r)
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

// lower is the first live row whose time is ≥ t (binary search; the end
// of a window usually follows every stored event, so that is tried first).
func (s *series) lower(t int64) int {
	lo, hi := s.head, s.n
	if lo == hi || int64(s.w[hi-1]) < t {
		return hi
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int64(s.w[m]) < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// find is where a row (t, p) goes in canonical order, and whether a row
// with that key is already there.
func (s *series) find(t int64, p Pos) (at int, dup bool) {
	if s.n == s.head || s.cmpRow(s.n-1, t, p) < 0 {
		return s.n, false // the common case: in order
	}
	lo, hi := s.head, s.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.cmpRow(m, t, p) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < s.n && s.cmpRow(lo, t, p) == 0
}

// insert puts row (row[j] is column j) at row index at, shifting later
// rows (a late event is inserted in place); it returns the change in
// capacity, in words.
func (s *series) insert(cols, at int, row []uint64) int {
	c0 := cap(s.w)
	if s.n == s.c {
		if s.head > 0 && 4*s.head >= s.c {
			at -= s.head
			s.compact(cols) // reuse the trimmed front
		} else {
			at -= s.head
			s.resize(cols, max(1, 2*s.live()))
		}
	}
	for j := range cols {
		col := s.w[j*s.c : j*s.c+s.n+1]
		copy(col[at+1:], col[at:s.n])
		col[at] = row[j]
	}
	s.n++
	return cap(s.w) - c0
}

// compact moves the live rows to the front.
func (s *series) compact(cols int) {
	if s.head == 0 {
		return
	}
	for j := range cols {
		copy(s.w[j*s.c:], s.w[j*s.c+s.head:j*s.c+s.n])
	}
	s.n -= s.head
	s.head = 0
}

// resize moves the live rows into a new array of at least c rows (the
// allocator's size class rounds it up; the rows that fit are used).
func (s *series) resize(cols, c int) {
	w := slices.Grow([]uint64(nil), cols*c)
	w = w[:cap(w)]
	nc := len(w) / cols
	live := s.live()
	for j := range cols {
		copy(w[j*nc:], s.w[j*s.c+s.head:j*s.c+s.n])
	}
	s.w, s.c, s.head, s.n = w, nc, 0, live
}

// minCapWords is the capacity below which a series keeps its array when
// it shrinks.
const minCapWords = 64

// tidy compacts a series whose trimmed front is at least half of it, and
// gives back an array more than four times larger than its live rows; it
// returns the change in capacity, in words. Trimming is amortised O(1) per
// row.
func (s *series) tidy(cols int) int {
	c0 := cap(s.w)
	live := s.live()
	switch {
	case live == 0 && cap(s.w) > minCapWords:
		s.w, s.c, s.head, s.n = nil, 0, 0, 0
	case live == 0:
		s.head, s.n = 0, 0
	case cap(s.w) > minCapWords && s.c > 4*live:
		s.resize(cols, 2*live)
	case 2*s.head >= s.n:
		s.compact(cols)
	}
	return cap(s.w) - c0
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

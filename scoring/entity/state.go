package entity

import (
	"math"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/streamscore/streamscore/schemas"
)

// Pos orders events of equal time deterministically: Stream is the index of
// the input topic, Offset the record's offset (a lane owns partition p of
// every topic, so (Stream, Offset) is unique within a lane).
type Pos struct {
	Stream int32
	Offset int64
}

// Options tune a State.
type Options struct {
	// MaxBytes bounds the accounted bytes of the state
	// (ENTITY_STATE_MAX_BYTES; 0 or less: no bound). When an observed
	// event takes the state over it, whole entities are evicted, least
	// recently observed first (see the package doc).
	MaxBytes int64
	// Slack is the history kept beyond the longest window, for records
	// that arrive late: Expire keeps events down to watermark − Longest −
	// Slack.
	Slack time.Duration
}

// Stats are a State's gauges and counters, for metrics.
type Stats struct {
	Entities   int   // entity records in use, tombstones included
	Tombstones int   // records of entities evicted by MaxBytes, kept to mark their dropped history
	Events     int64 // stored events
	Strings    int   // distinct strings stored (each once)
	Bytes      int64 // accounted bytes (see the package doc)

	Evictions         int64 // entities whose events were evicted by MaxBytes
	TombstonesDropped int64 // tombstones dropped by MaxBytes (their history then counts as dropped for every entity seen after)
	MissingEvicted    int64 // Aggregate calls answered missing because a window reached evicted history
	MissingExpired    int64 // Aggregate calls answered missing because a window reached expired history (a record later than Slack)
	Late              int64 // late records observed
}

// Accounted bytes of the fixed-size parts (measured; see the package doc).
const (
	// entityBytes is one entity record (with an id of up to 24 bytes and
	// two series headers inside), its index map entry and its heap slot; a
	// longer id's bytes are added.
	entityBytes = int64(unsafe.Sizeof(entity{})) + 32
	// seriesBytes is one per-kind series header of an entity holding
	// events, when the spec reads more kinds than a record holds inline.
	seriesBytes = int64(unsafe.Sizeof(series{}))
)

// entity is one entity's record: its stored events per kind, what of its
// history was dropped, and its place in the LRU (or tombstone) list and in
// the expiry heap.
type entity struct {
	id       string   // in idBuf when it fits
	ser      []series // per spec kind (in serBuf when they fit); nil while the entity holds no events
	n        int      // stored events
	seen     int64    // newest time observed, any kind (late detection)
	seenNS   int64    // newest time of an observation not stored (a kind no aggregate reads)
	nsPos    Pos      // its position
	seenDrop int64    // newest time of a stored event since evicted or expired
	evict    span     // history dropped by MaxBytes
	expire   span     // history dropped by Expire, or never held
	touched  uint64   // observation sequence number of the last Observe
	key      int64    // expiry heap key: the earliest cut that changes the record
	prev     *entity  // list links (live LRU, or the tombstone FIFO)
	next     *entity
	hidx     int32 // index in the heap; -1 once removed
	inTomb   bool
	// the id and the series live in the record when they fit, to spare a
	// lookup the cache misses of following pointers
	idBuf  [idInline]byte
	serBuf [serInline]series
}

const (
	idInline  = 24
	serInline = 2
)

// idBytes is the accounted size of an id held outside the record.
func idBytes(id string) int64 {
	if len(id) <= idInline {
		return 0
	}
	return int64(len(id))
}

// serBytes is the accounted size of the series headers of a record holding
// events, when they do not fit in the record.
func (st *State) serBytes() int64 {
	if len(st.lay) <= serInline {
		return 0
	}
	return seriesBytes * int64(len(st.lay))
}

type list struct{ head, tail *entity }

var emptyList = list{}

// streamTrack follows one stream's offsets so that Forget visits only the
// entities observed since the offset it forgets from.
type streamTrack struct {
	last    int64
	n       uint64
	ordered bool // offsets were observed strictly increasing
	marks   []mark
}

// mark: the observation with sequence number seq was at offset off.
type mark struct {
	off int64
	seq uint64
}

// One mark per markEvery observations of a stream; maxMarks are kept per
// stream (the older half is dropped when full). Variables for the tests.
var (
	markEvery uint64 = 256
	maxMarks         = 4096
)

// condCell is a where value resolved for stored rows.
type condCell struct {
	kind uint8
	bits uint64
	num  float64
}

// condition is a where condition resolved against the stored columns.
type condition struct {
	kcol, vcol int  // the columns of the field's kind and value
	ksh        uint // the kind's shift in its column
	cells      []condCell
}

// aggState is an aggregate resolved against the stored columns.
type aggState struct {
	compiled
	kcol, vcol int // the columns of the field's kind and value (col ≥ 0)
	ksh        uint
	conds      []condition
}

// State is one lane's entity state: the recent events of every entity,
// by kind, holding only the fields the spec reads, and the windowed
// aggregates computed from them exactly (see the package doc).
//
// A State is not safe for concurrent use, with one exception: Aggregate
// and Stats only read the state (their counters are atomic and their
// scratch pooled), so any number of goroutines may call them at once
// while no goroutine calls Observe, Expire, DropBefore, Forget or Reset —
// for example under the read side of a sync.RWMutex whose write side the
// lane holds while it writes.
type State struct {
	spec    *Spec
	opt     Options
	keep    int64 // Longest + Slack, in ms
	lay     []layout
	aggs    []aggState
	fields  [][]string
	index   map[string]*entity
	live    list // most recently observed at head
	tomb    list // oldest tombstone at head
	heap    []*entity
	strs    interner
	streams map[int32]*streamTrack
	seq     uint64
	cut     int64 // every event older than cut was dropped (math.MinInt64: none)
	lane    span  // evicted history of dropped tombstones: inherited by new records
	row     []uint64

	bytes, events                 int64
	nStrings, nTomb               int
	evictions, tombDropped, lateN int64
	missEvicted, missExpired      atomic.Int64
	hint                          atomic.Pointer[entity] // the record Aggregate read last (see lookup)
	pinned                        int64                  // bytes of the where strings (pinned)
}

// NewState returns an empty state serving spec.
func NewState(spec *Spec, o Options) *State {
	st := &State{spec: spec, opt: o, fields: spec.fields}
	st.keep = int64(spec.longest/time.Millisecond) + int64(max(o.Slack, 0)/time.Millisecond)
	maxStride := 0
	for _, f := range spec.fields {
		l := newLayout(len(f))
		st.lay = append(st.lay, l)
		maxStride = max(maxStride, l.stride)
	}
	st.row = make([]uint64, maxStride)
	st.Reset()
	return st
}

// Reset drops everything the state holds, as if it were new (the
// counters of Stats restart too).
func (st *State) Reset() {
	st.heap = nil
	st.index = map[string]*entity{}
	st.hint.Store(nil)
	st.live, st.tomb = emptyList, emptyList
	st.strs = interner{ids: map[string]uint32{}}
	st.streams = map[int32]*streamTrack{}
	st.seq = 0
	st.cut = math.MinInt64
	st.lane = noSpan
	st.bytes, st.events, st.nStrings, st.nTomb = 0, 0, 0, 0
	st.evictions, st.tombDropped, st.lateN = 0, 0, 0
	st.missEvicted.Store(0)
	st.missExpired.Store(0)
	// where values, resolved against the interner (string values pinned)
	st.aggs = make([]aggState, len(st.spec.comp))
	for i, c := range st.spec.comp {
		a := aggState{compiled: c}
		l := &st.lay[c.kind]
		if c.col >= 0 {
			a.kcol, a.ksh = l.kindAt(c.col)
			a.vcol = wValues + c.col
		}
		for _, w := range c.where {
			cond := condition{vcol: wValues + w.col}
			cond.kcol, cond.ksh = l.kindAt(w.col)
			for _, v := range w.vals {
				switch v.Kind {
				case schemas.Number:
					cond.cells = append(cond.cells, condCell{kind: vNumber, num: v.Num})
				case schemas.Bool:
					cond.cells = append(cond.cells, condCell{kind: vBool, bits: b2u(v.Num != 0)})
				case schemas.String:
					id, b := st.strs.ref(v.Str)
					if b > 0 {
						st.nStrings++
					}
					st.bytes += b
					cond.cells = append(cond.cells, condCell{kind: vString, bits: uint64(id)})
				}
				// any other kind matches nothing, as in scoring.Condition
			}
			a.conds = append(a.conds, cond)
		}
		st.aggs[i] = a
	}
	st.pinned = st.bytes
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Spec is the spec the state serves.
func (st *State) Spec() *Spec { return st.spec }

// Stats returns the state's gauges and counters. Like Aggregate, it only
// reads.
func (st *State) Stats() Stats {
	return Stats{
		Entities:          len(st.index),
		Tombstones:        st.nTomb,
		Events:            st.events,
		Strings:           st.nStrings,
		Bytes:             st.bytes,
		Evictions:         st.evictions,
		TombstonesDropped: st.tombDropped,
		MissingEvicted:    st.missEvicted.Load(),
		MissingExpired:    st.missExpired.Load(),
		Late:              st.lateN,
	}
}

// inheritedExpire is the expired history a record created now inherits:
// everything older than the cut, which the state may have held and dropped.
func (st *State) inheritedExpire() span {
	if st.cut == math.MinInt64 {
		return noSpan
	}
	return span{lo: math.MinInt64, hi: st.cut - 1}
}

// Observe adds ev, of kind, read at pos, keeping only the fields the spec
// reads of that kind (no fields for a kind no aggregate reads: only the
// entity's newest observed time is kept then, for late detection).
// Observe every record the lane processes, of every kind, in the order it
// processes them, after aggregating it.
//
// It reports late: an event of ev's entity with a later time was already
// observed (for a lane that observes each record right after scoring it,
// that is: already scored). A late record still enters the state, in its
// place in time order, and is counted in Stats.Late. Observing a record
// that is already stored (same kind, time and Pos) changes nothing and is
// not late.
//
// When MaxBytes is set and the state is then over it, entities are
// evicted (see the package doc); that can be ev's own entity when
// everything else is gone.
func (st *State) Observe(ev *schemas.Event, kind schemas.EventType, pos Pos) (late bool) {
	if len(st.aggs) == 0 {
		return false
	}
	t := ev.Time.UnixMilli()
	k := st.spec.kindIndex(kind)
	e := st.lookup(ev.Entity)
	if e == nil {
		e = st.create(ev.Entity)
	}
	at := 0
	if k >= 0 && e.ser != nil {
		var dup bool
		if at, dup = e.ser[k].find(t, pos); dup {
			return false
		}
	}
	if late = t < e.seen; late {
		st.lateN++
	}
	e.seen = max(e.seen, t)
	st.seq++
	e.touched = st.seq
	st.track(pos)
	st.toFront(e)
	if k < 0 {
		if t >= e.seenNS {
			e.seenNS, e.nsPos = t, pos
		}
		st.settle(e)
		st.enforce() // a new record takes bytes too
		return late
	}
	if e.ser == nil {
		if len(st.lay) <= serInline {
			e.serBuf = [serInline]series{}
			e.ser = e.serBuf[:len(st.lay):len(st.lay)]
		} else {
			e.ser = make([]series, len(st.lay))
		}
		st.bytes += st.serBytes()
	}
	l := &st.lay[k]
	row := st.row[:l.stride]
	clear(row)
	row[wTime] = uint64(t)
	row[wOffset] = uint64(pos.Offset)
	row[wStream] = uint64(uint32(pos.Stream))
	for j, name := range st.fields[k] {
		v, _ := ev.Field(name)
		var vk uint8
		switch v.Kind {
		case schemas.Number:
			if !math.IsNaN(v.Num) && !math.IsInf(v.Num, 0) {
				vk, row[wValues+j] = vNumber, math.Float64bits(v.Num)
			}
		case schemas.Bool:
			vk, row[wValues+j] = vBool, b2u(v.Num != 0)
		case schemas.String:
			id, b := st.strs.ref(v.Str)
			if b > 0 {
				st.nStrings++
			}
			st.bytes += b
			vk, row[wValues+j] = vString, uint64(id)
		}
		l.setKind(row, j, vk)
	}
	first := at == e.ser[k].head // the series' oldest event: the heap key may change
	st.bytes += 8 * int64(e.ser[k].insert(l.stride, at, row))
	e.n++
	st.events++
	if first || e.n == 1 {
		st.settle(e)
	}
	st.enforce()
	return late
}

// lookup finds entity id's record (nil: none). Aggregate leaves a hint of
// the record it read, since the lane observes the event it just
// aggregated: checking the hint spares a second map lookup.
func (st *State) lookup(id string) *entity {
	if h := st.hint.Load(); h != nil && h.hidx >= 0 && h.id == id {
		return h
	}
	return st.index[id]
}

// track notes pos for Forget.
func (st *State) track(pos Pos) {
	tr := st.streams[pos.Stream]
	if tr == nil {
		tr = &streamTrack{ordered: true}
		st.streams[pos.Stream] = tr
	}
	if tr.n > 0 && pos.Offset <= tr.last {
		tr.ordered = false // not in offset order: Forget scans everything
		tr.marks = nil
	}
	tr.last = pos.Offset
	if tr.ordered && tr.n%markEvery == 0 {
		if len(tr.marks) == maxMarks {
			tr.marks = tr.marks[:copy(tr.marks, tr.marks[maxMarks/2:])]
		}
		tr.marks = append(tr.marks, mark{off: pos.Offset, seq: st.seq})
	}
	tr.n++
}

// create adds a record for entity id, at the head of the LRU list. It
// inherits the history the state may have dropped before it existed.
func (st *State) create(id string) *entity {
	e := &entity{
		seen: math.MinInt64, seenNS: math.MinInt64, seenDrop: math.MinInt64,
		evict: st.lane, expire: st.inheritedExpire(), key: math.MaxInt64, hidx: -1,
	}
	if len(id) <= idInline {
		n := copy(e.idBuf[:], id)
		e.id = unsafe.String(&e.idBuf[0], n)
	} else {
		e.id = strings.Clone(id)
	}
	st.index[e.id] = e
	st.pushFront(&st.live, e)
	st.hpush(e)
	st.bytes += entityBytes + idBytes(e.id)
	return e
}

// remove deletes record e.
func (st *State) remove(e *entity) {
	st.dropEvents(e)
	if e.ser != nil {
		st.bytes -= st.serBytes()
	}
	if e.inTomb {
		st.unlink(&st.tomb, e)
		st.nTomb--
	} else {
		st.unlink(&st.live, e)
	}
	st.hremove(e)
	delete(st.index, e.id)
	st.bytes -= entityBytes + idBytes(e.id)
	e.ser = nil // hidx is -1: a stale hint no longer matches
}

// dropEvents drops every stored event of record e (their strings
// released, their capacity freed) and returns their time span.
func (st *State) dropEvents(e *entity) span {
	sp := noSpan
	for k := range e.ser {
		s := &e.ser[k]
		if s.live() > 0 {
			sp.add(span{lo: s.time(s.head), hi: s.time(s.n - 1)})
			st.release(&st.lay[k], s, s.head, s.n)
		}
		st.bytes -= 8 * int64(cap(s.w))
		*s = series{}
	}
	st.events -= int64(e.n)
	e.n = 0
	if !sp.empty() {
		e.seenDrop = max(e.seenDrop, sp.hi)
	}
	return sp
}

// release drops the string references of rows [from, to) of s.
func (st *State) release(l *layout, s *series, from, to int) {
	for j := range l.nf {
		for r := from; r < to; r++ {
			if s.kind(l, j, r) == vString {
				if b := st.strs.unref(uint32(s.at(wValues+j, r))); b > 0 {
					st.bytes -= b
					st.nStrings--
				}
			}
		}
	}
}

// settle brings record e's place in the heap up to date, frees its series
// when it holds no events, and deletes it when it has nothing left worth
// remembering: no events, no evicted history, and no observation at or
// after the cut (a tombstone's observations do not count: a tombstone is
// kept for its evicted history only).
func (st *State) settle(e *entity) {
	if e.n == 0 {
		if e.ser != nil {
			for k := range e.ser {
				st.bytes -= 8 * int64(cap(e.ser[k].w))
			}
			st.bytes -= st.serBytes()
			e.ser = nil
		}
		if e.evict.empty() && (e.inTomb || e.seen < st.cut || e.seen == math.MinInt64) {
			st.remove(e)
			return
		}
	}
	key := int64(math.MaxInt64)
	for k := range e.ser {
		if s := &e.ser[k]; s.live() > 0 {
			key = min(key, s.time(s.head))
		}
	}
	if !e.evict.empty() {
		key = min(key, e.evict.hi) // folded into expire once the cut passes it
	} else if e.n == 0 {
		key = min(key, e.seen) // deleted once the cut passes it
	}
	if key != e.key {
		e.key = key
		st.hfix(e)
	}
}

// Expire drops the events no window can reach any more: those with time
// < watermark − Longest − Slack. Call it as the lane's event time
// advances (each batch is plenty). A record later than the slack then
// finds its longest windows reaching into dropped history and gets them
// missing (see Aggregate). A watermark older than an earlier one changes
// nothing. Cost: O(log E) per entity whose oldest event expires, plus
// O(log n) per such series (amortised O(1) per dropped event).
func (st *State) Expire(watermark time.Time) {
	st.DropBefore(time.UnixMilli(watermark.UnixMilli() - st.keep))
}

// DropBefore drops every event with time < t, and from then on treats the
// history before t as not held: a window that reaches before t (of an
// entity that may have had events there) is answered missing rather than
// computed over less than it should. Expire(w) is DropBefore(w − Longest
// − Slack); a rebuild that replays history from time R should call
// DropBefore(R) first, so that a record whose window reaches before R is
// not scored as if the entity had no events there.
func (st *State) DropBefore(t time.Time) {
	cut := t.UnixMilli()
	if cut > st.cut {
		st.cut = cut
	}
	for len(st.heap) > 0 {
		e := st.heap[0]
		if e.key >= st.cut {
			return
		}
		for k := range e.ser {
			st.trim(e, k)
		}
		if !e.evict.empty() && e.evict.hi < st.cut {
			e.expire.add(e.evict) // too old to matter as evicted: it is expired now
			e.evict = noSpan
		}
		st.settle(e)
	}
}

// trim drops the events of series k of record e older than the cut.
func (st *State) trim(e *entity, k int) {
	s := &e.ser[k]
	l := &st.lay[k]
	at := s.lower(st.cut)
	if at == s.head {
		return
	}
	e.expire.add(span{lo: s.time(s.head), hi: s.time(at - 1)})
	e.seenDrop = max(e.seenDrop, s.time(at-1))
	st.release(l, s, s.head, at)
	d := at - s.head
	e.n -= d
	st.events -= int64(d)
	s.head = at
	st.bytes += 8 * int64(s.tidy(l.stride))
}

// enforce evicts until the state is within MaxBytes: the least recently
// observed entity first (its events dropped, a tombstone kept with their
// time span); when no entity holds anything but tombstones, the oldest
// tombstone is dropped (its span then counts as dropped for every entity
// seen after).
func (st *State) enforce() {
	if st.opt.MaxBytes <= 0 {
		return
	}
	for st.bytes > st.opt.MaxBytes {
		if e := st.live.tail; e != nil {
			st.evict(e)
			continue
		}
		if e := st.tomb.head; e != nil {
			st.lane.add(e.evict)
			st.tombDropped++
			st.remove(e)
			continue
		}
		return
	}
}

// evict drops the events of live record e, which becomes a tombstone (or
// goes, when it holds no dropped history).
func (st *State) evict(e *entity) {
	if e.n > 0 {
		e.evict.add(st.dropEvents(e))
		st.evictions++
	}
	if e.evict.empty() {
		st.remove(e)
		return
	}
	st.unlink(&st.live, e)
	st.pushBack(&st.tomb, e)
	e.inTomb = true
	st.nTomb++
	st.settle(e)
}

// Forget drops the events of stream observed at offsets ≥ from (an
// exactly-once transaction aborted: its records are fetched again and
// observed anew). It visits the entities observed since the first
// observation at or after from — O(those entities' events), found from a
// mark kept every 256 observations of a stream — or, when the stream was
// not observed in offset order, every entity.
func (st *State) Forget(stream int32, from int64) {
	tr := st.streams[stream]
	if tr == nil {
		return
	}
	var since uint64 // visit entities touched at or after since
	if tr.ordered {
		// the last mark at an offset ≤ from: every observation of the
		// stream before it was at a smaller offset
		lo, hi := 0, len(tr.marks)
		for lo < hi {
			m := (lo + hi) / 2
			if tr.marks[m].off <= from {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo > 0 {
			since = tr.marks[lo-1].seq
		}
		tr.marks = tr.marks[:lo]
	}
	for e := st.live.head; e != nil && e.touched >= since; {
		next := e.next
		st.forgetIn(e, stream, from)
		e = next
	}
	if tr.n > 0 && tr.last >= from {
		tr.last = from - 1
	}
}

// forgetIn drops record e's events of stream at offsets ≥ from.
func (st *State) forgetIn(e *entity, stream int32, from int64) {
	for k := range e.ser {
		s := &e.ser[k]
		l := &st.lay[k]
		out := s.head
		for r := s.head; r < s.n; r++ {
			if p := s.pos(r); p.Stream == stream && p.Offset >= from {
				st.release(l, s, r, r+1)
				continue
			}
			if out != r {
				for j := range l.stride {
					s.w[j*s.c+out] = s.w[j*s.c+r]
				}
			}
			out++
		}
		if d := s.n - out; d > 0 {
			s.n = out
			e.n -= d
			st.events -= int64(d)
			st.bytes += 8 * int64(s.tidy(l.stride))
		}
	}
	if e.seenNS != math.MinInt64 && e.nsPos.Stream == stream && e.nsPos.Offset >= from {
		e.seenNS = math.MinInt64 // the newest unstored observation is lost (late detection may miss)
	}
	e.seen = max(e.seenNS, e.seenDrop)
	for k := range e.ser {
		if s := &e.ser[k]; s.live() > 0 {
			e.seen = max(e.seen, s.time(s.n-1))
		}
	}
	st.settle(e)
}

// lists

func (st *State) unlink(l *list, e *entity) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (st *State) pushFront(l *list, e *entity) {
	e.prev, e.next = nil, l.head
	if l.head != nil {
		l.head.prev = e
	} else {
		l.tail = e
	}
	l.head = e
}

func (st *State) pushBack(l *list, e *entity) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

// toFront makes record e the most recently observed.
func (st *State) toFront(e *entity) {
	if e.inTomb {
		st.unlink(&st.tomb, e)
		e.inTomb = false
		st.nTomb--
		st.pushFront(&st.live, e)
		return
	}
	if st.live.head != e {
		st.unlink(&st.live, e)
		st.pushFront(&st.live, e)
	}
}

// expiry heap: a min-heap of records by key

func (st *State) hless(a, b int) bool { return st.heap[a].key < st.heap[b].key }

func (st *State) hswap(a, b int) {
	st.heap[a], st.heap[b] = st.heap[b], st.heap[a]
	st.heap[a].hidx = int32(a)
	st.heap[b].hidx = int32(b)
}

func (st *State) hup(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !st.hless(j, p) {
			return
		}
		st.hswap(j, p)
		j = p
	}
}

func (st *State) hdown(j int) bool {
	j0 := j
	n := len(st.heap)
	for {
		c := 2*j + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && st.hless(r, c) {
			c = r
		}
		if !st.hless(c, j) {
			break
		}
		st.hswap(j, c)
		j = c
	}
	return j > j0
}

func (st *State) hpush(e *entity) {
	st.heap = append(st.heap, e)
	e.hidx = int32(len(st.heap) - 1)
	st.hup(len(st.heap) - 1)
}

func (st *State) hfix(e *entity) {
	j := int(e.hidx)
	if !st.hdown(j) {
		st.hup(j)
	}
}

func (st *State) hremove(e *entity) {
	j := int(e.hidx)
	n := len(st.heap) - 1
	if j != n {
		st.hswap(j, n)
	}
	st.heap[n] = nil
	st.heap = st.heap[:n]
	if j != n {
		if !st.hdown(j) {
			st.hup(j)
		}
	}
	e.hidx = -1
}

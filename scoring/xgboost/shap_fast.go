package xgboost

import (
	"math"
	"math/bits"
	"slices"
	"unsafe"
)

// The served TreeSHAP: per-leaf tables precomputed once (in the spirit of
// Fast TreeSHAP v2, Yang 2021), then O(nodes + Σ leaves d) per tree and row.
//
// For one leaf of value v whose path splits on the distinct features U
// (|U| = d), path-dependent TreeSHAP is the Shapley value of the game
//
//	f(S) = v · Π_{j∈U∩S} o_j · Π_{j∈U∖S} z_j
//
// where z_j is the product of the cover ratios (child / parent) at the
// path's splits on j and o_j is 1 when the row takes the path's branch at
// every split on j, else 0; a tree's contributions are the sum over its
// leaves. Let T = {j ∈ U : o_j = 1}. Writing out the Shapley sum, only
// coalitions inside T survive, and
//
//	φ_i = −H(T)                      for i ∈ U∖T
//	φ_i = (1/z_i − 1) · H(T∖{i})     for i ∈ T
//
// with, for R ⊊ U,
//
//	H(R) = v · Π_{j∈U∖R} z_j · Σ_{s=0}^{|R|} s!(d−1−s)!/d! · e_{|R|−s}(z_R)
//
// (e_k the elementary symmetric polynomial of degree k of the z_j, j ∈ R).
// H depends on the leaf only, not on the row: its 2^d values are the
// leaf's table. Both cases read H(T∖{i}) (T∖{i} = T when i ∉ T), with the
// factor 1/z_i − 1 or −1 as bit i of T says.
//
// Two sibling leaves L and R under a split on feature j (most leaves, in
// a grown tree) share U, the z of every feature but j, and their patterns
// but for bit j: T_R = (T_L ∖ {j}) ∪ ({j} if the row satisfies j's splits
// down to R). Indexing by I = T_L | b·2^d (b that last bit), the pair
// needs one table M(I) = H_L(T_L) + H_R(T_R) for its d−1 features other
// than j (removing a bit k ≠ j from I removes it from both patterns), and
// one table of j's whole contribution, J(I): d table reads for the pair
// instead of 2d.
//
// Per row, a pass over the tree's splits in breadth-first order (parents
// before children) marks, for every node, the bits of the path features
// whose split the row does not follow; a leaf's (or pair's) pattern is its
// U minus those bits, and its contributions are table reads. The reads are
// grouped by feature, so each feature's sum stays in registers.
//
// A tree keeps the classic algorithm when a leaf has more than
// maxTableBits distinct features on its path, when some z_j is 0 (a child
// of cover 0), or when the model's tables would exceed maxTableEntries.

const (
	maxTableBits    = 12      // 2^13 entries per pair table at most
	maxTableEntries = 1 << 22 // 32 MiB of float64 tables per model
)

// tableNode is one split of the table layout: the split as the complete
// layout holds it (key(split) − 1 and the slot of the expanded row, see
// complete.go) for numeric trees, the node's bit on its path, and its and
// its left child's local indices (the right child follows the left).
type tableNode struct {
	key, slot  uint32
	bit        uint32
	self, left uint16
}

// tableLeaf is a leaf or a pair of sibling leaves of the table layout: the
// bits of its d path features (bit k is the k-th distinct feature from the
// root), its (left) leaf's local index l, and for a pair the right leaf's r
// and the bit pos of the pair's split feature (31 and r = l for a leaf, so
// that its pattern has no bit d).
type tableLeaf struct {
	full uint32
	l, r uint16
	pos  uint8
	d    uint8
}

// tableSlot is one (leaf, path feature) read: the leaf (its index in
// leaves), the offset of the table read, the feature's bit k in the
// pattern, and 1/z. Its term for a pattern t is (1/z − 1)·table[t∖k] when
// bit k of t is set, else −table[t∖k]. (A pair's J slot has k = 31, never
// set, and a negated table.)
type tableSlot struct {
	iz   float64
	off  int32
	leaf uint16
	k    uint16
}

// featSlots ends the run of slots of one feature: slots[previous end :
// end] all add to feat.
type featSlots struct {
	feat int32
	end  int32
}

// buildTables lays out the trees that fit the table algorithm.
func (e *explainer) buildTables() {
	m := e.m
	var b tableBuilder
	for t := range e.trees {
		st := &e.trees[t]
		if st.size == 1 || st.size > math.MaxUint16 {
			continue
		}
		b.reset(st)
		if !b.walk(m, st.root) || len(e.tables)+len(b.tables) > maxTableEntries {
			continue
		}
		base := int32(len(e.tables))
		e.tables = append(e.tables, b.tables...)
		// Slots grouped by feature (features in index order, each one's
		// slots in leaf order): a row's contributions to one feature are
		// then one sum in registers, and no two updates of the row's
		// accumulators wait on each other through memory.
		slices.SortStableFunc(b.slots, func(x, y builtSlot) int { return int(x.feat) - int(y.feat) })
		st.slots = make([]tableSlot, len(b.slots))
		for i, bs := range b.slots {
			st.slots[i] = tableSlot{iz: 1 / bs.z, off: base + bs.off, leaf: uint16(bs.leaf), k: uint16(bs.k)}
			if i+1 == len(b.slots) || b.slots[i+1].feat != bs.feat {
				st.feats = append(st.feats, featSlots{feat: bs.feat, end: int32(i + 1)})
			}
		}
		st.inner, st.leaves, st.numeric = b.inner, b.leaves, b.numeric
	}
}

// builtSlot is a slot while its tree is built.
type builtSlot struct {
	feat    int32
	leaf, k int
	off     int32 // in the tree's tables
	z       float64
}

// tableBuilder walks one tree, depth first, with the distinct features of
// the current path and their z.
type tableBuilder struct {
	st      *shapTree
	feats   []int32
	z       []float64
	inner   []tableNode
	numeric bool // no categorical split, every split finite
	leaves  []tableLeaf
	slots   []builtSlot
	tables  []float64
	esym    []float64 // scratch: e_k(z_R) for every R, (d+1) per R
	hl, hr  []float64 // scratch: a pair's two leaf tables
	zr      []float64 // scratch: the right leaf's z
}

func (b *tableBuilder) reset(st *shapTree) {
	b.st = st
	b.feats, b.z = b.feats[:0], b.z[:0]
	b.inner, b.leaves, b.slots, b.tables = nil, nil, nil, nil
	b.numeric = true
}

// walk visits node i (global index); it reports false when the tree does
// not fit the table layout.
func (b *tableBuilder) walk(m *Model, i int32) bool {
	nd := &m.nodes[i]
	local := i - b.st.root
	if nd.left == 0 {
		return b.leaf(m, i)
	}
	f := int32(nd.info & featureMask)
	pos := -1
	for k, g := range b.feats {
		if g == f {
			pos = k
			break
		}
	}
	added := pos < 0
	if added {
		if len(b.feats) == maxTableBits {
			return false
		}
		pos = len(b.feats)
		b.feats = append(b.feats, f)
		b.z = append(b.z, 1)
	}
	tn := tableNode{bit: 1 << pos, self: uint16(local), left: uint16(nd.left - b.st.root)}
	sp := float64(nd.split)
	if nd.info&categoricalBit != 0 || math.IsInf(sp, 0) {
		b.numeric = false
	} else {
		tn.key = uint32(key(nd.split) - 1)
		tn.slot = 2 * (nd.info & featureMask)
		if nd.info&defaultLeftBit == 0 {
			tn.slot++
		}
	}
	b.inner = append(b.inner, tn)
	c := float64(m.stats[i].cover)
	old := b.z[pos]
	l, r := nd.left, nd.left+1
	zl, zr := old*(float64(m.stats[l].cover)/c), old*(float64(m.stats[r].cover)/c)
	ok := true
	if m.nodes[l].left == 0 && m.nodes[r].left == 0 {
		ok = b.pair(m, l, r, pos, zl, zr)
	} else {
		b.z[pos] = zl
		ok = b.walk(m, l)
		b.z[pos] = zr
		ok = ok && b.walk(m, r)
	}
	b.z[pos] = old
	if added {
		b.feats, b.z = b.feats[:pos], b.z[:pos]
	}
	return ok
}

// usable reports whether every z of a path admits the tables (1/z finite).
func usable(zs []float64) bool {
	for _, z := range zs {
		if !(z > 0) || math.IsInf(1/z, 0) {
			return false
		}
	}
	return true
}

// leaf adds a leaf whose sibling is not a leaf: its table H and d slots.
func (b *tableBuilder) leaf(m *Model, i int32) bool {
	d := len(b.feats)
	if !usable(b.z) {
		return false
	}
	local := uint16(i - b.st.root)
	idx := len(b.leaves)
	b.leaves = append(b.leaves, tableLeaf{full: 1<<d - 1, l: local, r: local, pos: 31, d: uint8(d)})
	off := int32(len(b.tables))
	b.tables = slices.Grow(b.tables, 1<<d)[:len(b.tables)+1<<d]
	b.hTable(b.z, float64(m.stats[i].value)*float64(b.st.weight), b.tables[off:])
	for k, f := range b.feats {
		b.slots = append(b.slots, builtSlot{feat: f, leaf: idx, k: k, off: off, z: b.z[k]})
	}
	return true
}

// pair adds the sibling leaves l and r of a split on the path feature at
// pos, with that feature's z on each side: the tables M and −J over the
// patterns I = T_L | b·2^d, d−1 slots reading M and one reading −J.
func (b *tableBuilder) pair(m *Model, l, r int32, pos int, zl, zr float64) bool {
	d := len(b.feats)
	b.z[pos] = zl
	b.zr = append(b.zr[:0], b.z...)
	b.zr[pos] = zr
	if !usable(b.z) || !usable(b.zr) {
		return false
	}
	n := 1 << d
	b.hl, b.hr = grown(b.hl, n), grown(b.hr, n)
	w := float64(b.st.weight)
	b.hTable(b.z, float64(m.stats[l].value)*w, b.hl)
	b.hTable(b.zr, float64(m.stats[r].value)*w, b.hr)
	full := uint32(n - 1)
	bj := uint32(1) << pos
	rl, rr := 1/zl-1, 1/zr-1
	// H(U) never occurs in a slot's read (a read removes a bit that is
	// set, or reads a pattern with a bit clear); hTable leaves it 0.
	offM := int32(len(b.tables))
	offJ := offM + int32(2*n)
	b.tables = slices.Grow(b.tables, 4*n)[:len(b.tables)+4*n]
	mt, jt := b.tables[offM:offJ], b.tables[offJ:]
	for i := range 2 * n {
		tl, side := uint32(i)&full, uint32(i)>>d
		if side == 1 && tl&bj != 0 {
			continue // no row: j satisfied on both sides
		}
		tr := tl &^ bj
		if side == 1 {
			tr |= bj
		}
		mt[i] = b.hl[tl] + b.hr[tr]
		var j float64
		if tl&bj != 0 {
			j += rl * b.hl[tl^bj]
		} else {
			j -= b.hl[tl]
		}
		if tr&bj != 0 {
			j += rr * b.hr[tr^bj]
		} else {
			j -= b.hr[tr]
		}
		jt[i] = -j
	}
	idx := len(b.leaves)
	b.leaves = append(b.leaves, tableLeaf{full: full, l: uint16(l - b.st.root), r: uint16(r - b.st.root), pos: uint8(pos), d: uint8(d)})
	for k, f := range b.feats {
		if k == pos {
			b.slots = append(b.slots, builtSlot{feat: f, leaf: idx, k: 31, off: offJ, z: 1})
			continue
		}
		b.slots = append(b.slots, builtSlot{feat: f, leaf: idx, k: k, off: offM, z: b.z[k]})
	}
	return true
}

func grown(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// hTable writes H(R) for every R ⊆ U (bit k: the k-th feature of zs) of a
// leaf of value v to dst (2^d entries; H(U), never read, is 0).
func (b *tableBuilder) hTable(zs []float64, v float64, dst []float64) {
	d := len(zs)
	n := 1 << d
	if cap(b.esym) < n*(d+1) {
		b.esym = make([]float64, n*(d+1))
	}
	es := b.esym[:n*(d+1)]
	clear(es[:d+1])
	es[0] = 1
	for r := 1; r < n; r++ {
		low := r & -r
		j := bits.TrailingZeros(uint(low))
		prev, cur := es[(r^low)*(d+1):][:d+1], es[r*(d+1):][:d+1]
		cur[0] = prev[0]
		for k := 1; k <= d; k++ {
			cur[k] = prev[k] + zs[j]*prev[k-1]
		}
	}
	// w[s] = s!(d−1−s)!/d!
	var w [maxTableBits]float64
	for s := 0; s < d; s++ {
		w[s] = math.Exp(lgamma(s+1) + lgamma(d-s) - lgamma(d+1))
	}
	for r := 0; r < n; r++ {
		size := bits.OnesCount(uint(r))
		if size == d {
			dst[r] = 0
			continue
		}
		e := es[r*(d+1):][:d+1]
		var g float64
		for s := 0; s <= size; s++ {
			g += w[s] * e[size-s]
		}
		q := v
		for k := 0; k < d; k++ {
			if r&(1<<k) == 0 {
				q *= zs[k]
			}
		}
		dst[r] = q * g
	}
}

func lgamma(n int) float64 {
	v, _ := math.Lgamma(float64(n))
	return v
}

// expandRow writes row as the complete layout's keys (complete.go): two
// per feature, NaN as −Inf (default left) and +Inf (default right).
func expandRow(row []float32, xk []int64) {
	negInf, posInf := key(float32(math.Inf(-1))), key(float32(math.Inf(1)))
	for f, v := range row {
		if v != v {
			xk[2*f], xk[2*f+1] = negInf, posInf
			continue
		}
		k := key(v)
		xk[2*f], xk[2*f+1] = k, k
	}
}

// tableTree adds one tree's contributions for row (xk its expanded keys)
// to phi; mask has room for the tree's nodes, ts for its leaves.
func (e *explainer) tableTree(st *shapTree, row []float32, xk []int64, phi []float64, mask, ts []uint32) {
	mask[0] = 0
	if st.numeric {
		for i := range st.inner {
			n := &st.inner[i]
			// right is 1 when the row goes right: the sign of
			// (key(split) − 1) − key(x), as in complete.go's walk.
			right := uint32(uint64(int64(n.key)-xk[n.slot]) >> 63)
			mi, b := mask[n.self], n.bit&-right
			mask[n.left], mask[n.left+1] = mi|b, mi|(n.bit^b)
		}
	} else {
		nodes := e.m.nodes[st.root:]
		for i := range st.inner {
			n := &st.inner[i]
			var right uint32
			if e.m.goRight(&nodes[n.self], row) {
				right = 1
			}
			mi, b := mask[n.self], n.bit&-right
			mask[n.left], mask[n.left+1] = mi|b, mi|(n.bit^b)
		}
	}
	// A leaf's pattern is T; a pair's is T_L plus, as bit d, bit pos of
	// T_R (a leaf's pos is 31: full has no bit there).
	ts = ts[:len(st.leaves)]
	for i, lf := range st.leaves {
		tl, tr := lf.full&^mask[lf.l], lf.full&^mask[lf.r]
		ts[i] = tl | (tr>>(lf.pos&31)&1)<<(lf.d&31)
	}
	// No bounds checks below: a slot's leaf indexes leaves (and ts,
	// filled above), and the table it reads has 2^d entries from off
	// (2^(d+1) for a pair's), past any pattern with a bit cleared
	// (buildTables lays them out so).
	tp := unsafe.Pointer(unsafe.SliceData(ts))
	tb := unsafe.Pointer(unsafe.SliceData(e.tables))
	slots := st.slots
	start := int32(0)
	for _, fs := range st.feats {
		phi[fs.feat] += sumSlots(slots[start:fs.end], tp, tb)
		start = fs.end
	}
}

// sumSlots is the sum of the slots' terms for the leaf patterns at ts:
// each the table value of the pattern without the slot's bit, times
// 1/z − 1 when the bit is set, else −1 (without a branch).
func sumSlots(run []tableSlot, ts, tables unsafe.Pointer) float64 {
	var a0, a1 float64
	k := 0
	for ; k+1 < len(run); k += 2 {
		a0 += slotTerm(&run[k], ts, tables)
		a1 += slotTerm(&run[k+1], ts, tables)
	}
	if k < len(run) {
		a0 += slotTerm(&run[k], ts, tables)
	}
	return a0 + a1
}

func slotTerm(s *tableSlot, ts, tables unsafe.Pointer) float64 {
	t := *(*uint32)(unsafe.Add(ts, 4*uintptr(s.leaf)))
	k := uint32(s.k) & 31
	v := *(*float64)(unsafe.Add(tables, 8*(uintptr(s.off)+uintptr(t&^(1<<k)))))
	return (float64(t>>k&1)*s.iz - 1) * v
}

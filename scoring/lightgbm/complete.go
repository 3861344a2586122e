package lightgbm

import (
	"math"
	"math/bits"
	"unsafe"
)

// The fast evaluator, the float64 counterpart of scoring/xgboost's. A tree
// of depth ≤ maxCompleteDepth with finite thresholds and constant leaves
// is padded to a complete binary tree in 1-based heap order, so a row
// takes exactly depth steps of
//
//	i = 2*i + (x[slot[i]] > threshold[i] ? 1 : 0)
//
// with no leaf test and no branch on the data (a leaf above the bottom
// level is extended by dummy splits whose two subtrees repeat it).
//
// LightGBM's missing-value rules cost nothing per split: each row is
// expanded, before the trees are walked, into the views of each feature
// that the model's splits read (a slot per feature and view):
//
//	view          NaN      zero     other
//	plain         0        0        x      missing type None
//	zeroLeft      −Inf     −Inf     x      missing type Zero, default left
//	zeroRight     +Inf     +Inf     x      missing type Zero, default right
//	nanLeft       −Inf     0        x      missing type NaN, default left
//	nanRight      +Inf     0        x      missing type NaN, default right
//
// With finite thresholds −Inf goes left and +Inf right, which is
// NumericalDecision exactly: a NaN at a None split is 0.0, a missing value
// goes to the default child, everything else left iff x <= threshold.
// Values are compared as order-preserving uint64 keys, so that "x >
// threshold" is the borrow of one subtraction.
//
// A categorical split reads a slot of its own (shared by the splits with
// the same feature and bitset) that holds CategoricalDecision already
// taken: 0 when the row's category is in the bitset (left), 1 otherwise
// (NaN, negative, out of the int range, beyond the bitset, bit clear), and
// the split's threshold is 0. A model whose categorical splits would need
// more slots than maxCatSlots per tree keeps its categorical trees on the
// node walk (expanding a slot per bitset would then cost more than
// walking).
//
// Rows are walked eight at a time through one tree (independent chains the
// CPU overlaps), trees in file order, so each row's float64 sum is still
// in tree order; trees that do not qualify (linear leaves, deep trees,
// infinite thresholds) are walked by walkTree in the same order. Expanded
// rows are stored in groups of eight, slot-major (the eight keys of a slot
// side by side), so one base register serves the eight rows of a walk
// whatever the number of slots. On amd64 the walk is a small assembly
// kernel (walk_amd64.s); elsewhere, or with -tags purego, the same loop in
// Go.

const (
	// maxCompleteDepth bounds the padded trees; deeper or lopsided trees
	// (2^depth above maxPadding times their node count) are sparse, up to
	// maxSparseDepth steps.
	maxCompleteDepth = 10
	maxPadding       = 4
	maxSparseDepth   = 48
	// maxCatSlots bounds the categorical slots per qualifying tree.
	maxCatSlots = 8
)

// Views of a feature (see above).
const (
	viewPlain = iota
	viewZeroLeft
	viewZeroRight
	viewNaNLeft
	viewNaNRight
	viewCategory // 0 in the split's bitset, 1 not
)

type fastLayout struct {
	trees []ctree
	width int        // slots per expanded row
	slots []uint8    // view of each slot
	feat  []int32    // feature of each slot
	sets  [][]uint32 // bitset of each viewCategory slot
}

// slotKey identifies a slot: a feature, a view and, for viewCategory, the
// bitset's words.
type slotKey struct {
	feat int32
	view int
	set  string
}

// ctree is one complete tree: split i (1-based heap order, index 0
// unused) goes right when the key in slot slots[i]/8 exceeds keys[i], the
// key of its threshold (slots hold 8·slot: the byte offset of the slot's
// keys in a group, divided by the 8 the walk scales it by).
//
// A sparse tree (next != nil: too deep or too lopsided to pad, as
// LightGBM's leaf-wise trees often are) keeps its own nodes, splits then
// leaves, with explicit children: a step is i = next[2i + right], and a
// leaf is a node that goes to itself whatever the row (key MaxUint64:
// nothing exceeds it), so every row still takes exactly depth steps with
// no branch, and ends on its leaf; leaves then holds every node's value
// (0 for splits).
type ctree struct {
	depth  int
	keys   []uint64
	slots  []uint32
	leaves []float64 // 2^depth; a sparse tree: one per node
	next   []uint32  // a sparse tree: the two children of each node
}

// key maps a non-NaN float64 to a uint64 of the same order; −0 and +0 map
// to the same key, as they compare equal.
func key(f float64) uint64 {
	u := math.Float64bits(f + 0) // f + 0 turns −0 into +0
	if u>>63 != 0 {
		return ^u
	}
	return u | 1<<63
}

var (
	keyNegInf = key(math.Inf(-1))
	keyPosInf = key(math.Inf(1))
	keyZero   = key(0)
	keyOne    = key(1)
)

// inSet is CategoricalDecision's test: whether v's category is in the
// bitset (see Model.categorical).
func inSet(v float64, set []uint32) bool {
	if v != v || !(v > -2147483649 && v < 2147483648) {
		return false
	}
	c := int32(v)
	return c >= 0 && int(c/32) < len(set) && (set[c/32]>>(uint32(c)%32))&1 != 0
}

// fastKind says how tree tr is walked: complete, sparse or not at all
// (node walk).
func (m *Model) fastKind(tr *tree) (complete, sparse bool) {
	if tr.isLinear || tr.nLeaves < 2 || !m.finite(tr.nodeOff) {
		return false, false
	}
	d := m.depth(tr.nodeOff)
	if d <= maxCompleteDepth && 1<<d <= maxPadding*(2*int(tr.nLeaves)-1) {
		return true, false
	}
	return false, d <= maxSparseDepth
}

func (m *Model) buildFast() {
	slotOf := map[slotKey]int{}
	var out []ctree
	ncat, nfast := 0, 0
	for t := range m.trees {
		tr := &m.trees[t]
		tr.fast = -1
		if c, sp := m.fastKind(tr); !c && !sp {
			continue
		}
		nfast++
		for i := tr.nodeOff; i < tr.nodeOff+tr.nLeaves-1; i++ {
			if m.nodes[i].categorical {
				ncat++ // at most this many slots
			}
		}
	}
	cats := ncat <= maxCatSlots*max(nfast, 1)
	for t := range m.trees {
		tr := &m.trees[t]
		complete, sparse := m.fastKind(tr)
		if !complete && !sparse || (tr.hasCat && !cats) {
			continue
		}
		d := m.depth(tr.nodeOff)
		var ct ctree
		if complete {
			ct = ctree{depth: d, keys: make([]uint64, 1<<d), slots: make([]uint32, 1<<d), leaves: make([]float64, 1<<d)}
			m.fill(&ct, tr.nodeOff, 1, 0, slotOf)
		} else {
			ct = m.sparse(tr, d, slotOf)
		}
		tr.fast = int32(len(out))
		out = append(out, ct)
	}
	if len(out) == 0 {
		return
	}
	m.fast.trees = out
	m.fast.width = len(slotOf)
	m.fast.slots = make([]uint8, len(slotOf))
	m.fast.feat = make([]int32, len(slotOf))
	m.fast.sets = make([][]uint32, len(slotOf))
	for sk, s := range slotOf {
		m.fast.feat[s], m.fast.slots[s] = sk.feat, uint8(sk.view)
		if sk.view == viewCategory {
			set := make([]uint32, len(sk.set)/4)
			for w := range set {
				set[w] = uint32(sk.set[4*w]) | uint32(sk.set[4*w+1])<<8 | uint32(sk.set[4*w+2])<<16 | uint32(sk.set[4*w+3])<<24
			}
			m.fast.sets[s] = set
		}
	}
}

// sparse lays out tree tr (depth d) as a sparse tree: split j is node j,
// leaf l is node splits+l.
func (m *Model) sparse(tr *tree, d int, slotOf map[slotKey]int) ctree {
	ns := int(tr.nLeaves - 1)
	n := ns + int(tr.nLeaves)
	ct := ctree{depth: d, keys: make([]uint64, n), slots: make([]uint32, n), leaves: make([]float64, n), next: make([]uint32, 2*n)}
	ref := func(c int32) uint32 {
		if c >= 0 {
			return uint32(c - tr.nodeOff)
		}
		return uint32(ns) + uint32(^c-tr.leafOff)
	}
	for j := 0; j < ns; j++ {
		nd := &m.nodes[tr.nodeOff+int32(j)]
		ct.keys[j], ct.slots[j] = m.slot(nd, slotOf)
		ct.next[2*j], ct.next[2*j+1] = ref(nd.left), ref(nd.right)
	}
	for l := 0; l < int(tr.nLeaves); l++ {
		j := ns + l
		ct.keys[j] = math.MaxUint64 // no key exceeds it: always next[2j] = j
		ct.next[2*j], ct.next[2*j+1] = uint32(j), uint32(j)
		ct.leaves[j] = m.leaves[tr.leafOff+int32(l)]
	}
	return ct
}

// slot returns the threshold key and the 8·slot a split reads, creating
// the slot on first use.
func (m *Model) slot(nd *node, slotOf map[slotKey]int) (uint64, uint32) {
	sk := slotKey{feat: nd.feat, view: viewOf(nd)}
	thr := nd.thr
	if nd.categorical {
		sk.view, thr = viewCategory, 0
		b := make([]byte, 0, 4*(nd.catHi-nd.catLo))
		for _, w := range m.cats[nd.catLo:nd.catHi] {
			b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
		}
		sk.set = string(b)
	}
	s, ok := slotOf[sk]
	if !ok {
		s = len(slotOf)
		slotOf[sk] = s
	}
	return key(thr), uint32(8 * s)
}

// depth of the subtree at child reference i (0 for a leaf).
func (m *Model) depth(i int32) int {
	if i < 0 {
		return 0
	}
	nd := &m.nodes[i]
	return 1 + max(m.depth(nd.left), m.depth(nd.right))
}

func (m *Model) finite(i int32) bool {
	if i < 0 {
		return true
	}
	nd := &m.nodes[i]
	return (nd.categorical || !math.IsInf(nd.thr, 0) && !math.IsNaN(nd.thr)) && m.finite(nd.left) && m.finite(nd.right)
}

func viewOf(nd *node) int {
	switch {
	case nd.missing == missZero && nd.defaultLeft:
		return viewZeroLeft
	case nd.missing == missZero:
		return viewZeroRight
	case nd.missing == missNaN && nd.defaultLeft:
		return viewNaNLeft
	case nd.missing == missNaN:
		return viewNaNRight
	}
	return viewPlain
}

// fill places the subtree at child reference i at heap position pos
// (level lvl).
func (m *Model) fill(ct *ctree, i int32, pos, lvl int, slotOf map[slotKey]int) {
	if lvl == ct.depth { // bottom level: pos indexes a leaf
		ct.leaves[pos-(1<<ct.depth)] = m.leaves[^i]
		return
	}
	if i < 0 { // a leaf above the bottom: both subtrees repeat it
		m.fill(ct, i, 2*pos, lvl+1, slotOf)
		m.fill(ct, i, 2*pos+1, lvl+1, slotOf)
		return
	}
	nd := &m.nodes[i]
	ct.keys[pos], ct.slots[pos] = m.slot(nd, slotOf)
	m.fill(ct, nd.left, 2*pos, lvl+1, slotOf)
	m.fill(ct, nd.right, 2*pos+1, lvl+1, slotOf)
}

// groupWords is the size, in keys, of a group of eight expanded rows.
func (f *fastLayout) groupWords() int { return 8 * f.width }

// expand writes rows rows of x as keys: row r's key of slot s at
// dst[(r/8)·groupWords + 8·s + r%8]. dst holds ⌈rows/8⌉ groups; the
// slots of the rows that pad the last group are left as they are.
func (f *fastLayout) expand(x []float64, rows, nf int, dst []uint64) {
	g := f.groupWords()
	for r := 0; r < rows; r++ {
		row := x[r*nf : (r+1)*nf : (r+1)*nf]
		d := dst[(r/8)*g+r%8 : (r/8+1)*g : (r/8+1)*g]
		for s, view := range f.slots {
			v := input(row[f.feat[s]])
			var k uint64
			switch {
			case view == viewCategory:
				k = keyOne
				if inSet(v, f.sets[s]) {
					k = keyZero
				}
			case v == v && (v != 0 || view < viewZeroLeft || view > viewZeroRight):
				k = key(v)
			case view == viewZeroLeft || view == viewNaNLeft:
				k = keyNegInf
			case view == viewZeroRight || view == viewNaNRight:
				k = keyPosInf
			default: // NaN at a None split: 0.0
				k = keyZero
			}
			d[8*s] = k
		}
	}
}

// walk adds tree t's leaf for each of rows expanded rows to acc[r*k].
func (f *fastLayout) walk(t int, keys []uint64, rows int, acc []float64, k int) {
	ct := &f.trees[t]
	d := ct.depth
	base := 1 << d
	kb := unsafe.Pointer(unsafe.SliceData(ct.keys))
	sb := unsafe.Pointer(unsafe.SliceData(ct.slots))
	xb := unsafe.Pointer(unsafe.SliceData(keys))
	gb := uintptr(8 * f.groupWords()) // bytes per group
	// No bounds checks in the walks: after j ≤ depth steps a heap index is
	// below 2^(j+1), keys and slots have 2^depth entries and are read only
	// for j < depth; slots are below the row width.
	full := rows / 8
	lp := unsafe.Pointer(unsafe.SliceData(ct.leaves))
	if ct.next != nil {
		nb := unsafe.Pointer(unsafe.SliceData(ct.next))
		if full > 0 {
			walkSparse(kb, sb, nb, xb, gb, d, full, lp, unsafe.Pointer(&acc[0]), uintptr(8*k))
		}
		if r := 8 * full; r < rows {
			is := walk8Sparse(kb, sb, nb, unsafe.Add(xb, uintptr(full)*gb), d)
			for j := 0; r+j < rows; j++ {
				acc[(r+j)*k] += ct.leaves[is[j]]
			}
		}
		return
	}
	if full > 0 {
		walkTree(kb, sb, xb, gb, d, full, lp, unsafe.Pointer(&acc[0]), uintptr(8*k))
	}
	if r := 8 * full; r < rows { // the last, partial group
		is := walk8(kb, sb, unsafe.Add(xb, uintptr(full)*gb), d)
		for j := 0; r+j < rows; j++ {
			acc[(r+j)*k] += ct.leaves[int(is[j])-base]
		}
	}
}

// walk8Sparse takes a group of eight expanded rows through a sparse tree
// and returns the nodes (leaves) they end on.
func walk8Sparse(kb, sb, nb, xg unsafe.Pointer, d int) [8]uintptr {
	var i0, i1, i2, i3, i4, i5, i6, i7 uintptr
	for range d {
		i0 = next(nb, 2*i0+right(xg, kb, sb, i0))
		i1 = next(nb, 2*i1+right(unsafe.Add(xg, 8), kb, sb, i1))
		i2 = next(nb, 2*i2+right(unsafe.Add(xg, 16), kb, sb, i2))
		i3 = next(nb, 2*i3+right(unsafe.Add(xg, 24), kb, sb, i3))
		i4 = next(nb, 2*i4+right(unsafe.Add(xg, 32), kb, sb, i4))
		i5 = next(nb, 2*i5+right(unsafe.Add(xg, 40), kb, sb, i5))
		i6 = next(nb, 2*i6+right(unsafe.Add(xg, 48), kb, sb, i6))
		i7 = next(nb, 2*i7+right(unsafe.Add(xg, 56), kb, sb, i7))
	}
	return [8]uintptr{i0, i1, i2, i3, i4, i5, i6, i7}
}

func next(nb unsafe.Pointer, j uintptr) uintptr { return uintptr(*(*uint32)(unsafe.Add(nb, 4*j))) }

// walkSparseGo is walkTreeGo for sparse trees (leaves indexed by node); on
// amd64 walkSparse is the same computation in assembly.
func walkSparseGo(kb, sb, nb, xb unsafe.Pointer, gb uintptr, d, groups int, leaves, acc unsafe.Pointer, stride uintptr) {
	for grp := range groups {
		is := walk8Sparse(kb, sb, nb, unsafe.Add(xb, uintptr(grp)*gb), d)
		for j, i := range is {
			a := (*float64)(unsafe.Add(acc, uintptr(grp*8+j)*stride))
			*a += *(*float64)(unsafe.Add(leaves, 8*i))
		}
	}
}

// walk8 takes a group of eight expanded rows through one complete tree of
// depth d and returns their bottom-level heap indices.
func walk8(kb, sb, xg unsafe.Pointer, d int) [8]uintptr {
	var i0, i1, i2, i3, i4, i5, i6, i7 uintptr = 1, 1, 1, 1, 1, 1, 1, 1
	for range d {
		i0 = 2*i0 + right(xg, kb, sb, i0)
		i1 = 2*i1 + right(unsafe.Add(xg, 8), kb, sb, i1)
		i2 = 2*i2 + right(unsafe.Add(xg, 16), kb, sb, i2)
		i3 = 2*i3 + right(unsafe.Add(xg, 24), kb, sb, i3)
		i4 = 2*i4 + right(unsafe.Add(xg, 32), kb, sb, i4)
		i5 = 2*i5 + right(unsafe.Add(xg, 40), kb, sb, i5)
		i6 = 2*i6 + right(unsafe.Add(xg, 48), kb, sb, i6)
		i7 = 2*i7 + right(unsafe.Add(xg, 56), kb, sb, i7)
	}
	return [8]uintptr{i0, i1, i2, i3, i4, i5, i6, i7}
}

// walkTreeGo walks groups full groups of eight expanded rows (gb bytes
// apart, groups ≥ 1) through one tree and adds each row's leaf to its
// float64 accumulator; accumulators are stride bytes apart from acc on.
// On amd64, walkTree is the same computation in assembly (walk_amd64.s);
// elsewhere walkTree is walkTreeGo.
func walkTreeGo(kb, sb, xb unsafe.Pointer, gb uintptr, d, groups int, leaves, acc unsafe.Pointer, stride uintptr) {
	for grp := range groups {
		is := walk8(kb, sb, unsafe.Add(xb, uintptr(grp)*gb), d)
		for j, i := range is {
			a := (*float64)(unsafe.Add(acc, uintptr(grp*8+j)*stride))
			*a += *(*float64)(unsafe.Add(leaves, 8*(int(i)-1<<d)))
		}
	}
}

// right is 1 when the row whose keys start at xr goes right at split i:
// key(x) > key(threshold), the borrow of key(threshold) − key(x). The
// slot's key for this row is at xr + 8·slots[i]·8.
func right(xr, kb, sb unsafe.Pointer, i uintptr) uintptr {
	k := *(*uint64)(unsafe.Add(kb, 8*i))
	s8 := *(*uint32)(unsafe.Add(sb, 4*i))
	_, borrow := bits.Sub64(k, *(*uint64)(unsafe.Add(xr, 8*uintptr(s8))), 0)
	return uintptr(borrow)
}

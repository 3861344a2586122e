package xgboost

import (
	"math"
	"math/bits"
	"slices"
	"unsafe"
)

// The served TreeSHAP: per-group tables precomputed once (in the spirit of
// Fast TreeSHAP v2, Yang 2021), then per tree and row one pass over its
// splits and one read of a few contiguous values per group of leaves.
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
// H depends on the leaf only, not on the row.
//
// Groups. The leaves are taken in groups: the leaves of a subtree of at
// most maxGroupSplits splits (and a leaf whose sibling's subtree is
// larger, alone). Let P be the distinct features on the path to the
// group's root (p of them) and s its splits. A row's state, as far as the
// group's leaves are concerned, is the index
//
//	I = T_P | (the row's direction at each of the s splits) · 2^p
//
// (T_P ⊆ P the features whose splits above the root the row follows):
// every leaf's pattern T is a function of I. So the group's contributions
// to its features (P and those split on in the subtree) are a function of
// I alone, summed over its leaves at load: the group's table holds, per
// index, one value per feature, contiguous. A row reads one index per
// group; a sibling pair of leaves whose split feature is new to the path
// costs 2^d × d values, as one leaf's table would.
//
// Per row and tree, a pass over the splits above the groups, parents
// before children, marks for every node the bits of the path features
// whose split the row does not follow; a second pass computes each
// group's index (its P's bits minus its root's marks, plus the row's
// direction at each of its splits, decided there) and so the offset of
// the values it reads, and prefetches them (prefetch_amd64.s); a third
// adds those values to the row's contributions. Keeping the reads apart
// from the index arithmetic, and prefetching them, keeps many of them in
// flight: on a model whose tables do not fit the core's cache, the reads
// are what a row costs (half the samples of a CPU profile of the fraud
// model without the prefetch).
//
// The layout was chosen by measurement on the fraud model (200 trees,
// depth 6): one table read per (leaf, feature), the previous layout, ran
// about 850k instructions per row; these groups about 310k. The values
// are float32 (1.85 MB of tables for that model, not 3.7 MB): with the
// prefetch, rows are 16–40% faster than with float64 values (four
// interleaved pairs of BenchmarkExplainFraud), and the agreement with
// XGBoost, which computes TreeSHAP in float32 itself, is the same to the
// last reported digit (worst value 0.107 of the tolerance on the
// reference models, either way). Each row's sums stay float64.
//
// A tree keeps the classic algorithm when a leaf has more than
// maxTableBits distinct features on its path, when some z_j is 0 (a child
// of cover 0), or when the model's tables would exceed maxTableEntries.

const (
	maxTableBits   = 12 // index bits of a group at most
	maxGroupSplits = 3  // splits in a group at most
)

// maxTableEntries caps a model's table values: 64 MiB of them. The trees
// are laid out in order while they fit; a tree that would pass the cap
// takes the classic algorithm (and a smaller one after it may still fit).
// Deep trees make large tables (a leaf's group holds 2^(its path's
// distinct features) values per feature): on a model of 150 trees of
// depth 9 (17 features) the tables take 28 MB for every tree and explain
// about 13 times as many rows per second as with the 16 MiB cap before,
// under which half the trees took the classic algorithm. A variable for
// the tests.
var maxTableEntries = 1 << 24

// tableNode is one split above the groups: the split as the complete
// layout holds it (key(split) − 1 and the slot of the expanded row, see
// complete.go) for numeric trees, the node's bit on its path, and its and
// its left child's local indices (the right child follows the left).
type tableNode struct {
	key, slot  uint32
	bit        uint32
	self, left uint16
}

// tableLeaf is a group of the table layout: full has the bits of P, root
// is the group's root (local index), p = |P|; its ns splits are dec (global
// node indices) and, for a numeric tree, key and slot as in tableNode (an
// unused one has key MaxUint32: never right). Its values are nv per index
// from off in the explainer's tables, the contributions to the features at
// feat[fo : fo+nv].
type tableLeaf struct {
	full      uint32
	root      uint16
	p, ns, nv uint8
	off, fo   int32
	key, slot [maxGroupSplits]uint32
	dec       [maxGroupSplits]int32
}

// tval is the type of the tables' values.
type tval = float32

// buildTables lays out the trees that fit the table algorithm.
func (e *explainer) buildTables() {
	m := e.m
	var b tableBuilder
	for t := range e.trees {
		st := &e.trees[t]
		if st.size == 1 || st.size > math.MaxUint16 {
			continue
		}
		b.reset(m, st)
		b.budget = maxTableEntries - len(e.tables)
		if !b.walk(st.root) {
			continue
		}
		base, fbase := int32(len(e.tables)), int32(len(e.feat))
		e.tables = append(e.tables, b.tables...)
		e.feat = append(e.feat, b.feat...)
		for i := range b.leaves {
			b.leaves[i].off += base
			b.leaves[i].fo += fbase
		}
		st.inner, st.leaves, st.numeric = b.inner, b.leaves, b.numeric
	}
	if cap(e.tables)-len(e.tables) > len(e.tables)/8 {
		e.tables = slices.Clone(e.tables) // up to 64 MiB: no append slack kept
	}
}

// tableBuilder walks one tree, depth first, with the distinct features of
// the current path and their z.
type tableBuilder struct {
	m       *Model
	st      *shapTree
	budget  int // table values the tree may add (what the model's cap leaves)
	feats   []int32
	z       []float64
	inner   []tableNode
	numeric bool // no categorical split, every split finite
	leaves  []tableLeaf
	feat    []int32
	tables  []tval
	esym    []float64 // scratch: e_k(z_R) for every R, (d+1) per R
	h       []float64 // scratch: a leaf's H
	acc     []float64 // scratch: a group's values
	gl      []groupLeaf
}

// groupLeaf is a leaf of the group being built: its node, its path's
// features (positions in the group's value vector) and their z, and the
// steps from the group's root: split k of the group, went right.
type groupLeaf struct {
	node  int32
	pos   []int
	z     []float64
	steps []groupStep
}

type groupStep struct {
	split, pos int // the split's index in the group, its feature's position
	right      bool
}

func (b *tableBuilder) reset(m *Model, st *shapTree) {
	b.m, b.st = m, st
	b.feats, b.z = b.feats[:0], b.z[:0]
	b.inner, b.leaves, b.feat, b.tables = nil, nil, nil, nil
	b.numeric = true
}

// splits counts the splits of node i's subtree, up to limit+1.
func (b *tableBuilder) splits(i int32, limit int) int {
	nd := &b.m.nodes[i]
	if nd.left == 0 {
		return 0
	}
	n := 1 + b.splits(nd.left, limit)
	if n > limit {
		return n
	}
	return n + b.splits(nd.left+1, limit-n+1)
}

// node appends split i, on the path above groups, with its bit.
func (b *tableBuilder) node(i int32, bit uint32) {
	nd := &b.m.nodes[i]
	tn := tableNode{bit: bit, self: uint16(i - b.st.root), left: uint16(nd.left - b.st.root)}
	tn.key, tn.slot = b.keySlot(i)
	b.inner = append(b.inner, tn)
}

// keySlot is split i as the complete layout holds it (key(split) − 1 and
// the slot of the expanded row); a categorical or infinite split makes
// the tree non-numeric.
func (b *tableBuilder) keySlot(i int32) (key32, slot uint32) {
	nd := &b.m.nodes[i]
	if nd.info&categoricalBit != 0 || math.IsInf(float64(nd.split), 0) {
		b.numeric = false
		return 0, 0
	}
	slot = 2 * (nd.info & featureMask)
	if nd.info&defaultLeftBit == 0 {
		slot++
	}
	return uint32(key(nd.split) - 1), slot
}

// walk visits node i (global index); it reports false when the tree does
// not fit the table layout.
func (b *tableBuilder) walk(i int32) bool {
	m := b.m
	nd := &m.nodes[i]
	if nd.left == 0 {
		return b.group(i)
	}
	if s := b.splits(i, maxGroupSplits); s <= maxGroupSplits && len(b.feats)+s <= maxTableBits {
		return b.group(i)
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
	b.node(i, 1<<pos)
	c := float64(m.stats[i].cover)
	old := b.z[pos]
	l, r := nd.left, nd.left+1
	b.z[pos] = old * (float64(m.stats[l].cover) / c)
	ok := b.walk(l)
	b.z[pos] = old * (float64(m.stats[r].cover) / c)
	ok = ok && b.walk(r)
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

// group adds the group rooted at node g (a leaf, or a split whose subtree
// has at most maxGroupSplits splits): its splits to the inner list and
// its table, the sum over its leaves of their contributions per index.
func (b *tableBuilder) group(g int32) bool {
	m := b.m
	p := len(b.feats)
	gf := append([]int32(nil), b.feats...) // the group's features: P, then new ones
	b.gl = b.gl[:0]
	var dec []int32
	var visit func(i int32, pos []int, z []float64, steps []groupStep)
	visit = func(i int32, pos []int, z []float64, steps []groupStep) {
		nd := &m.nodes[i]
		if nd.left == 0 {
			b.gl = append(b.gl, groupLeaf{node: i, pos: pos, z: z, steps: steps})
			return
		}
		k := len(dec)
		dec = append(dec, i)
		f := int32(nd.info & featureMask)
		fp := -1
		for q, h := range gf {
			if h == f {
				fp = q
				break
			}
		}
		if fp < 0 {
			fp = len(gf)
			gf = append(gf, f)
		}
		c := float64(m.stats[i].cover)
		for _, right := range []bool{false, true} {
			ch := nd.left
			if right {
				ch++
			}
			ratio := float64(m.stats[ch].cover) / c
			cpos, cz := clonePath(pos, z)
			at := -1
			for q, v := range cpos {
				if v == fp {
					at = q
				}
			}
			if at < 0 {
				cpos, cz = append(cpos, fp), append(cz, 1)
				at = len(cpos) - 1
			}
			cz[at] *= ratio
			cs := append(append([]groupStep(nil), steps...), groupStep{split: k, pos: fp, right: right})
			visit(ch, cpos, cz, cs)
		}
	}
	pos0 := make([]int, p)
	for q := range pos0 {
		pos0[q] = q
	}
	visit(g, pos0, append([]float64(nil), b.z...), nil)
	s, nv := len(dec), len(gf)
	bitsN := p + s
	if bitsN > maxTableBits {
		return false
	}
	n := 1 << bitsN
	if len(b.tables)+n*nv > b.budget {
		return false // over the model's cap: not worth computing
	}
	b.acc = grown(b.acc, n*nv)
	clear(b.acc)
	w := float64(b.st.weight)
	for _, lf := range b.gl {
		if !usable(lf.z) {
			return false
		}
		d := len(lf.pos)
		b.h = grown(b.h, 1<<d)
		b.hTable(lf.z, float64(m.stats[lf.node].value)*w, b.h)
		for idx := range n {
			// the leaf's pattern T at index idx: bit q for its q-th
			// feature, set when the row satisfies its splits
			var t uint32
			for q, fp := range lf.pos {
				sat := fp >= p || idx>>fp&1 == 1
				for _, st := range lf.steps {
					if st.pos == fp && (idx>>(p+st.split)&1 == 1) != st.right {
						sat = false
					}
				}
				if sat {
					t |= 1 << q
				}
			}
			v := b.acc[idx*nv:][:nv]
			for q, fp := range lf.pos {
				v[fp] += (float64(t>>q&1)*(1/lf.z[q]) - 1) * b.h[t&^(1<<q)]
			}
		}
	}
	off := len(b.tables)
	for _, v := range b.acc[:n*nv] {
		b.tables = append(b.tables, tval(v))
	}
	lf := tableLeaf{full: 1<<p - 1, root: uint16(g - b.st.root), p: uint8(p), ns: uint8(s), nv: uint8(nv), off: int32(off), fo: int32(len(b.feat))}
	for k := range lf.dec {
		// an unused split never goes right
		lf.dec[k], lf.key[k] = b.st.root, math.MaxUint32
		if k < s {
			lf.dec[k] = dec[k]
			lf.key[k], lf.slot[k] = b.keySlot(dec[k])
		}
	}
	b.feat = append(b.feat, gf...)
	b.leaves = append(b.leaves, lf)
	return true
}

// clonePath copies a leaf path's positions and z.
func clonePath(pos []int, z []float64) ([]int, []float64) {
	return append([]int(nil), pos...), append([]float64(nil), z...)
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
// to phi; mask and vo have room for the tree's nodes (vo: a value offset
// per group).
//
// No bounds checks in the loops: a node's and its children's local
// indices are below the tree's size (≤ len(mask)), a split's slot below
// len(xk), a group's values for any index of its p+ns bits lie in the
// tables, its features in feat, and a feature is below len(phi)
// (buildTables and Explain lay them out so).
func (e *explainer) tableTree(st *shapTree, row []float32, xk []int64, phi []float64, mask, vo []uint32) {
	mask[0] = 0
	inner, leaves := st.inner, st.leaves
	mp := unsafe.Pointer(unsafe.SliceData(mask))
	xp := unsafe.Pointer(unsafe.SliceData(xk))
	// right is 1 when the row goes right at a split: the sign of
	// (key(split) − 1) − key(x), as in complete.go's walk.
	right := func(key, slot uint32) uint32 {
		return uint32(uint64(int64(key)-*(*int64)(unsafe.Add(xp, 8*uintptr(slot)))) >> 63)
	}
	if st.numeric {
		for i := range inner {
			n := &inner[i]
			mi, b := *(*uint32)(unsafe.Add(mp, 4*uintptr(n.self))), n.bit&-right(n.key, n.slot)
			ch := (*[2]uint32)(unsafe.Add(mp, 4*uintptr(n.left)))
			ch[0], ch[1] = mi|b, mi|(n.bit^b)
		}
	} else {
		nodes := e.m.nodes[st.root:]
		for i := range inner {
			n := &inner[i]
			var right uint32
			if e.m.goRight(&nodes[n.self], row) {
				right = 1
			}
			mi, b := mask[n.self], n.bit&-right
			mask[n.left], mask[n.left+1] = mi|b, mi|(n.bit^b)
		}
	}
	// Two passes: the groups' indices first (no cache misses), then the
	// reads, which the processor can then keep many of in flight.
	vp := unsafe.Pointer(unsafe.SliceData(vo))
	for i := range leaves {
		lf := &leaves[i]
		p := lf.p & 31
		idx := lf.full &^ *(*uint32)(unsafe.Add(mp, 4*uintptr(lf.root)))
		if st.numeric {
			idx |= right(lf.key[0], lf.slot[0])<<p |
				right(lf.key[1], lf.slot[1])<<(p+1) |
				right(lf.key[2], lf.slot[2])<<(p+2)
		} else {
			for k := range lf.ns {
				if e.m.goRight(&e.m.nodes[lf.dec[k]], row) {
					idx |= 1 << (p + k)
				}
			}
		}
		*(*uint32)(unsafe.Add(vp, 4*uintptr(i))) = uint32(lf.off) + idx*uint32(lf.nv)
	}
	tb := unsafe.Pointer(unsafe.SliceData(e.tables))
	prefetchValues(tb, vp, len(leaves))
	fb := unsafe.Pointer(unsafe.SliceData(e.feat))
	pb := unsafe.Pointer(unsafe.SliceData(phi))
	for i := range leaves {
		lf := &leaves[i]
		nv := uintptr(lf.nv)
		v := unsafe.Add(tb, unsafe.Sizeof(tval(0))*uintptr(*(*uint32)(unsafe.Add(vp, 4*uintptr(i)))))
		f := unsafe.Add(fb, 4*uintptr(lf.fo))
		k := uintptr(0)
		for ; k+1 < nv; k += 2 {
			p0 := (*float64)(unsafe.Add(pb, 8*uintptr(*(*int32)(unsafe.Add(f, 4*k)))))
			p1 := (*float64)(unsafe.Add(pb, 8*uintptr(*(*int32)(unsafe.Add(f, 4*k+4)))))
			v0 := *(*tval)(unsafe.Add(v, unsafe.Sizeof(tval(0))*k))
			v1 := *(*tval)(unsafe.Add(v, unsafe.Sizeof(tval(0))*(k+1)))
			*p0 += float64(v0)
			*p1 += float64(v1)
		}
		if k < nv {
			p0 := (*float64)(unsafe.Add(pb, 8*uintptr(*(*int32)(unsafe.Add(f, 4*k)))))
			*p0 += float64(*(*tval)(unsafe.Add(v, unsafe.Sizeof(tval(0))*k)))
		}
	}
}

package xgboost

import (
	"math"
	"sync"
	"unsafe"
)

// The fast evaluator. Every tree of depth ≤ maxCompleteDepth is padded to a
// complete binary tree in 1-based heap order, so a row takes exactly depth
// steps of
//
//	i = 2*i + (x[slot[i]] >= split[i] ? 1 : 0)
//
// with no leaf test and no branch on the data. A leaf above the bottom
// level is extended by dummy nodes whose two subtrees hold the same leaf
// value, so their outcome does not matter.
//
// Missing values cost nothing per node: each row is expanded to two copies
// of every feature, NaN→−Inf and NaN→+Inf. A node whose default child is
// left reads the −Inf copy (−Inf < split: left), one whose default is right
// the +Inf copy (+Inf ≥ split: right). Non-NaN values are the same in both
// copies and expanded rows hold no NaN, so with finite split conditions
// x ≥ split is exactly XGBoost's "not x < split" and the whole rule (NaN to
// the default child, else left iff x < split) is kept bit for bit.
//
// Rows are walked eight at a time through one tree (independent chains of
// loads and compares that the CPU overlaps), trees in order, so each row's
// float32 sum is still in tree order.

const (
	maxCompleteDepth = 10
	// rowStride is the width of an expanded row for models of up to
	// rowStride/2 features: a constant stride lets the eight rows of a walk
	// share one base register.
	rowStride = 32
)

type ctree struct {
	depth int
	// nodes in 1-based heap order (nodes[0] unused): one base register
	// for the walk, which keeps its eight chains in registers. nil for a
	// tree with categorical splits, which the node walk (Model.leaf) takes
	// from root: a category set is no threshold, so it has no place in
	// the branch-free step below.
	nodes  []cnode
	leaves []float32 // 2^depth leaf values
	group  int
	root   int32
}

// cnode is one node: key(split) − 1 (non-negative and below 2^32 for every
// finite split: the smallest key, that of −Inf, is 0x007fffff) and
// slot = 2*feature + (1 if the default child is right).
type cnode struct {
	split uint32
	slot  uint32
}

// key maps a non-NaN float32 to an integer of the same order; −0 and +0
// map to the same key, as they compare equal.
func key(f float32) int64 {
	u := math.Float32bits(f + 0) // f + 0 turns −0 into +0
	if u&(1<<31) != 0 {
		return int64(^u)
	}
	return int64(u | 1<<31)
}

// buildComplete lays the trees out for the fast evaluator; it returns nil
// when a tree is too deep or a split condition is not finite (the general
// walk then serves the model), and when every tree has categorical splits.
// A tree with categorical splits keeps the node walk within the fast
// evaluator's pass, so the other trees of the model stay fast and every
// row's sum stays in tree order.
func (m *Model) buildComplete() []ctree {
	out := make([]ctree, len(m.roots))
	fits := 0
	for t, root := range m.roots {
		if m.treeCat[t] {
			out[t] = ctree{group: int(m.treeGroup[t]), root: root}
			continue
		}
		d := m.depth(root)
		if d > maxCompleteDepth {
			return nil
		}
		ct := ctree{depth: d, group: int(m.treeGroup[t]), root: root,
			nodes: make([]cnode, 1<<d), leaves: make([]float32, 1<<d)}
		if !m.fill(&ct, root, 1, 0) {
			return nil
		}
		out[t] = ct
		fits++
	}
	if fits == 0 {
		return nil
	}
	return out
}

func (m *Model) depth(i int32) int {
	nd := &m.nodes[i]
	if nd.left == 0 {
		return 0
	}
	return 1 + max(m.depth(nd.left), m.depth(nd.left+1))
}

// fill places the subtree of node i at heap position pos (level lvl).
func (m *Model) fill(ct *ctree, i int32, pos, lvl int) bool {
	nd := &m.nodes[i]
	if lvl == ct.depth { // bottom level: pos indexes a leaf
		ct.leaves[pos-(1<<ct.depth)] = nd.split
		return true
	}
	if nd.left == 0 { // a leaf above the bottom: both subtrees repeat it
		return m.fill(ct, i, 2*pos, lvl+1) && m.fill(ct, i, 2*pos+1, lvl+1)
	}
	s := float64(nd.split)
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return false
	}
	slot := 2 * (nd.info & featureMask)
	if nd.info&defaultLeftBit == 0 {
		slot++
	}
	ct.nodes[pos] = cnode{split: uint32(key(nd.split) - 1), slot: slot}
	return m.fill(ct, nd.left, 2*pos, lvl+1) && m.fill(ct, nd.left+1, 2*pos+1, lvl+1)
}

// maxExpandWords bounds the expanded rows of one block (4 MiB): 64 rows
// of up to 4096 features, fewer rows of wider models.
const maxExpandWords = 1 << 19

// expandPool holds scratch rows for models with many features.
var expandPool = sync.Pool{New: func() any { return new([]int64) }}

// marginsComplete adds every tree's leaf to out (which holds base margins).
func (m *Model) marginsComplete(x, out []float32, n int) {
	nf, g := m.nfeat, m.groups
	w := max(2*nf, rowStride)
	// A block holds fewer rows when they are wide, so that the scratch
	// stays within maxExpandWords (a full block of 2^20 features would
	// take 1 GiB per call).
	per := min(block, max(1, maxExpandWords/w))
	var stack [block * rowStride]int64
	buf := stack[:]
	if per*w > len(stack) {
		p := expandPool.Get().(*[]int64)
		if cap(*p) < per*w {
			*p = make([]int64, per*w)
		}
		buf = (*p)[:per*w]
		defer expandPool.Put(p)
	}
	fixed := w == rowStride
	negInf, posInf := key(float32(math.Inf(-1))), key(float32(math.Inf(1)))
	for start := 0; start < n; start += per {
		rows := min(per, n-start)
		for r := 0; r < rows; r++ {
			src := x[(start+r)*nf : (start+r+1)*nf]
			dst := buf[r*w : r*w+2*nf]
			for f, v := range src {
				if v != v {
					dst[2*f], dst[2*f+1] = negInf, posInf
					continue
				}
				k := key(v)
				dst[2*f], dst[2*f+1] = k, k
			}
		}
		acc := out[start*g : (start+rows)*g]
		xb := unsafe.Pointer(unsafe.SliceData(buf))
		for t := range m.complete {
			ct := &m.complete[t]
			if ct.nodes == nil { // categorical splits: the node walk
				for r := 0; r < rows; r++ {
					row := x[(start+r)*nf : (start+r+1)*nf : (start+r+1)*nf]
					acc[r*g+ct.group] += m.leaf(ct.root, row)
				}
				continue
			}
			// No bounds checks below: after k ≤ depth steps a heap index
			// is below 2^(k+1), nodes has 2^depth entries and the walk
			// reads it only for k < depth; slots are below 2·features ≤ w.
			nb := unsafe.Pointer(unsafe.SliceData(ct.nodes))
			leaves, grp, d := ct.leaves, ct.group, ct.depth
			base := 1 << d
			r := 0
			if groups := rows / 8; fixed && groups > 0 {
				walkTree(nb, xb, d, groups, unsafe.Pointer(unsafe.SliceData(leaves)), unsafe.Pointer(&acc[grp]), uintptr(4*g))
				r = 8 * groups
			}
			for ; r+8 <= rows; r += 8 {
				is := walk8Wide(nb, unsafe.Add(xb, 8*r*w), uintptr(8*w), d)
				for k, i := range is {
					acc[(r+k)*g+grp] += leaves[int(i)-base]
				}
			}
			for ; r < rows; r++ {
				xr := unsafe.Add(xb, 8*r*w)
				var i uintptr = 1
				for range d {
					i = 2*i + right(xr, nb, i)
				}
				acc[r*g+grp] += leaves[int(i)-base]
			}
		}
	}
}

// walk8Go takes eight expanded rows (stride rowStride) through one
// complete tree of depth d and returns their bottom-level heap indices.
func walk8Go(nb, xb unsafe.Pointer, d int) [8]uintptr {
	const s = 8 * rowStride
	var i0, i1, i2, i3, i4, i5, i6, i7 uintptr = 1, 1, 1, 1, 1, 1, 1, 1
	for range d {
		i0 = 2*i0 + right(xb, nb, i0)
		i1 = 2*i1 + right(unsafe.Add(xb, 1*s), nb, i1)
		i2 = 2*i2 + right(unsafe.Add(xb, 2*s), nb, i2)
		i3 = 2*i3 + right(unsafe.Add(xb, 3*s), nb, i3)
		i4 = 2*i4 + right(unsafe.Add(xb, 4*s), nb, i4)
		i5 = 2*i5 + right(unsafe.Add(xb, 5*s), nb, i5)
		i6 = 2*i6 + right(unsafe.Add(xb, 6*s), nb, i6)
		i7 = 2*i7 + right(unsafe.Add(xb, 7*s), nb, i7)
	}
	return [8]uintptr{i0, i1, i2, i3, i4, i5, i6, i7}
}

// walkTreeGo walks groups of eight rows (stride rowStride, groups ≥ 1)
// through one tree and adds each row's leaf to its float32 accumulator;
// accumulators are stride bytes apart from acc on. On amd64, walkTree is
// the same computation in assembly (walk_amd64.s), where the eight chains
// and the loop stay in registers; elsewhere walkTree is walkTreeGo.
func walkTreeGo(nb, xb unsafe.Pointer, d, groups int, leaves, acc unsafe.Pointer, stride uintptr) {
	for grp := range groups {
		is := walk8Go(nb, unsafe.Add(xb, grp*8*8*rowStride), d)
		for k, i := range is {
			a := (*float32)(unsafe.Add(acc, uintptr(grp*8+k)*stride))
			*a += *(*float32)(unsafe.Add(leaves, 4*(int(i)-1<<d)))
		}
	}
}

// walk8Wide is walk8 for rows wider than rowStride (stride s bytes).
func walk8Wide(nb, xb unsafe.Pointer, s uintptr, d int) [8]uintptr {
	x1, x2, x3 := unsafe.Add(xb, s), unsafe.Add(xb, 2*s), unsafe.Add(xb, 3*s)
	x4, x5, x6, x7 := unsafe.Add(xb, 4*s), unsafe.Add(xb, 5*s), unsafe.Add(xb, 6*s), unsafe.Add(xb, 7*s)
	var i0, i1, i2, i3, i4, i5, i6, i7 uintptr = 1, 1, 1, 1, 1, 1, 1, 1
	for range d {
		i0 = 2*i0 + right(xb, nb, i0)
		i1 = 2*i1 + right(x1, nb, i1)
		i2 = 2*i2 + right(x2, nb, i2)
		i3 = 2*i3 + right(x3, nb, i3)
		i4 = 2*i4 + right(x4, nb, i4)
		i5 = 2*i5 + right(x5, nb, i5)
		i6 = 2*i6 + right(x6, nb, i6)
		i7 = 2*i7 + right(x7, nb, i7)
	}
	return [8]uintptr{i0, i1, i2, i3, i4, i5, i6, i7}
}

// right is 1 when the row at xr goes right at node i and 0 when it goes
// left: x ≥ split ⟺ key(x) ≥ key(split) ⟺ (key(split) − 1) − key(x) < 0,
// so the sign bit of one subtraction decides, with no compare or branch.
// Valid as XGBoost's rule only on NaN-free expanded rows (see above).
func right(xr, nb unsafe.Pointer, i uintptr) uintptr {
	n := (*cnode)(unsafe.Add(nb, 8*i))
	return uintptr(uint64(int64(n.split)-*(*int64)(unsafe.Add(xr, 8*uintptr(n.slot)))) >> 63)
}

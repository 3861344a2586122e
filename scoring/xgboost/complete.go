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
	rowStride = 64
)

type ctree struct {
	depth  int
	slots  []uint32  // 1-based heap: slots[0] unused; 2*feature + (1 if default right)
	splits []float32 // same indexing
	leaves []float32 // 2^depth leaf values
	group  int
}

// buildComplete lays the trees out for the fast evaluator; it returns nil
// when a tree is too deep or a split condition is not finite (the general
// walk then serves the model).
func (m *Model) buildComplete() []ctree {
	out := make([]ctree, len(m.roots))
	for t, root := range m.roots {
		d := m.depth(root)
		if d > maxCompleteDepth {
			return nil
		}
		ct := ctree{depth: d, group: int(m.treeGroup[t]),
			slots: make([]uint32, 1<<d), splits: make([]float32, 1<<d), leaves: make([]float32, 1<<d)}
		if !m.fill(&ct, root, 1, 0) {
			return nil
		}
		out[t] = ct
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
	slot := 2 * (nd.info &^ defaultLeftBit)
	if nd.info&defaultLeftBit == 0 {
		slot++
	}
	ct.slots[pos], ct.splits[pos] = slot, nd.split
	return m.fill(ct, nd.left, 2*pos, lvl+1) && m.fill(ct, nd.left+1, 2*pos+1, lvl+1)
}

// expandPool holds scratch rows for models with many features.
var expandPool = sync.Pool{New: func() any { return new([]float32) }}

// marginsComplete adds every tree's leaf to out (which holds base margins).
func (m *Model) marginsComplete(x, out []float32, n int) {
	nf, g := m.nfeat, m.groups
	w := max(2*nf, rowStride)
	var stack [block * rowStride]float32
	buf := stack[:]
	if block*w > len(stack) {
		p := expandPool.Get().(*[]float32)
		if cap(*p) < block*w {
			*p = make([]float32, block*w)
		}
		buf = (*p)[:block*w]
		defer expandPool.Put(p)
	}
	fixed := w == rowStride
	negInf, posInf := float32(math.Inf(-1)), float32(math.Inf(1))
	for start := 0; start < n; start += block {
		rows := min(block, n-start)
		for r := 0; r < rows; r++ {
			src := x[(start+r)*nf : (start+r+1)*nf]
			dst := buf[r*w : r*w+2*nf]
			for f, v := range src {
				lo, hi := v, v
				if v != v {
					lo, hi = negInf, posInf
				}
				dst[2*f], dst[2*f+1] = lo, hi
			}
		}
		acc := out[start*g : (start+rows)*g]
		xb := unsafe.Pointer(unsafe.SliceData(buf))
		for t := range m.complete {
			ct := &m.complete[t]
			// No bounds checks below: after k ≤ depth steps a heap index
			// is below 2^(k+1), the slices have 2^depth entries and the
			// walk reads them only for k < depth; slots are below
			// 2·features ≤ w (checked when the layout is built).
			sb := unsafe.Pointer(unsafe.SliceData(ct.slots))
			pb := unsafe.Pointer(unsafe.SliceData(ct.splits))
			leaves, grp, d := ct.leaves, ct.group, ct.depth
			base := 1 << d
			r := 0
			if fixed {
				for ; r+8 <= rows; r += 8 {
					is := walk8(sb, pb, unsafe.Add(xb, 4*r*rowStride), d)
					for k, i := range is {
						acc[(r+k)*g+grp] += leaves[int(i)-base]
					}
				}
			}
			for ; r < rows; r++ {
				xr := unsafe.Add(xb, 4*r*w)
				var i uintptr = 1
				for range d {
					i = 2*i + ge(*(*float32)(unsafe.Add(xr, 4*uintptr(*(*uint32)(unsafe.Add(sb, 4*i))))), *(*float32)(unsafe.Add(pb, 4*i)))
				}
				acc[r*g+grp] += leaves[int(i)-base]
			}
		}
	}
}

// walk8 takes eight expanded rows (stride rowStride) through one complete
// tree of depth d and returns their bottom-level heap indices. It is a
// function of its own so that its live values stay in registers.
func walk8(sb, pb, xb unsafe.Pointer, d int) [8]uintptr {
	const s = 4 * rowStride
	var i0, i1, i2, i3, i4, i5, i6, i7 uintptr = 1, 1, 1, 1, 1, 1, 1, 1
	for range d {
		i0 = 2*i0 + ge(*(*float32)(unsafe.Add(xb, 0*s+4*uintptr(*(*uint32)(unsafe.Add(sb, 4*i0))))), *(*float32)(unsafe.Add(pb, 4*i0)))
		i1 = 2*i1 + ge(*(*float32)(unsafe.Add(xb, 1*s+4*uintptr(*(*uint32)(unsafe.Add(sb, 4*i1))))), *(*float32)(unsafe.Add(pb, 4*i1)))
		i2 = 2*i2 + ge(*(*float32)(unsafe.Add(xb, 2*s+4*uintptr(*(*uint32)(unsafe.Add(sb, 4*i2))))), *(*float32)(unsafe.Add(pb, 4*i2)))
		i3 = 2*i3 + ge(*(*float32)(unsafe.Add(xb, 3*s+4*uintptr(*(*uint32)(unsafe.Add(sb, 4*i3))))), *(*float32)(unsafe.Add(pb, 4*i3)))
		i4 = 2*i4 + ge(*(*float32)(unsafe.Add(xb, 4*s+4*uintptr(*(*uint32)(unsafe.Add(sb, 4*i4))))), *(*float32)(unsafe.Add(pb, 4*i4)))
		i5 = 2*i5 + ge(*(*float32)(unsafe.Add(xb, 5*s+4*uintptr(*(*uint32)(unsafe.Add(sb, 4*i5))))), *(*float32)(unsafe.Add(pb, 4*i5)))
		i6 = 2*i6 + ge(*(*float32)(unsafe.Add(xb, 6*s+4*uintptr(*(*uint32)(unsafe.Add(sb, 4*i6))))), *(*float32)(unsafe.Add(pb, 4*i6)))
		i7 = 2*i7 + ge(*(*float32)(unsafe.Add(xb, 7*s+4*uintptr(*(*uint32)(unsafe.Add(sb, 4*i7))))), *(*float32)(unsafe.Add(pb, 4*i7)))
	}
	return [8]uintptr{i0, i1, i2, i3, i4, i5, i6, i7}
}

// ge is 1 when x ≥ split (right) and 0 otherwise; it compiles to a compare
// and a flag move, not a branch. Valid as XGBoost's rule only on NaN-free
// expanded rows (see above).
func ge(x, split float32) uintptr {
	var r uintptr
	if x >= split {
		r = 1
	}
	return r
}

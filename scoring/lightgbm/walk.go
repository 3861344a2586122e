package lightgbm

import "math"

// kZeroThreshold is LightGBM's kZeroThreshold: the float literal 1e-35f
// widened to double (1.0000000180025095e-35).
var kZeroThreshold = float64(float32(1e-35))

// input is a row value as LightGBM's dense predict sees it: values with
// |x| <= kZeroThreshold are dropped from the sparse row and read back as 0
// (so −0 is +0 too); NaN is kept.
func input(v float64) float64 {
	if math.Abs(v) <= kZeroThreshold {
		return 0
	}
	return v
}

// walkTree adds tree tr's output for rows rows of x (row-major, nfeat
// wide) to acc[r*k] (acc starts at the tree's class).
func (m *Model) walkTree(tr *tree, x []float64, rows int, acc []float64) {
	nf, k := m.nfeat, m.k
	for r := 0; r < rows; r++ {
		row := x[r*nf : (r+1)*nf : (r+1)*nf]
		leaf := tr.leafOff
		if tr.nLeaves > 1 {
			leaf = m.leafOf(tr, row)
		}
		v := m.leaves[leaf]
		if tr.isLinear {
			v = m.linear(tr, leaf, row)
		}
		acc[r*k] += v
	}
}

// leafOf walks a row to its leaf (Tree::GetLeaf) and returns the leaf's
// absolute index.
func (m *Model) leafOf(tr *tree, row []float64) int32 {
	i := tr.nodeOff
	for i >= 0 {
		nd := &m.nodes[i]
		v := input(row[nd.feat])
		if nd.categorical {
			i = m.categorical(nd, v)
		} else {
			i = numerical(nd, v)
		}
	}
	return ^i
}

// numerical is Tree::NumericalDecision.
func numerical(nd *node, v float64) int32 {
	if v != v && nd.missing != missNaN {
		v = 0
	}
	if (nd.missing == missZero && v == 0) || (nd.missing == missNaN && v != v) {
		if nd.defaultLeft {
			return nd.left
		}
		return nd.right
	}
	if v <= nd.thr {
		return nd.left
	}
	return nd.right
}

// categorical is Tree::CategoricalDecision. static_cast<int> of a double
// truncates toward zero; out of the int range it is undefined in C++ and
// gives INT_MIN on x86 (cvttsd2si), a negative value: right.
func (m *Model) categorical(nd *node, v float64) int32 {
	if v != v || !(v > -2147483649 && v < 2147483648) {
		return nd.right
	}
	c := int32(v)
	if c < 0 {
		return nd.right
	}
	w := nd.catLo + c/32
	if w >= nd.catHi || (m.cats[w]>>(uint32(c)%32))&1 == 0 {
		return nd.right
	}
	return nd.left
}

// linear is a linear leaf's output (Tree::Predict with is_linear_): the
// constant plus each coefficient times its feature, in file order, each
// product rounded before it is added (the explicit float64 conversion
// forbids a fused multiply-add); a NaN feature gives the leaf value.
func (m *Model) linear(tr *tree, leaf int32, row []float64) float64 {
	ll := &m.linLeaves[tr.linOff+leaf-tr.leafOff]
	out := ll.c
	for j := ll.lo; j < ll.hi; j++ {
		v := input(row[m.linFeat[j]])
		if v != v {
			return m.leaves[leaf]
		}
		out += float64(m.linCoeff[j] * v)
	}
	return out
}

package xgboost

import "github.com/streamscore/streamscore/scoring/internal/treeshap"

// The classic path-dependent TreeSHAP (Lundberg et al. 2020, algorithm 2),
// as XGBoost 1.7.4 runs it for pred_contribs: a depth-first walk that
// keeps, for the distinct features on the path to the current node, the
// fraction of the training data that follows the path ("zero": the
// product of cover ratios at the feature's splits) and whether the row
// follows it ("one": 1 or 0), with the permutation weights of the subsets
// of those features; at a leaf, each feature's weight with itself undone
// gives its share of the leaf value.
//
// Everything is float32 and every operation is done in the order XGBoost
// does it (RegTree::TreeShap here, ExtendPath, UnwindPath, UnwoundPathSum
// in scoring/internal/treeshap), with explicit conversions where a product
// feeds a sum so that no fused multiply-add changes a rounding: the result
// is XGBoost's, bit for bit.

// pathElem is one distinct feature on the path (treeshap.Elem).
type pathElem = treeshap.Elem[float32]

// classicTree adds one tree's feature contributions for row to phi (its
// first nf entries; the tree's expected value, the bias, is not added).
// buf holds the paths: at least (depth+2)(depth+3)/2 elements.
func (e *explainer) classicTree(st *shapTree, row, phi []float32, buf []pathElem) {
	e.treeShap(row, phi, st.root, 0, buf, 1, 1, -1)
}

// treeShap visits node i with a path of ud distinct features above it:
// parent holds the parent's path, which this node copies past its end
// before extending it with the feature the parent split on (pf) and the
// fractions of the branch taken to here.
func (e *explainer) treeShap(row, phi []float32, i int32, ud int, parent []pathElem, pz, po float32, pf int32) {
	m := e.m
	path := parent[ud+1:]
	copy(path[:ud+1], parent[:ud+1])
	treeshap.Extend(path[:ud+1], pz, po, pf)
	nd := &m.nodes[i]
	if nd.left == 0 {
		v := m.stats[i].value
		for k := 1; k <= ud; k++ {
			w := treeshap.UnwoundSum(path[:ud+1], k)
			el := &path[k]
			phi[el.Feat] += float32(w * (el.One - el.Zero) * v)
		}
		return
	}
	hot, cold := nd.left, nd.left+1
	if m.goRight(nd, row) {
		hot, cold = cold, hot
	}
	c := m.stats[i].cover
	hz, cz := m.stats[hot].cover/c, m.stats[cold].cover/c
	f := int32(nd.info & featureMask)
	iz, io := float32(1), float32(1)
	for k := 0; k <= ud; k++ {
		if path[k].Feat == f {
			iz, io = path[k].Zero, path[k].One
			treeshap.Unwind(path[:ud+1], k)
			ud--
			break
		}
	}
	e.treeShap(row, phi, hot, ud+1, path, hz*iz, io, f)
	e.treeShap(row, phi, cold, ud+1, path, cz*iz, 0, f)
}

// explainClassic computes contributions entirely as XGBoost 1.7.4 does
// (float32, the classic algorithm for every tree, each tree's
// contributions multiplied by its weight and added in tree order): the
// reference the tests hold the served algorithm to.
func (e *explainer) explainClassic(x, out []float32) error {
	n, err := e.check(x, out)
	if err != nil {
		return err
	}
	if e.m.linear != nil {
		e.explainLinear(x, out, n)
		return nil
	}
	sc := e.getScratch()
	defer e.pool.Put(sc)
	for r := 0; r < n; r++ {
		row := x[r*e.nf : (r+1)*e.nf : (r+1)*e.nf]
		for g := 0; g < e.g; g++ {
			p := out[(r*e.g+g)*e.cols : (r*e.g+g+1)*e.cols]
			clear(p)
			for t := range e.trees {
				st := &e.trees[t]
				if st.group != g {
					continue
				}
				clear(sc.tree)
				sc.tree[e.nf] = st.mean
				e.classicTree(st, row, sc.tree, sc.path)
				for k, v := range sc.tree {
					p[k] += float32(v * st.weight)
				}
			}
			p[e.nf] += e.m.base[g]
		}
	}
	return nil
}

package xgboost

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
// does it (RegTree::TreeShap, ExtendPath, UnwindPath, UnwoundPathSum),
// with explicit conversions where a product feeds a sum so that no fused
// multiply-add changes a rounding: the result is XGBoost's, bit for bit.

// pathElem is one distinct feature on the path: its index (−1 for the
// root's placeholder), zero and one fractions, and pw, the permutation
// weight of the subsets with as many "one" features as its position.
type pathElem struct {
	feat      int32
	zero, one float32
	pw        float32
}

// extendPath adds a feature with the given fractions at position d.
func extendPath(p []pathElem, d int, zero, one float32, feat int32) {
	p[d] = pathElem{feat: feat, zero: zero, one: one}
	if d == 0 {
		p[d].pw = 1
	}
	dd := float32(d + 1)
	for i := d - 1; i >= 0; i-- {
		p[i+1].pw += float32(one*p[i].pw*float32(i+1)) / dd
		p[i].pw = zero * p[i].pw * float32(d-i) / dd
	}
}

// unwindPath undoes the extension of position k of a path of depth d.
func unwindPath(p []pathElem, d, k int) {
	one, zero := p[k].one, p[k].zero
	next := p[d].pw
	dd := float32(d + 1)
	for i := d - 1; i >= 0; i-- {
		if one != 0 {
			tmp := p[i].pw
			p[i].pw = next * dd / (float32(i+1) * one)
			next = tmp - float32(p[i].pw*zero*float32(d-i))/dd
		} else {
			p[i].pw = (p[i].pw * dd) / (zero * float32(d-i))
		}
	}
	for i := k; i < d; i++ {
		p[i].feat, p[i].zero, p[i].one = p[i+1].feat, p[i+1].zero, p[i+1].one
	}
}

// unwoundPathSum is the total permutation weight of a path of depth d
// with position k undone, without changing the path.
func unwoundPathSum(p []pathElem, d, k int) float32 {
	one, zero := p[k].one, p[k].zero
	next := p[d].pw
	dd := float32(d + 1)
	var total float32
	for i := d - 1; i >= 0; i-- {
		switch {
		case one != 0:
			tmp := next * dd / (float32(i+1) * one)
			total += tmp
			next = p[i].pw - float32(tmp*zero*(float32(d-i)/dd))
		case zero != 0:
			total += (p[i].pw / zero) / (float32(d-i) / dd)
		}
	}
	return total
}

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
	extendPath(path, ud, pz, po, pf)
	nd := &m.nodes[i]
	if nd.left == 0 {
		v := m.stats[i].value
		for k := 1; k <= ud; k++ {
			w := unwoundPathSum(path, ud, k)
			el := &path[k]
			phi[el.feat] += float32(w * (el.one - el.zero) * v)
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
		if path[k].feat == f {
			iz, io = path[k].zero, path[k].one
			unwindPath(path, ud, k)
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

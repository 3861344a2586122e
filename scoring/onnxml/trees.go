package onnxml

import (
	"fmt"
	"math"
)

// Node comparison modes.
const (
	modeLeaf = iota
	modeLEQ
	modeLT
	modeGTE
	modeGT
	modeEQ
	modeNEQ
)

func parseMode(s string) (uint8, error) {
	switch s {
	case "LEAF":
		return modeLeaf, nil
	case "BRANCH_LEQ":
		return modeLEQ, nil
	case "BRANCH_LT":
		return modeLT, nil
	case "BRANCH_GTE":
		return modeGTE, nil
	case "BRANCH_GT":
		return modeGT, nil
	case "BRANCH_EQ":
		return modeEQ, nil
	case "BRANCH_NEQ":
		return modeNEQ, nil
	}
	return 0, fmt.Errorf("%w: nodes_modes value %q", ErrUnsupported, s)
}

type tnode struct {
	mode        uint8
	missingTrue bool
	feature     int32
	value       float64 // threshold; compared in float64, exact for float and double
	t, f        int32   // children (indices into ensemble.nodes)
	w0, w1      int32   // leaf weights: ensemble.weights[w0:w1]
}

type weight struct {
	target int32
	value  float64 // a float32 value unless the weights are double
}

// ensemble is a tree ensemble ready to run.
type ensemble struct {
	nodes   []tnode
	roots   []int32
	weights []weight
	double  bool // accumulate in float64 (double thresholds or weights)
	nfeat   int
	// outDouble: the operator's output is double (TreeEnsemble over double
	// input); the older operators always output float.
	outDouble bool
}

// decide is onnxruntime's node test: the comparison, or the true branch
// for a missing value when the node tracks missing values to true.
func (n *tnode) decide(x float64) bool {
	if n.missingTrue && math.IsNaN(x) {
		return true
	}
	switch n.mode {
	case modeLEQ:
		return x <= n.value
	case modeLT:
		return x < n.value
	case modeGTE:
		return x >= n.value
	case modeGT:
		return x > n.value
	case modeEQ:
		return x == n.value
	}
	return x != n.value // NEQ
}

// leaf returns the leaf that row x reaches from root.
func (e *ensemble) leaf(root int32, row []float64) *tnode {
	n := &e.nodes[root]
	for n.mode != modeLeaf {
		if n.decide(row[n.feature]) {
			n = &e.nodes[n.t]
		} else {
			n = &e.nodes[n.f]
		}
	}
	return n
}

// buildEnsemble reads the node and weight attributes. prefix is "class" or
// "target".
func buildEnsemble(nd *nodeProto, prefix string, nfeat, ntargets int) (*ensemble, error) {
	treeIDs, nodeIDs := attrInts(nd, "nodes_treeids"), attrInts(nd, "nodes_nodeids")
	feats, modes := attrInts(nd, "nodes_featureids"), attrStrings(nd, "nodes_modes")
	trueIDs, falseIDs := attrInts(nd, "nodes_truenodeids"), attrInts(nd, "nodes_falsenodeids")
	missing := attrInts(nd, "nodes_missing_value_tracks_true")
	values, dblValues, err := attrFloats(nd, "nodes_values")
	if err != nil {
		return nil, err
	}
	n := len(treeIDs)
	if n == 0 || len(nodeIDs) != n || len(feats) != n || len(modes) != n || len(trueIDs) != n || len(falseIDs) != n ||
		len(values) != n || (missing != nil && len(missing) != n) {
		return nil, fmt.Errorf("the nodes_* attributes are missing or of different lengths")
	}
	wTree, wNode, wID := attrInts(nd, prefix+"_treeids"), attrInts(nd, prefix+"_nodeids"), attrInts(nd, prefix+"_ids")
	wVals, dblWeights, err := attrFloats(nd, prefix+"_weights")
	if err != nil {
		return nil, err
	}
	if len(wNode) != len(wTree) || len(wID) != len(wTree) || len(wVals) != len(wTree) {
		return nil, fmt.Errorf("the %s_* attributes have different lengths", prefix)
	}
	e := &ensemble{double: dblValues || dblWeights, nfeat: nfeat, nodes: make([]tnode, n)}
	type key struct{ tree, node int64 }
	index := make(map[key]int32, n)
	var treeOrder []int64
	seenTree := map[int64]bool{}
	for i := 0; i < n; i++ {
		k := key{treeIDs[i], nodeIDs[i]}
		if _, dup := index[k]; dup {
			return nil, fmt.Errorf("node %d of tree %d appears twice", k.node, k.tree)
		}
		index[k] = int32(i)
		if !seenTree[k.tree] {
			seenTree[k.tree] = true
			treeOrder = append(treeOrder, k.tree)
		}
	}
	isChild := make([]bool, n)
	for i := 0; i < n; i++ {
		mode, err := parseMode(modes[i])
		if err != nil {
			return nil, err
		}
		tn := tnode{mode: mode, value: values[i], feature: int32(feats[i])}
		if !dblValues {
			tn.value = float64(float32(values[i]))
		}
		if missing != nil && missing[i] != 0 {
			tn.missingTrue = true
		}
		if mode != modeLeaf {
			if feats[i] < 0 || int(feats[i]) >= nfeat {
				return nil, fmt.Errorf("node %d of tree %d splits on feature %d; the input has %d", nodeIDs[i], treeIDs[i], feats[i], nfeat)
			}
			t, ok1 := index[key{treeIDs[i], trueIDs[i]}]
			f, ok2 := index[key{treeIDs[i], falseIDs[i]}]
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("node %d of tree %d has a child that does not exist", nodeIDs[i], treeIDs[i])
			}
			tn.t, tn.f = t, f
			isChild[t], isChild[f] = true, true
		}
		e.nodes[i] = tn
	}
	// weights grouped by leaf, in attribute order
	byLeaf := map[int32][]weight{}
	for j := range wTree {
		leaf, ok := index[key{wTree[j], wNode[j]}]
		if !ok {
			return nil, fmt.Errorf("weight %d names node %d of tree %d, which does not exist", j, wNode[j], wTree[j])
		}
		if wID[j] < 0 || int(wID[j]) >= ntargets {
			return nil, fmt.Errorf("weight %d is for %s %d; there are %d", j, prefix, wID[j], ntargets)
		}
		w := wVals[j]
		if !dblWeights {
			w = float64(float32(w))
		}
		byLeaf[leaf] = append(byLeaf[leaf], weight{target: int32(wID[j]), value: w})
	}
	for i := range e.nodes {
		ws := byLeaf[int32(i)]
		e.nodes[i].w0 = int32(len(e.weights))
		e.weights = append(e.weights, ws...)
		e.nodes[i].w1 = int32(len(e.weights))
	}
	rootOf := map[int64]int32{}
	for i := 0; i < n; i++ {
		if !isChild[i] {
			if _, two := rootOf[treeIDs[i]]; two {
				return nil, fmt.Errorf("tree %d has more than one root", treeIDs[i])
			}
			rootOf[treeIDs[i]] = int32(i)
		}
	}
	for _, t := range treeOrder {
		r, ok := rootOf[t]
		if !ok {
			return nil, fmt.Errorf("tree %d has no root (a cycle)", t)
		}
		e.roots = append(e.roots, r)
	}
	if err := e.checkAcyclic(); err != nil {
		return nil, err
	}
	return e, nil
}

// checkAcyclic makes sure every walk ends at a leaf.
func (e *ensemble) checkAcyclic() error {
	state := make([]uint8, len(e.nodes)) // 0 new, 1 on path, 2 done
	var visit func(i int32) error
	visit = func(i int32) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("the trees contain a cycle")
		case 2:
			return nil
		}
		state[i] = 1
		if n := &e.nodes[i]; n.mode != modeLeaf {
			if err := visit(n.t); err != nil {
				return err
			}
			if err := visit(n.f); err != nil {
				return err
			}
		}
		state[i] = 2
		return nil
	}
	for _, r := range e.roots {
		if err := visit(r); err != nil {
			return err
		}
	}
	return nil
}

// accumulate sums (or min/max-es) the weights of every tree's leaf for one
// row into s and has, in the threshold type, trees in order.
func (e *ensemble) accumulate(row []float64, agg int, s []float64, has []bool) {
	for i := range s {
		s[i], has[i] = 0, false
	}
	for _, root := range e.roots {
		lf := e.leaf(root, row)
		for _, w := range e.weights[lf.w0:lf.w1] {
			k := w.target
			switch agg {
			case aggMin:
				if !has[k] || w.value < s[k] {
					s[k] = w.value
				}
			case aggMax:
				if !has[k] || w.value > s[k] {
					s[k] = w.value
				}
			default:
				if e.double {
					s[k] += w.value
				} else {
					s[k] = float64(float32(s[k]) + float32(w.value))
				}
			}
			has[k] = true
		}
	}
}

const (
	aggSum = iota
	aggAverage
	aggMin
	aggMax
)

// readRow copies row r of an input value into dst as float64 (exact for
// every input type) and returns dst.
func readRow(v *value, r int, dst []float64) []float64 {
	dst = dst[:v.cols]
	base := r * v.cols
	switch v.dt {
	case dtDouble:
		copy(dst, v.f64[base:base+v.cols])
	case dtInt64:
		for f := range dst {
			dst[f] = float64(v.i64[base+f])
		}
	default:
		for f := range dst {
			dst[f] = float64(v.f32[base+f])
		}
	}
	return dst
}

// scratch returns per-call buffers of the frame: a row of w inputs, k
// scores and k flags, and k float32 outputs.
func (fr *frame) buffers(w, k int) (xrow, s []float64, has []bool, row []float32) {
	if cap(fr.xrow) < w {
		fr.xrow = make([]float64, w)
	}
	if cap(fr.scratch) < k {
		fr.scratch, fr.has, fr.row = make([]float64, k), make([]bool, k), make([]float32, k)
	}
	return fr.xrow[:w], fr.scratch[:k], fr.has[:k], fr.row[:k]
}

var treeCommonAttrs = []string{"nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
	"nodes_values_as_tensor", "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
	"nodes_hitrates", "nodes_hitrates_as_tensor", "post_transform", "base_values", "base_values_as_tensor"}

func buildTreeClassifier(m *Model, nd *nodeProto, in []int) (built, error) {
	if err := checkAttrs(nd, append(treeCommonAttrs, "class_treeids", "class_nodeids", "class_ids", "class_weights",
		"class_weights_as_tensor", "classlabels_int64s", "classlabels_strings")...); err != nil {
		return built{}, err
	}
	labels := attrInts(nd, "classlabels_int64s")
	k := len(labels)
	if k == 0 {
		k = len(attrStrings(nd, "classlabels_strings"))
	}
	if k < 2 {
		return built{}, fmt.Errorf("a classifier needs at least two class labels, has %d", k)
	}
	post, err := parseTransform(attrString(nd, "post_transform", "NONE"))
	if err != nil {
		return built{}, err
	}
	base, _, err := attrFloats(nd, "base_values")
	if err != nil {
		return built{}, err
	}
	x := m.slots[in[0]]
	e, err := buildEnsemble(nd, "class", x.cols, k)
	if err != nil {
		return built{}, err
	}
	classesUsed := map[int32]bool{}
	allPositive := true
	for _, w := range e.weights {
		classesUsed[w.target] = true
		if w.value < 0 {
			allPositive = false
		}
	}
	binaryCase := k == 2 && len(classesUsed) == 1
	b := built{role: roleClassifier, nodes: len(e.nodes), trees: len(e.roots),
		outs: []outSpec{newOut(dtInt64, 1), newOut(dtFloat, k)}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv := &fr.vals[in[0]]
			var yv *value
			if len(out) > 0 {
				yv = fr.out(out[0], n)
			}
			var zv *value
			if len(out) > 1 {
				zv = fr.out(out[1], n)
			}
			xrow, s, has, row := fr.buffers(xv.cols, k)
			for r := 0; r < n; r++ {
				e.accumulate(readRow(xv, r, xrow), aggSum, s, has)
				label := finalizeClassifier(s, has, base, post, binaryCase, allPositive, row, e.double)
				if zv != nil {
					copy(zv.f32[r*k:(r+1)*k], row)
				}
				if yv != nil {
					if labels != nil {
						yv.i64[r] = labels[label]
					} else {
						yv.i64[r] = int64(label)
					}
				}
			}
		}
	}
	return b, nil
}

// finalizeClassifier turns accumulated class scores into output scores
// (row) and returns the label index, as onnxruntime's classifier
// aggregator does: base values, the binary cases, then the post-transform.
func finalizeClassifier(s []float64, has []bool, base []float64, post postTransform, binaryCase, allPositive bool, row []float32, double bool) int {
	k := len(s)
	add := func(a, b float64) float64 {
		if double {
			return a + b
		}
		return float64(float32(a) + float32(b))
	}
	if k > 2 {
		for j := 0; j < len(base) && j < k; j++ {
			if !has[j] {
				s[j], has[j] = base[j], true
			} else {
				s[j] = add(s[j], base[j])
			}
		}
		best := -1
		for j := range s {
			if has[j] && (best == -1 || s[j] > s[best]) {
				best = j
			}
		}
		for j := range s {
			row[j] = float32(s[j])
		}
		applyTransform(post, row)
		return max(best, 0)
	}
	mode := -1
	size := 2
	switch len(base) {
	case 2:
		if has[1] {
			s[1] = add(base[1], s[0])
			s[0] = -s[1]
		} else {
			s[1] = add(s[1], base[1])
			s[0] = add(s[0], base[0])
		}
	case 1:
		s[0] = add(s[0], base[0])
		if !has[1] {
			size = 1
		}
	case 0:
		mode = 3
		if !has[1] {
			size = 1
		}
	}
	pos := 0.0
	switch {
	case size == 2 && has[1]:
		pos = s[1]
	case has[0]:
		pos = s[0]
	}
	label := 0
	if binaryCase {
		if allPositive {
			mode = 1
			if pos > 0.5 {
				mode, label = 0, 1
			}
		} else {
			mode = 3
			if pos > 0 {
				mode, label = 2, 1
			}
		}
	} else if pos > 0 {
		label = 1
	}
	if size == 2 {
		row[0], row[1] = float32(s[0]), float32(s[1])
		applyTransform(post, row)
		return label
	}
	binaryScores(post, mode, float32(s[0]), row)
	return label
}

func parseAggregate(a string) (int, error) {
	switch a {
	case "SUM":
		return aggSum, nil
	case "AVERAGE":
		return aggAverage, nil
	case "MIN":
		return aggMin, nil
	case "MAX":
		return aggMax, nil
	}
	return 0, fmt.Errorf("%w: aggregate_function %q", ErrUnsupported, a)
}

func buildTreeRegressor(m *Model, nd *nodeProto, in []int) (built, error) {
	if err := checkAttrs(nd, append(treeCommonAttrs, "target_treeids", "target_nodeids", "target_ids", "target_weights",
		"target_weights_as_tensor", "n_targets", "aggregate_function")...); err != nil {
		return built{}, err
	}
	nt, err := targetsAttr(nd, "n_targets", 1, "TreeEnsembleRegressor")
	if err != nil {
		return built{}, err
	}
	agg, err := parseAggregate(attrString(nd, "aggregate_function", "SUM"))
	if err != nil {
		return built{}, err
	}
	post, err := parseTransform(attrString(nd, "post_transform", "NONE"))
	if err != nil {
		return built{}, err
	}
	base, _, err := attrFloats(nd, "base_values")
	if err != nil {
		return built{}, err
	}
	if len(base) != 0 && len(base) != nt {
		return built{}, fmt.Errorf("base_values has %d values for %d targets (want 0 or %d)", len(base), nt, nt)
	}
	x := m.slots[in[0]]
	e, err := buildEnsemble(nd, "target", x.cols, nt)
	if err != nil {
		return built{}, err
	}
	return regressorSteps(e, in, nt, agg, post, base), nil
}

// regressorSteps runs an ensemble as onnxruntime's regressor aggregators
// do: per target, the leaf weights of every tree in tree order (sum, min
// or max), then the average's division, the base value and, over two or
// more targets, the post-transform (one target: PROBIT only).
func regressorSteps(e *ensemble, in []int, nt, agg int, post postTransform, base []float64) built {
	ntrees := float64(len(e.roots))
	outDT := int32(dtFloat)
	if e.outDouble {
		outDT = dtDouble
	}
	b := built{nodes: len(e.nodes), trees: len(e.roots), outs: []outSpec{newOut(outDT, nt)}, role: roleRegression}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv := &fr.vals[in[0]]
			yv := fr.out(out[0], n)
			xrow, s, has, row := fr.buffers(xv.cols, nt)
			for r := 0; r < n; r++ {
				e.accumulate(readRow(xv, r, xrow), agg, s, has)
				for k := range s {
					v := s[k]
					origin := 0.0
					if base != nil {
						origin = base[k]
					}
					switch {
					case agg == aggMin || agg == aggMax:
						if !has[k] {
							v = 0
						}
						v = e.round(v + origin)
					case agg == aggAverage:
						v = e.round(e.round(v/ntrees) + origin)
					default:
						v = e.round(v + origin)
					}
					s[k] = v
				}
				if outDT == dtDouble && post == ptNone {
					copy(yv.f64[r*nt:(r+1)*nt], s)
					continue
				}
				for k := range s {
					row[k] = float32(s[k])
				}
				switch {
				case post == ptProbit:
					for k := range row {
						row[k] = probit(row[k])
					}
				case nt > 1:
					applyTransform(post, row)
				}
				for k := range row {
					if outDT == dtDouble {
						yv.f64[r*nt+k] = float64(row[k])
					} else {
						yv.f32[r*nt+k] = row[k]
					}
				}
			}
		}
	}
	return b
}

// round rounds to the ensemble's accumulation type.
func (e *ensemble) round(v float64) float64 {
	if e.double {
		return v
	}
	return float64(float32(v))
}

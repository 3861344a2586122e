package onnxml

import (
	"fmt"
)

// TreeEnsemble (ai.onnx.ml opset 5): the nodes_* attributes describe
// interior nodes only, a child is a node or a leaf (nodes_trueleafs,
// nodes_falseleafs), each leaf adds one weight to one target, and the
// modes, splits and weights are tensors of the input's type. onnxruntime
// converts it to its TreeEnsembleRegressor form and runs it the same way;
// so does this evaluator (one tnode per node and per leaf).

// tensorInts reads an integer tensor attribute (uint8, int32 or int64).
func tensorInts(t *tensorProto) ([]int64, error) {
	switch t.dataType {
	case 2, dtInt32: // uint8 (stored in int32_data or raw bytes), int32
		if t.raw != nil {
			if t.dataType == 2 {
				out := make([]int64, len(t.raw))
				for i, b := range t.raw {
					out[i] = int64(b)
				}
				return out, nil
			}
			if len(t.raw)%4 != 0 {
				return nil, errTruncated
			}
			out := make([]int64, len(t.raw)/4)
			for i := range out {
				out[i] = int64(int32(leU32(t.raw[4*i:])))
			}
			return out, nil
		}
		out := make([]int64, len(t.int32s))
		for i, v := range t.int32s {
			out[i] = int64(v)
		}
		return out, nil
	case dtInt64:
		if t.raw != nil {
			if len(t.raw)%8 != 0 {
				return nil, errTruncated
			}
			out := make([]int64, len(t.raw)/8)
			for i := range out {
				out[i] = int64(uint64(leU32(t.raw[8*i:])) | uint64(leU32(t.raw[8*i+4:]))<<32)
			}
			return out, nil
		}
		return t.int64s, nil
	}
	return nil, fmt.Errorf("tensor %q has element type %s, want an integer type", t.name, typeName(t.dataType))
}

// v5 node modes (nodes_modes tensor values).
var v5Modes = [...]uint8{modeLEQ, modeLT, modeGTE, modeGT, modeEQ, modeNEQ}

func buildTreeEnsembleV5(m *Model, nd *nodeProto, in []int) (built, error) {
	if err := checkAttrs(nd, "aggregate_function", "leaf_targetids", "leaf_weights", "membership_values", "n_targets",
		"nodes_falseleafs", "nodes_falsenodeids", "nodes_featureids", "nodes_hitrates", "nodes_missing_value_tracks_true",
		"nodes_modes", "nodes_splits", "nodes_trueleafs", "nodes_truenodeids", "post_transform", "tree_roots"); err != nil {
		return built{}, err
	}
	x := m.slots[in[0]]
	if x.dt != dtFloat && x.dt != dtDouble {
		return built{}, fmt.Errorf("%w: TreeEnsemble over %s input (float or double)", ErrUnsupported, typeName(x.dt))
	}
	if len(x.dims) > 1 {
		return built{}, fmt.Errorf("%w: TreeEnsemble of a rank-%d tensor", ErrUnsupported, len(x.dims)+1)
	}
	nt, err := targetsAttr(nd, "n_targets", 0, "TreeEnsemble")
	if err != nil {
		return built{}, err
	}
	var agg int
	switch a := attrInt(nd, "aggregate_function", 1); a {
	case 0:
		agg = aggAverage
	case 1:
		agg = aggSum
	case 2:
		agg = aggMin
	case 3:
		agg = aggMax
	default:
		return built{}, fmt.Errorf("%w: aggregate_function %d", ErrUnsupported, a)
	}
	var post postTransform
	switch p := attrInt(nd, "post_transform", 0); p {
	case 0:
		post = ptNone
	case 3:
		post = ptSoftmaxZero
	case 4:
		post = ptProbit
	case 1, 2:
		// The ONNX specification has 1 = SOFTMAX, 2 = LOGISTIC; onnxruntime
		// reads the numbers as its own enumeration (1 = LOGISTIC, 2 = SOFTMAX).
		return built{}, fmt.Errorf("%w: TreeEnsemble post_transform %d (the ONNX specification and onnxruntime disagree on what it means)", ErrUnsupported, p)
	default:
		return built{}, fmt.Errorf("%w: post_transform %d", ErrUnsupported, p)
	}
	if _, ok := nd.attrs["membership_values"]; ok {
		return built{}, fmt.Errorf("%w: TreeEnsemble set-membership nodes (BRANCH_MEMBER)", ErrUnsupported)
	}
	tensor := func(name string) (*tensorProto, error) {
		a, ok := nd.attrs[name]
		if !ok || a.t == nil {
			return nil, fmt.Errorf("TreeEnsemble needs the tensor attribute %s", name)
		}
		return a.t, nil
	}
	modesT, err := tensor("nodes_modes")
	if err != nil {
		return built{}, err
	}
	modes, err := tensorInts(modesT)
	if err != nil {
		return built{}, err
	}
	splitsT, err := tensor("nodes_splits")
	if err != nil {
		return built{}, err
	}
	weightsT, err := tensor("leaf_weights")
	if err != nil {
		return built{}, err
	}
	for _, t := range []*tensorProto{splitsT, weightsT} {
		if t.dataType != x.dt {
			return built{}, fmt.Errorf("%w: TreeEnsemble over %s input with a %s tensor %s (onnxruntime reads them in the input's type)", ErrUnsupported, typeName(x.dt), typeName(t.dataType), t.name)
		}
	}
	splits, err := splitsT.float64s()
	if err != nil {
		return built{}, err
	}
	weights, err := weightsT.float64s()
	if err != nil {
		return built{}, err
	}
	feats := attrInts(nd, "nodes_featureids")
	trueIDs, falseIDs := attrInts(nd, "nodes_truenodeids"), attrInts(nd, "nodes_falsenodeids")
	trueLeaf, falseLeaf := attrInts(nd, "nodes_trueleafs"), attrInts(nd, "nodes_falseleafs")
	missing := attrInts(nd, "nodes_missing_value_tracks_true")
	targets := attrInts(nd, "leaf_targetids")
	roots := attrInts(nd, "tree_roots")
	nn, nl := len(feats), len(targets)
	if nn == 0 || len(modes) != nn || len(splits) != nn || len(trueIDs) != nn || len(falseIDs) != nn ||
		len(trueLeaf) != nn || len(falseLeaf) != nn || (missing != nil && len(missing) != nn) {
		return built{}, fmt.Errorf("the nodes_* attributes are missing or of different lengths")
	}
	if nl == 0 || len(weights) != nl {
		return built{}, fmt.Errorf("leaf_targetids (%d) and leaf_weights (%d) differ in length", nl, len(weights))
	}
	if len(roots) == 0 {
		return built{}, fmt.Errorf("TreeEnsemble has no tree_roots")
	}
	// tnodes 0..nn-1 are the interior nodes, nn..nn+nl-1 the leaves
	e := &ensemble{double: x.dt == dtDouble, outDouble: x.dt == dtDouble, nfeat: x.cols, nodes: make([]tnode, nn+nl)}
	child := func(i int, id int64, leaf bool) (int32, error) {
		if leaf {
			if id < 0 || int(id) >= nl {
				return 0, fmt.Errorf("node %d names leaf %d; there are %d", i, id, nl)
			}
			return int32(nn) + int32(id), nil
		}
		if id < 0 || int(id) >= nn {
			return 0, fmt.Errorf("node %d names node %d; there are %d", i, id, nn)
		}
		return int32(id), nil
	}
	for i := 0; i < nn; i++ {
		if modes[i] < 0 || int(modes[i]) >= len(v5Modes) {
			return built{}, fmt.Errorf("%w: nodes_modes value %d", ErrUnsupported, modes[i])
		}
		if feats[i] < 0 || int(feats[i]) >= x.cols {
			return built{}, fmt.Errorf("node %d splits on feature %d; the input has %d", i, feats[i], x.cols)
		}
		tn := tnode{mode: v5Modes[modes[i]], feature: int32(feats[i]), value: splits[i], missingTrue: missing != nil && missing[i] != 0}
		if tn.t, err = child(i, trueIDs[i], trueLeaf[i] != 0); err != nil {
			return built{}, err
		}
		if tn.f, err = child(i, falseIDs[i], falseLeaf[i] != 0); err != nil {
			return built{}, err
		}
		e.nodes[i] = tn
	}
	for j := 0; j < nl; j++ {
		if targets[j] < 0 || int(targets[j]) >= nt {
			return built{}, fmt.Errorf("leaf %d is for target %d; there are %d", j, targets[j], nt)
		}
		e.nodes[nn+j] = tnode{mode: modeLeaf, w0: int32(j), w1: int32(j + 1)}
		e.weights = append(e.weights, weight{target: int32(targets[j]), value: weights[j]})
	}
	for t, r := range roots {
		if r < 0 || int(r) >= nn {
			return built{}, fmt.Errorf("tree %d has root %d; there are %d nodes", t, r, nn)
		}
		if trueLeaf[r] != 0 && falseLeaf[r] != 0 && trueIDs[r] == falseIDs[r] {
			// A one-leaf tree. onnxruntime takes its weight at the root's
			// index in the leaf_* arrays, the specification at the leaf the
			// root names: they agree only when the two indices are equal.
			if trueIDs[r] != r {
				return built{}, fmt.Errorf("%w: tree %d is a single leaf (%d) whose index differs from its root's (%d): onnxruntime and the ONNX specification read different weights", ErrUnsupported, t, trueIDs[r], r)
			}
			e.roots = append(e.roots, int32(nn)+int32(r))
			continue
		}
		e.roots = append(e.roots, int32(r))
	}
	if err := e.checkAcyclic(); err != nil {
		return built{}, err
	}
	b := regressorSteps(e, in, nt, agg, post, nil)
	b.nodes = nn + nl
	return b, nil
}

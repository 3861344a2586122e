package lightgbm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// genOpts describes a random LightGBM text model for tests and benchmarks.
type genOpts struct {
	trees, depth, feats int
	k                   int    // trees per iteration (classes)
	objective           string // objective= line ("" for none)
	random              bool   // random shapes below depth (else complete trees)
	chain               bool   // one child of every split a leaf (a tree of depth = splits)
	missing             bool   // random missing types per feature (None/Zero/NaN, as LightGBM's bin mappers), default left/right per split
	mixed               bool   // with missing: a random missing type per split instead
	cats                bool   // some categorical splits
	linear              bool   // linear leaves
	grid                bool   // thresholds on a coarse grid (rows then hit them exactly)
}

// genModel writes a model in LightGBM's text format (the fields LightGBM
// writes; split_gain, weights and internal values are filler, the counts
// add up as LightGBM's do, with some empty leaves).
func genModel(rng *rand.Rand, o genOpts) string {
	if o.k == 0 {
		o.k = 1
	}
	var b strings.Builder
	b.WriteString("tree\nversion=v4\n")
	numClass := 1
	if o.k > 1 {
		numClass = o.k
	}
	fmt.Fprintf(&b, "num_class=%d\nnum_tree_per_iteration=%d\nlabel_index=0\nmax_feature_idx=%d\n", numClass, o.k, o.feats-1)
	if o.objective != "" {
		fmt.Fprintf(&b, "objective=%s\n", o.objective)
	}
	names := make([]string, o.feats)
	infos := make([]string, o.feats)
	for i := range names {
		names[i] = fmt.Sprintf("f%d", i)
		infos[i] = "[-10:10]"
	}
	fmt.Fprintf(&b, "feature_names=%s\nfeature_infos=%s\n\n", strings.Join(names, " "), strings.Join(infos, " "))
	miss := make([]int, o.feats)
	for f := range miss {
		miss[f] = rng.IntN(3)
	}
	for t := 0; t < o.trees; t++ {
		fmt.Fprintf(&b, "Tree=%d\n", t)
		b.WriteString(genTree(rng, o, miss))
		b.WriteString("\n\n")
	}
	b.WriteString("end of trees\n\nparameters:\n[boosting: gbdt]\nend of parameters\n\npandas_categorical:null\n")
	return b.String()
}

type genNode struct {
	feat, dt        int
	thr             float64
	left, right     int // LightGBM child references
	catLo, catWords int
}

func genTree(rng *rand.Rand, o genOpts, miss []int) string {
	var nodes []genNode
	var leaves []float64
	var words []uint32
	var bounds = []int{0}
	var build func(d int, leaf bool) int
	build = func(d int, leaf bool) int {
		if leaf || d == o.depth || (o.random && d > 0 && rng.IntN(4) == 0) {
			leaves = append(leaves, math.Round(rng.NormFloat64()*1e6)/1e7+rng.NormFloat64()*1e-9)
			return ^(len(leaves) - 1)
		}
		i := len(nodes)
		nodes = append(nodes, genNode{})
		nd := genNode{feat: rng.IntN(o.feats)}
		if o.cats && rng.IntN(3) == 0 {
			// a bitset of 1 or 2 words over categories 0..63
			nw := 1 + rng.IntN(2)
			for w := 0; w < nw; w++ {
				words = append(words, rng.Uint32())
			}
			nd.dt = 1 | rng.IntN(3)<<2 // categorical, missing None/Zero/NaN
			nd.thr = float64(len(bounds) - 1)
			bounds = append(bounds, len(words))
		} else {
			nd.thr = rng.NormFloat64() * 3
			if o.grid {
				nd.thr = math.Round(nd.thr*2) / 2
			}
			switch {
			case o.missing && o.mixed:
				nd.dt = rng.IntN(2)<<1 | rng.IntN(3)<<2
			case o.missing:
				nd.dt = rng.IntN(2)<<1 | miss[nd.feat]<<2
			default:
				nd.dt = 2 // what LightGBM writes for a feature without missing values
			}
		}
		side := rng.IntN(2)
		nd.left = build(d+1, o.chain && side == 0)
		nd.right = build(d+1, o.chain && side == 1)
		nodes[i] = nd
		return i
	}
	root := build(0, false)
	var b strings.Builder
	nl := len(leaves)
	fmt.Fprintf(&b, "num_leaves=%d\nnum_cat=%d\n", nl, len(bounds)-1)
	if root < 0 { // a single leaf
		fmt.Fprintf(&b, "split_feature=\nsplit_gain=\nthreshold=\ndecision_type=\nleft_child=\nright_child=\nleaf_value=%s\n", g(leaves[0]))
	} else {
		col := func(f func(n genNode) string) string {
			xs := make([]string, len(nodes))
			for i, n := range nodes {
				xs[i] = f(n)
			}
			return strings.Join(xs, " ")
		}
		fmt.Fprintf(&b, "split_feature=%s\n", col(func(n genNode) string { return strconv.Itoa(n.feat) }))
		fmt.Fprintf(&b, "split_gain=%s\n", col(func(genNode) string { return "1" }))
		fmt.Fprintf(&b, "threshold=%s\n", col(func(n genNode) string { return g(n.thr) }))
		fmt.Fprintf(&b, "decision_type=%s\n", col(func(n genNode) string { return strconv.Itoa(n.dt) }))
		fmt.Fprintf(&b, "left_child=%s\n", col(func(n genNode) string { return strconv.Itoa(n.left) }))
		fmt.Fprintf(&b, "right_child=%s\n", col(func(n genNode) string { return strconv.Itoa(n.right) }))
		lv := make([]string, nl)
		for i, v := range leaves {
			lv[i] = g(v)
		}
		fmt.Fprintf(&b, "leaf_value=%s\n", strings.Join(lv, " "))
	}
	leafCount, nodeCount := genCounts(nodes, nl)
	fmt.Fprintf(&b, "leaf_weight=%s\nleaf_count=%s\n", strings.TrimSpace(strings.Repeat("1 ", nl)), ints(leafCount))
	ni := max(nl-1, 0)
	fmt.Fprintf(&b, "internal_value=%s\ninternal_weight=%s\ninternal_count=%s\n",
		strings.TrimSpace(strings.Repeat("0 ", ni)), strings.TrimSpace(strings.Repeat("0 ", ni)), ints(nodeCount))
	if len(bounds) > 1 {
		bs := make([]string, len(bounds))
		for i, v := range bounds {
			bs[i] = strconv.Itoa(v)
		}
		ws := make([]string, len(words))
		for i, w := range words {
			ws[i] = strconv.FormatUint(uint64(w), 10)
		}
		fmt.Fprintf(&b, "cat_boundaries=%s\ncat_threshold=%s\n", strings.Join(bs, " "), strings.Join(ws, " "))
	}
	if o.linear {
		b.WriteString("is_linear=1\n")
		consts := make([]string, nl)
		counts := make([]string, nl)
		var feats, coeffs []string
		for l := 0; l < nl; l++ {
			consts[l] = g(rng.NormFloat64())
			n := rng.IntN(3)
			counts[l] = strconv.Itoa(n)
			for j := 0; j < n; j++ {
				feats = append(feats, strconv.Itoa(rng.IntN(o.feats)))
				coeffs = append(coeffs, g(rng.NormFloat64()/3))
			}
		}
		fmt.Fprintf(&b, "leaf_const=%s\nnum_features=%s\nleaf_features=%s\nleaf_coeff=%s\n",
			strings.Join(consts, " "), strings.Join(counts, " "), strings.Join(feats, " "), strings.Join(coeffs, " "))
	} else {
		b.WriteString("is_linear=0\n")
	}
	b.WriteString("shrinkage=1")
	return b.String()
}

// genCounts gives a tree's leaves varied training-row counts, some 0
// (without drawing from the test's random stream, so models stay as they
// were), and each split the sum of its children's, never 0.
func genCounts(nodes []genNode, nl int) (leafCount, nodeCount []int) {
	leafCount = make([]int, nl)
	for i := range leafCount {
		leafCount[i] = (i*7 + 3) % 11
	}
	nodeCount = make([]int, len(nodes))
	var sum func(c int) int
	sum = func(c int) int {
		if c < 0 {
			return leafCount[^c]
		}
		s := sum(nodes[c].left) + sum(nodes[c].right)
		if s == 0 { // both children are empty leaves
			leafCount[^nodes[c].left], s = 1, 1
		}
		nodeCount[c] = s
		return s
	}
	if len(nodes) > 0 {
		sum(0)
	}
	return leafCount, nodeCount
}

func ints(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " ")
}

// g writes a double as LightGBM does (%.17g): it parses back exactly.
func g(v float64) string { return strconv.FormatFloat(v, 'g', 17, 64) }

// genRows returns n rows of nf values mixing ordinary values with the
// cases LightGBM's rules single out: NaN, ±0, values at and around
// kZeroThreshold, ±Inf, huge values, negative and fractional categories,
// and (with grid) values exactly on grid thresholds.
func genRows(rng *rand.Rand, n, nf int, grid bool) []float64 {
	special := []float64{math.NaN(), 0, math.Copysign(0, -1), kZeroThreshold, -kZeroThreshold,
		math.Nextafter(kZeroThreshold, 1), 1e-36, math.Inf(1), math.Inf(-1), 1e300, -1e300,
		-0.5, -1, 2147483647, 2147483648, 3e9, 31, 32, 33, 63, 64}
	x := make([]float64, n*nf)
	for i := range x {
		switch rng.IntN(6) {
		case 0:
			x[i] = special[rng.IntN(len(special))]
		case 1:
			x[i] = float64(rng.IntN(70)) + []float64{0, 0.25, 0.999}[rng.IntN(3)] // categories
		case 2:
			if grid {
				x[i] = math.Round(rng.NormFloat64()*6) / 2 // on a threshold of the grid
				break
			}
			fallthrough
		default:
			x[i] = rng.NormFloat64() * 3
		}
	}
	return x
}

package lightgbm

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring/internal/fmath"
)

// refModel is a brute-force reference: the model text read into plain
// per-tree arrays and evaluated by recursion, one rule per line of
// LightGBM's Tree::Decision, NumericalDecision, CategoricalDecision,
// Tree::Predict and GBDT::Predict, with no layout tricks.
type refModel struct {
	k, iters   int
	average    bool
	objective  []string
	trees      []map[string][]string
	transform_ bool
}

func parseRef(t testing.TB, text string) *refModel {
	t.Helper()
	r := &refModel{transform_: true}
	var cur map[string][]string
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "Tree="):
			cur = map[string][]string{}
			r.trees = append(r.trees, cur)
		case l == "end of trees":
			cur = nil
		case strings.HasPrefix(l, "num_tree_per_iteration="):
			r.k, _ = strconv.Atoi(l[len("num_tree_per_iteration="):])
		case strings.HasPrefix(l, "objective="):
			r.objective = strings.Fields(l[len("objective="):])
		case l == "average_output":
			r.average = true
		case cur != nil && strings.Contains(l, "="):
			k, v, _ := strings.Cut(l, "=")
			cur[k] = strings.Fields(v)
		}
	}
	r.iters = len(r.trees) / r.k
	return r
}

func (r *refModel) f(tr map[string][]string, key string, i int) float64 {
	v, err := strconv.ParseFloat(tr[key][i], 64)
	if err != nil {
		panic(err)
	}
	return v
}

func (r *refModel) n(tr map[string][]string, key string, i int) int {
	v, err := strconv.Atoi(tr[key][i])
	if err != nil {
		panic(err)
	}
	return v
}

// leaf returns the leaf a row reaches (LightGBM's GetLeaf).
func (r *refModel) leaf(tr map[string][]string, row []float64) int {
	if r.n(tr, "num_leaves", 0) == 1 {
		return 0
	}
	numCat := r.n(tr, "num_cat", 0)
	node := 0
	for node >= 0 {
		fval := row[r.n(tr, "split_feature", node)]
		dt := r.n(tr, "decision_type", node)
		if numCat > 0 && dt&1 != 0 {
			node = r.catDecision(tr, fval, node)
		} else {
			node = r.numDecision(tr, fval, node, dt)
		}
	}
	return ^node
}

func (r *refModel) numDecision(tr map[string][]string, fval float64, node, dt int) int {
	missingType := (dt >> 2) & 3
	if math.IsNaN(fval) && missingType != 2 {
		fval = 0
	}
	isZero := fval >= -kZeroThreshold && fval <= kZeroThreshold
	if (missingType == 1 && isZero) || (missingType == 2 && math.IsNaN(fval)) {
		if dt&2 != 0 {
			return r.n(tr, "left_child", node)
		}
		return r.n(tr, "right_child", node)
	}
	if fval <= r.f(tr, "threshold", node) {
		return r.n(tr, "left_child", node)
	}
	return r.n(tr, "right_child", node)
}

func (r *refModel) catDecision(tr map[string][]string, fval float64, node int) int {
	right := r.n(tr, "right_child", node)
	if math.IsNaN(fval) {
		return right
	}
	t := math.Trunc(fval)
	if t < math.MinInt32 || t > math.MaxInt32 { // cvttsd2si: INT_MIN
		return right
	}
	iv := int(t)
	if iv < 0 {
		return right
	}
	ci := int(r.f(tr, "threshold", node))
	lo, hi := r.n(tr, "cat_boundaries", ci), r.n(tr, "cat_boundaries", ci+1)
	if iv/32 >= hi-lo {
		return right
	}
	w, _ := strconv.ParseUint(tr["cat_threshold"][lo+iv/32], 10, 32)
	if (w>>(iv%32))&1 == 1 {
		return r.n(tr, "left_child", node)
	}
	return right
}

// tree is Tree::Predict, linear leaves included.
func (r *refModel) tree(tr map[string][]string, row []float64) float64 {
	l := r.leaf(tr, row)
	if len(tr["is_linear"]) == 0 || tr["is_linear"][0] != "1" {
		return r.f(tr, "leaf_value", l)
	}
	out := r.f(tr, "leaf_const", l)
	start := 0
	for j := 0; j < l; j++ {
		start += r.n(tr, "num_features", j)
	}
	for j := start; j < start+r.n(tr, "num_features", l); j++ {
		v := row[r.n(tr, "leaf_features", j)]
		if math.IsNaN(v) {
			return r.f(tr, "leaf_value", l)
		}
		prod := r.f(tr, "leaf_coeff", j) * v
		out += prod
	}
	return out
}

// predict is GBDT::Predict on a dense row (values with |x| <=
// kZeroThreshold read as 0, as the dense-row conversion drops them).
func (r *refModel) predict(row []float64, raw bool) []float64 {
	x := make([]float64, len(row))
	for i, v := range row {
		if math.IsNaN(v) || math.Abs(v) > kZeroThreshold {
			x[i] = v
		}
	}
	out := make([]float64, r.k)
	for it := 0; it < r.iters; it++ {
		for c := 0; c < r.k; c++ {
			out[c] += r.tree(r.trees[it*r.k+c], x)
		}
	}
	if raw {
		return out
	}
	if r.average {
		for c := range out {
			out[c] /= float64(r.iters)
		}
	}
	if len(r.objective) == 0 {
		return out
	}
	sigmoid := 1.0
	sqrt := false
	for _, o := range r.objective[1:] {
		if strings.HasPrefix(o, "sigmoid:") {
			sigmoid, _ = strconv.ParseFloat(o[len("sigmoid:"):], 64)
		}
		sqrt = sqrt || o == "sqrt"
	}
	switch r.objective[0] {
	case "binary":
		out[0] = 1.0 / (1.0 + fmath.Exp(-sigmoid*out[0]))
	case "multiclassova":
		for c := range out {
			out[c] = 1.0 / (1.0 + fmath.Exp(-sigmoid*out[c]))
		}
	case "cross_entropy":
		out[0] = 1.0 / (1.0 + fmath.Exp(-out[0]))
	case "cross_entropy_lambda":
		out[0] = math.Log(1.0 + fmath.Exp(out[0]))
	case "poisson", "gamma", "tweedie":
		out[0] = fmath.Exp(out[0])
	case "multiclass":
		wmax := out[0]
		for _, v := range out[1:] {
			wmax = math.Max(v, wmax)
		}
		sum := 0.0
		for c := range out {
			out[c] = fmath.Exp(out[c] - wmax)
			sum += out[c]
		}
		for c := range out {
			out[c] /= sum
		}
	case "regression", "regression_l1", "quantile", "fair", "mape":
		if sqrt {
			s := 0.0
			if out[0] > 0 {
				s = 1
			} else if out[0] < 0 {
				s = -1
			}
			out[0] = s * out[0] * out[0]
		}
	}
	return out
}

// sameBits compares float64 slices bit for bit (NaN = NaN).
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

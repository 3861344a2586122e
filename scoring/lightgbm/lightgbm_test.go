package lightgbm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/internal/fmath"
)

func load(t testing.TB, name string) (*Model, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data, strings.TrimSuffix(name, ".txt"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m, string(data)
}

func predict(t testing.TB, m *Model, rows ...[]float64) []float64 {
	t.Helper()
	var x []float64
	for _, r := range rows {
		x = append(x, r...)
	}
	out := make([]float64, len(rows)*m.Info().Outputs())
	if err := m.Predict64To64(x, out); err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	nan   = math.NaN()
	inf   = math.Inf(1)
	above = math.Nextafter
)

// TestNumericalDecisions: each tree of testdata/numerical.txt adds a
// different power of ten, so the sum names the branch every tree took.
// Expected values follow NumericalDecision: x <= threshold goes left (rows
// exactly on thresholds, and one ulp off), NaN at a None split is 0.0,
// a missing value (NaN for NaN, |x| <= kZeroThreshold for Zero) goes to
// the default child, and the dense input drops |x| <= kZeroThreshold to 0.
func TestNumericalDecisions(t *testing.T) {
	m, _ := load(t, "numerical.txt")
	for _, tc := range []struct {
		name    string
		a, b, c float64
		want    float64
	}{
		{"on every threshold: left", 1.5, -1, 2, 1 + 10 + 100 + 1000 + 10000 + 200000 + 0.5},
		{"one ulp above: right", above(1.5, 2), above(-1, 0), above(2, 3), 2 + 20 + 100 + 2000 + 20000 + 200000 + 0.5},
		{"one ulp below: left", above(1.5, 0), above(-1, -2), above(2, 0), 1 + 10 + 100 + 1000 + 10000 + 200000 + 0.5},
		{"NaN: 0.0 at None, default at Zero and NaN", nan, nan, nan, 1 + 10 + 200 + 1000 + 20000 + 100000 + 0.5},
		{"zero: default at Zero, compared at NaN", 0, 0, 0, 1 + 10 + 200 + 1000 + 10000 + 100000 + 0.5},
		{"tiny values are zero", 1e-36, -1e-36, kZeroThreshold, 1 + 10 + 200 + 1000 + 10000 + 100000 + 0.5},
		{"just above kZeroThreshold is not zero", math.Copysign(0, -1), above(kZeroThreshold, 1), inf, 1 + 20 + 100 + 2000 + 20000 + 100000 + 0.5},
		{"infinities compare", inf, math.Inf(-1), math.Inf(-1), 2 + 10 + 100 + 1000 + 10000 + 200000 + 0.5},
		{"deep tree, right branch", 1, 2, nan, 1 + 20 + 200 + 1000 + 20000 + 400000 + 0.5},
		{"deep tree, NaN default right", 1, 0.5, nan, 1 + 20 + 100 + 1000 + 20000 + 300000 + 0.5},
	} {
		for _, mm := range []*Model{m, withoutFast(m)} {
			got := predict(t, mm, []float64{tc.a, tc.b, tc.c})[0]
			if got != tc.want {
				t.Errorf("%s (%v, %v, %v), %d fast trees: %v, want %v", tc.name, tc.a, tc.b, tc.c, len(mm.fast.trees), got, tc.want)
			}
		}
	}
	if n := len(m.fast.trees); n != 6 {
		t.Errorf("%d trees on the complete-tree walk, want 6 (all but the single leaf)", n)
	}
}

// TestCategoricalDecisions follows CategoricalDecision: NaN right, the
// value truncated to int (out of range: INT_MIN, right), negative right,
// left iff its bit is set; beyond the bitset right; a tree without
// categorical splits (num_cat=0) decides numerically whatever
// decision_type says.
func TestCategoricalDecisions(t *testing.T) {
	m, _ := load(t, "categorical.txt")
	for _, tc := range []struct {
		name   string
		cat, x float64
		want   float64
	}{
		{"in the first word", 1, 1, 1 + 20 + 200 + 3000 + 10000 + 300000},
		{"bit 31 of the first word", 31, 1, 1 + 20 + 200 + 3000 + 20000 + 300000},
		{"in the second word", 32, 0, 1 + 20 + 200 + 2000 + 20000 + 300000},
		{"bit 8 of the second word", 40, 0, 1 + 20 + 200 + 2000 + 20000 + 300000},
		{"beyond the bitset", 64, 0, 2 + 20 + 200 + 2000 + 20000 + 300000},
		{"NaN: right at every missing type", nan, -1, 2 + 20 + 200 + 2000 + 10000 + 300000},
		{"-0.5 truncates to category 0", -0.5, 5, 2 + 10 + 200 + 3000 + 10000 + 300000},
		{"negative: right", -1, 0, 2 + 20 + 200 + 2000 + 10000 + 300000},
		{"2.9 truncates to 2", 2.9, -3, 2 + 20 + 100 + 2000 + 20000 + 300000},
		{"5.5 truncates to 5 (nested under a numerical split)", 5.5, -1, 2 + 20 + 200 + 1000 + 20000 + 300000},
		{"first split of a two-bitset tree", 7, 1, 2 + 20 + 200 + 3000 + 20000 + 100000},
		{"second split of a two-bitset tree", 8, 1, 2 + 20 + 200 + 3000 + 20000 + 200000},
		{"category 0", 0, 1, 2 + 10 + 200 + 3000 + 10000 + 300000},
		{"a tiny value is category 0", 1e-40, 1, 2 + 10 + 200 + 3000 + 10000 + 300000},
		{"beyond the int range: right", 3e9, 0, 2 + 20 + 200 + 2000 + 20000 + 300000},
		{"below the int range: right", -3e9, 1, 2 + 20 + 200 + 3000 + 10000 + 300000},
		{"+Inf: right", inf, 1, 2 + 20 + 200 + 3000 + 20000 + 300000},
		{"largest int: beyond the bitset", 2147483647.9, 1, 2 + 20 + 200 + 3000 + 20000 + 300000},
	} {
		for _, mm := range []*Model{m, withoutFast(m)} {
			got := predict(t, mm, []float64{tc.cat, tc.x})[0]
			if got != tc.want {
				t.Errorf("%s (%v, %v), %d fast trees: %v, want %v", tc.name, tc.cat, tc.x, len(mm.fast.trees), got, tc.want)
			}
		}
	}
	if len(m.fast.trees) != 6 {
		t.Errorf("%d fast trees, want all 6", len(m.fast.trees))
	}
}

// TestLinearLeaves: leaf_const + Σ coeff·x in file order with each product
// rounded (no fused multiply-add), the leaf value when a feature of the
// leaf is NaN, a single-leaf linear tree.
func TestLinearLeaves(t *testing.T) {
	m, _ := load(t, "linear.txt")
	plain := func(a, b float64) float64 {
		v := 0.1 + float64(0.3*a)
		return v + float64(-0.7*b)
	}
	tail := func(b float64) float64 { return 0.25 + float64(0.1*b) }
	distinguished := false
	for _, tc := range []struct {
		a, b, want float64
	}{
		{-0.1, 0.2, plain(-0.1, 0.2) + tail(0.2)},
		{-0.1, 1.3, plain(-0.1, 1.3) + tail(1.3)},
		{-3.7, 0.9, plain(-3.7, 0.9) + tail(0.9)},
		{-0.7, 2.1, plain(-0.7, 2.1) + tail(2.1)},
		{2, 2.1, 1 + tail(2.1)},         // right leaf: constant 1, no features
		{-1, nan, 0.5 + 3},              // NaN feature: both trees fall back to leaf_value
		{nan, 1, plain(0, 1) + tail(1)}, // NaN at the (None) split is 0.0, but a's value in the leaf is NaN
	} {
		got := predict(t, m, []float64{tc.a, tc.b})[0]
		if math.IsNaN(tc.a) {
			tc.want = 0.5 + tail(1) // a is a leaf feature and NaN: leaf_value
		}
		if got != tc.want {
			t.Errorf("(%v, %v): %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if !math.IsNaN(tc.a) && !math.IsNaN(tc.b) && tc.a <= 0 {
			if fused := math.FMA(-0.7, tc.b, math.FMA(0.3, tc.a, 0.1)) + math.FMA(0.1, tc.b, 0.25); fused != tc.want {
				distinguished = true
			}
		}
	}
	if !distinguished {
		t.Error("no row tells fused from plain multiply-add")
	}
}

// treesModel writes a model of one feature x whose trees each split at
// x <= 0 into the two given leaf values (tree i adds to class i mod k).
func treesModel(version, objective, extra string, k int, leaves [][2]float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tree\nversion=%s\nnum_class=%d\nnum_tree_per_iteration=%d\nlabel_index=0\nmax_feature_idx=0\n", version, max(k, 1), k)
	if objective != "" {
		fmt.Fprintf(&b, "objective=%s\n", objective)
	}
	b.WriteString(extra)
	b.WriteString("feature_names=x\nfeature_infos=[-1:1]\n\n")
	for i, l := range leaves {
		fmt.Fprintf(&b, "Tree=%d\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nsplit_gain=1\nthreshold=0\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=%s %s\nleaf_count=1 1\ninternal_value=0\ninternal_count=2\nis_linear=0\nshrinkage=1\n\n",
			i, g(l[0]), g(l[1]))
	}
	b.WriteString("end of trees\n")
	return b.String()
}

// objectiveModel is one iteration of k trees; tree c has leaves -0.75-c/4
// (x <= 0) and 1.25+c/8.
func objectiveModel(objective string, k int, extra string) string {
	leaves := make([][2]float64, k)
	for c := range leaves {
		leaves[c] = [2]float64{-0.75 - float64(c)/4, 1.25 + float64(c)/8}
	}
	return treesModel("v4", objective, extra, k, leaves)
}

func sigmoid(s, x float64) float64 { return 1 / (1 + fmath.Exp(-s*x)) }

// TestObjectives checks every objective's ConvertOutput (LightGBM's
// objective classes) on raw scores -0.75 and 1.25, and the output kind.
func TestObjectives(t *testing.T) {
	lo, hi := -0.75, 1.25
	ident := func(x float64) float64 { return x }
	sq := func(x float64) float64 { return math.Copysign(1, x) * x * x }
	for _, tc := range []struct {
		objective string
		kind      scoring.OutputKind
		f         func(float64) float64
	}{
		{"binary sigmoid:1", scoring.Binary, func(x float64) float64 { return sigmoid(1, x) }},
		{"binary sigmoid:0.7", scoring.Binary, func(x float64) float64 { return sigmoid(0.7, x) }},
		{"cross_entropy", scoring.Binary, func(x float64) float64 { return 1 / (1 + fmath.Exp(-x)) }},
		{"cross_entropy_lambda", scoring.Regression, func(x float64) float64 { return math.Log(1 + fmath.Exp(x)) }},
		{"poisson", scoring.Regression, fmath.Exp},
		{"gamma", scoring.Regression, fmath.Exp},
		{"tweedie", scoring.Regression, fmath.Exp},
		{"regression", scoring.Regression, ident},
		{"regression sqrt", scoring.Regression, sq},
		{"regression_l1", scoring.Regression, ident},
		{"regression_l1 sqrt", scoring.Regression, sq},
		{"huber", scoring.Regression, ident},
		{"fair", scoring.Regression, ident},
		{"fair sqrt", scoring.Regression, sq},
		{"quantile", scoring.Regression, ident},
		{"mape", scoring.Regression, ident},
		{"lambdarank", scoring.Regression, ident},
		{"rank_xendcg", scoring.Regression, ident},
		{"custom", scoring.Regression, ident},
		{"", scoring.Regression, ident}, // no objective line: a custom objective
	} {
		m, err := Parse([]byte(objectiveModel(tc.objective, 1, "")), "obj")
		if err != nil {
			t.Errorf("%q: %v", tc.objective, err)
			continue
		}
		if m.Info().Output != tc.kind {
			t.Errorf("%q: output %v, want %v", tc.objective, m.Info().Output, tc.kind)
		}
		got := predict(t, m, []float64{-1}, []float64{1})
		if got[0] != tc.f(lo) || got[1] != tc.f(hi) {
			t.Errorf("%q: %v, want [%v %v]", tc.objective, got, tc.f(lo), tc.f(hi))
		}
		raw := make([]float64, 2)
		if err := m.PredictMargins64([]float64{-1, 1}, raw); err != nil || raw[0] != lo || raw[1] != hi {
			t.Errorf("%q: raw %v (%v)", tc.objective, raw, err)
		}
	}
	// multi-class: tree c feeds class c; softmax with the maximum
	// subtracted, one-vs-all sigmoids.
	raw := []float64{-0.75, -1, -1.25}
	for _, tc := range []struct {
		objective string
		want      func([]float64) []float64
	}{
		{"multiclass num_class:3", func(r []float64) []float64 {
			m := max(r[0], r[1], r[2])
			e := []float64{fmath.Exp(r[0] - m), fmath.Exp(r[1] - m), fmath.Exp(r[2] - m)}
			s := e[0] + e[1] + e[2]
			return []float64{e[0] / s, e[1] / s, e[2] / s}
		}},
		{"multiclassova num_class:3 sigmoid:1.5", func(r []float64) []float64 {
			return []float64{sigmoid(1.5, r[0]), sigmoid(1.5, r[1]), sigmoid(1.5, r[2])}
		}},
	} {
		m, err := Parse([]byte(objectiveModel(tc.objective, 3, "")), "obj")
		if err != nil {
			t.Fatalf("%q: %v", tc.objective, err)
		}
		if info := m.Info(); info.Output != scoring.MultiClass || info.Classes != 3 {
			t.Errorf("%q: info %+v", tc.objective, info)
		}
		if got, want := predict(t, m, []float64{-1}), tc.want(raw); !sameBits(got, want) {
			t.Errorf("%q: %v, want %v", tc.objective, got, want)
		}
	}
}

// TestAveragedForests: boosting rf (average_output) divides the sum by the
// iterations before the transform; a LightGBM 2.x forest (version=v2, all
// leaves in the transform's range) predicted the plain average.
func TestAveragedForests(t *testing.T) {
	twoIter := func(version string, l [4]float64) string {
		return treesModel(version, "binary sigmoid:1", "average_output\n", 1, [][2]float64{{l[0], l[1]}, {l[2], l[3]}})
	}
	for _, tc := range []struct {
		version string
		leaves  [4]float64
		want    func(a, b float64) float64
	}{
		{"v4", [4]float64{-0.75, 1.25, 0.5, 2}, func(a, b float64) float64 { return sigmoid(1, (a+b)/2) }},
		{"v3", [4]float64{0.2, 0.9, 0.3, 0.6}, func(a, b float64) float64 { return sigmoid(1, (a+b)/2) }},
		{"v2", [4]float64{0.2, 0.9, 0.3, 0.6}, func(a, b float64) float64 { return (a + b) / 2 }},          // leaves are probabilities
		{"v2", [4]float64{-0.75, 1.25, 0.5, 2}, func(a, b float64) float64 { return sigmoid(1, (a+b)/2) }}, // raw leaves: a later 2.x
	} {
		text := twoIter(tc.version, tc.leaves)
		m, err := Parse([]byte(text), "rf")
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", tc.version, tc.leaves, err, text)
		}
		if m.iterations != 2 {
			t.Fatalf("%d iterations", m.iterations)
		}
		got := predict(t, m, []float64{-1}, []float64{1})
		w0, w1 := tc.want(tc.leaves[0], tc.leaves[2]), tc.want(tc.leaves[1], tc.leaves[3])
		if got[0] != w0 || got[1] != w1 {
			t.Errorf("%s %v: %v, want [%v %v]", tc.version, tc.leaves, got, w0, w1)
		}
		raw := make([]float64, 1)
		if err := m.PredictMargins64([]float64{1}, raw); err != nil || raw[0] != tc.leaves[1]+tc.leaves[3] {
			t.Errorf("%s: raw score %v, want the plain sum %v", tc.version, raw, tc.leaves[1]+tc.leaves[3])
		}
	}
}

// TestV2MultiClassForestRefused: what LightGBM 2.x predicted for a
// multi-class random forest whose leaves hold probabilities is pinned by
// no reference, so such a file is refused rather than guessed.
func TestV2MultiClassForestRefused(t *testing.T) {
	leaves := [][2]float64{{0.2, 0.7}, {0.5, 0.1}, {0.3, 0.2}, {0.1, 0.6}, {0.7, 0.3}, {0.2, 0.1}}
	_, err := Parse([]byte(treesModel("v2", "multiclass num_class:3", "average_output\n", 3, leaves)), "rf")
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "multi-class random forest") {
		t.Errorf("v2 multi-class forest: %v", err)
	}
	if _, err := Parse([]byte(treesModel("v3", "multiclass num_class:3", "average_output\n", 3, leaves)), "rf"); err != nil {
		t.Errorf("v3 multi-class forest: %v", err)
	}
}

// TestDART: a DART model's file holds the already normalised trees, and
// LightGBM's DART predicts with GBDT::Predict: the plain sum, then the
// transform (no v3/v4 DART model with LightGBM's own predictions exists in
// the reference set; the v2 one is checked by the external test).
func TestDART(t *testing.T) {
	text := objectiveModel("binary sigmoid:1", 1, "") + "\nparameters:\n[boosting: dart]\n[drop_rate: 0.1]\nend of parameters\n\npandas_categorical:null\n"
	m, err := Parse([]byte(text), "dart")
	if err != nil {
		t.Fatal(err)
	}
	if got := predict(t, m, []float64{1})[0]; got != sigmoid(1, 1.25) {
		t.Errorf("dart: %v, want %v", got, sigmoid(1, 1.25))
	}
	if d := strings.Join(m.Describe(), "\n"); !strings.Contains(d, "boosting dart") {
		t.Errorf("describe: %s", d)
	}
}

// TestMultiClassInterleaving: tree i adds to class i mod K.
func TestMultiClassInterleaving(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	text := genModel(rng, genOpts{trees: 12, depth: 3, feats: 4, k: 3, objective: "multiclass num_class:3", missing: true})
	m, err := Parse([]byte(text), "mc")
	if err != nil {
		t.Fatal(err)
	}
	ref := parseRef(t, text)
	x := genRows(rng, 50, 4, false)
	raw := make([]float64, 150)
	if err := m.PredictMargins64(x, raw); err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 50; r++ {
		want := make([]float64, 3)
		for i, tr := range ref.trees {
			want[i%3] += ref.tree(tr, inputRow(x[r*4:(r+1)*4]))
		}
		if !sameBits(raw[r*3:(r+1)*3], want) {
			t.Fatalf("row %d: raw %v, want %v", r, raw[r*3:(r+1)*3], want)
		}
	}
}

// inputRow applies the dense-input rule (|x| <= kZeroThreshold reads 0).
func inputRow(row []float64) []float64 {
	out := make([]float64, len(row))
	for i, v := range row {
		out[i] = input(v)
	}
	return out
}

// TestAgainstReference scores random rows (NaN, ±0, tiny, infinite, huge,
// fractional and negative categories, values exactly on thresholds) with
// random models of every kind and compares, bit for bit, the fast walk,
// the node walk (fast layout switched off) and the brute-force reference.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []genOpts{
		{trees: 30, depth: 6, feats: 8, objective: "binary sigmoid:1"},
		{trees: 30, depth: 5, feats: 5, objective: "binary sigmoid:1", missing: true, grid: true},
		{trees: 20, depth: 7, feats: 6, objective: "regression", random: true, missing: true, grid: true},
		{trees: 20, depth: 6, feats: 9, objective: "regression", missing: true, mixed: true, grid: true}, // several views of a feature
		{trees: 20, depth: 4, feats: 4, objective: "poisson", cats: true, missing: true},
		{trees: 15, depth: 3, feats: 3, objective: "regression", linear: true, missing: true, grid: true},
		{trees: 10, depth: 12, feats: 6, objective: "regression", random: true, missing: true}, // sparse trees
		{trees: 10, depth: 55, feats: 6, objective: "regression", chain: true, missing: true},  // too deep for any fast walk
		{trees: 18, depth: 4, feats: 5, k: 3, objective: "multiclass num_class:3", missing: true, cats: true},
		{trees: 10, depth: 3, feats: 3, objective: "cross_entropy_lambda", missing: true},
	}
	for i, o := range kinds {
		text := genModel(rng, o)
		m, err := Parse([]byte(text), "gen")
		if err != nil {
			t.Fatalf("kind %d: %v", i, err)
		}
		ref := parseRef(t, text)
		slow := withoutFast(m)
		n := 300
		x := genRows(rng, n, o.feats, o.grid)
		k := m.Info().Outputs()
		fast, walk := make([]float64, n*k), make([]float64, n*k)
		if err := m.Predict64To64(x, fast); err != nil {
			t.Fatal(err)
		}
		if err := slow.Predict64To64(x, walk); err != nil {
			t.Fatal(err)
		}
		for r := 0; r < n; r++ {
			want := ref.predict(x[r*o.feats:(r+1)*o.feats], false)
			if !sameBits(fast[r*k:(r+1)*k], want) || !sameBits(walk[r*k:(r+1)*k], want) {
				t.Fatalf("kind %d row %d %v: fast %v, walk %v, reference %v", i, r, x[r*o.feats:(r+1)*o.feats], fast[r*k:(r+1)*k], walk[r*k:(r+1)*k], want)
			}
		}
		// float32 callers: the same computation on the widened inputs,
		// rounded once.
		x32 := make([]float32, len(x))
		x64 := make([]float64, len(x))
		for j, v := range x {
			x32[j] = float32(v)
			x64[j] = float64(x32[j])
		}
		o32, o64, p64 := make([]float32, n*k), make([]float64, n*k), make([]float32, n*k)
		if err := m.Predict(x32, o32); err != nil {
			t.Fatal(err)
		}
		if err := m.Predict64To64(x64, o64); err != nil {
			t.Fatal(err)
		}
		if err := m.Predict64(x64, p64); err != nil {
			t.Fatal(err)
		}
		for j := range o32 {
			if math.Float32bits(o32[j]) != math.Float32bits(float32(o64[j])) || math.Float32bits(p64[j]) != math.Float32bits(o32[j]) {
				t.Fatalf("kind %d output %d: Predict %v, Predict64 %v, float32(Predict64To64) %v", i, j, o32[j], p64[j], float32(o64[j]))
			}
		}
	}
}

// withoutFast is m with every tree on the node walk.
func withoutFast(m *Model) *Model {
	c := *m
	c.trees = append([]tree(nil), m.trees...)
	for i := range c.trees {
		c.trees[i].fast = -1
	}
	c.fast = fastLayout{}
	return &c
}

func TestInfoAndCategories(t *testing.T) {
	m, _ := load(t, "numerical.txt")
	info := m.Info()
	if info.Format != Format || info.Name != "numerical" || len(info.Version) != 12 || info.Output != scoring.Regression ||
		info.Classes != 1 || strings.Join(info.Features, ",") != "a,b,c" || info.Categories != nil {
		t.Errorf("info %+v", info)
	}
	if !m.Float64Input() || m.Margins() != 1 || m.NumTrees() != 7 || m.NumNodes() != 8+15 {
		t.Errorf("Float64Input %v Margins %d NumTrees %d NumNodes %d", m.Float64Input(), m.Margins(), m.NumTrees(), m.NumNodes())
	}
	var _ scoring.Float64OutputModel = m
	var _ scoring.MarginModel = m

	base := objectiveModel("binary sigmoid:1", 1, "")
	base = strings.Replace(base, "max_feature_idx=0", "max_feature_idx=2", 1)
	base = strings.Replace(base, "feature_names=x\nfeature_infos=[-1:1]", "feature_names=x color flag\nfeature_infos=[-1:1] -1:0:1 -1:0:1", 1)
	withCats := func(catFeature, pandas string) string {
		return base + "\nparameters:\n[categorical_feature: " + catFeature + "]\nend of parameters\n\npandas_categorical:" + pandas + "\n"
	}
	for _, tc := range []struct {
		name, catFeature, pandas string
		want                     [][]string
		note                     string
	}{
		{"strings and booleans", "1,2", `[["red", "green"], [false, true]]`, [][]string{nil, {"red", "green"}, {"false", "true"}}, ""},
		{"numbers in shortest form", "1", `[[3, 4.0, 8.5]]`, [][]string{nil, {"3", "4", "8.5"}, nil}, ""},
		{"null", "", "null", nil, ""},
		{"empty", "1,2", "[]", nil, ""},
		{"fewer lists than categorical features", "1,2", `[["red"]]`, nil, "1 pandas_categorical lists for 2 categorical_feature entries"},
		{"names, not indices", "color", `[["red"]]`, nil, "not a list of feature indices"},
		{"bad JSON", "1", `[["red"`, nil, "pandas_categorical not read"},
		{"duplicate category", "1", `[["a", "a"]]`, nil, "twice"},
	} {
		m, err := Parse([]byte(withCats(tc.catFeature, tc.pandas)), "cats")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := m.Info().Categories; fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: categories %q, want %q", tc.name, got, tc.want)
		}
		d := strings.Join(m.Describe(), "\n")
		if tc.note != "" && !strings.Contains(d, tc.note) {
			t.Errorf("%s: describe does not say %q:\n%s", tc.name, tc.note, d)
		}
		if tc.want != nil && !strings.Contains(d, "categories (pandas_categorical): color (") {
			t.Errorf("%s: describe:\n%s", tc.name, d)
		}
	}
}

// TestParseErrors: a file that cannot be scored correctly is refused with
// an error that names what is wrong.
func TestParseErrors(t *testing.T) {
	_, base := load(t, "numerical.txt")
	_, cats := load(t, "categorical.txt")
	for _, tc := range []struct {
		name, text, from, to string
		unsupported          bool
		msg                  string
	}{
		{"not a model", base, "tree\n", "forest\n", false, "not a LightGBM text model"},
		{"version", base, "version=v4", "version=v5", true, "version=v5"},
		{"no version", base, "version=v4", "version=", false, "not a LightGBM text model"},
		{"objective", base, "objective=regression", "objective=regression_l3", true, "regression_l3"},
		{"objective option", base, "objective=regression", "objective=regression cube", true, "cube"},
		{"sigmoid", base, "objective=regression", "objective=binary sigmoid:0", false, "sigmoid"},
		{"header key", base, "label_index=0", "label_index=0\nlinear_magic=1", true, "linear_magic"},
		{"tree field", base, "shrinkage=1\n\nTree=1", "shrinkage=1\nmagic=2\n\nTree=1", true, "magic"},
		{"missing type 3", base, "decision_type=10", "decision_type=14", true, "decision_type 14"},
		{"feature out of range", base, "split_feature=2\nsplit_gain=1\nthreshold=2\ndecision_type=10", "split_feature=3\nsplit_gain=1\nthreshold=2\ndecision_type=10", false, "split_feature 3"},
		{"child out of range", base, "left_child=-1 2 -2", "left_child=-1 7 -2", false, "child 7"},
		{"cycle", base, "left_child=-1 2 -2", "left_child=-1 0 -2", false, "twice"},
		{"leaf count", base, "leaf_value=1 2\n", "leaf_value=1 2 3\n", false, "leaf_value has 3 values, want 2"},
		{"bad number", base, "threshold=1.5", "threshold=1.5x", false, "threshold[0]"},
		{"truncated", base, "Tree=6", "", false, "the end of the file (truncated file?)"},
		{"tree_sizes", base, "tree_sizes=1 1 1 1 1 1 1", "tree_sizes=1 1 1", false, "tree_sizes lists 3 trees"},
		{"trees per iteration", base, "num_tree_per_iteration=1", "num_tree_per_iteration=2", false, "num_tree_per_iteration=2"},
		{"feature names", base, "feature_names=a b c", "feature_names=a b", false, "feature_names lists 2 names"},
		{"no max_feature_idx", base, "max_feature_idx=2\n", "", false, "max_feature_idx"},
		{"classes", base, "objective=regression", "objective=multiclass num_class:3", false, "num_class=1"},
		{"no objective, two trees per iteration", base, "objective=regression\n", "", false, ""},
		{"bitset index", cats, "threshold=1 0\n", "threshold=2 0\n", false, "not a bitset index"},
		{"bitset word", cats, "cat_threshold=4\n", "cat_threshold=4294967296\n", false, "32-bit"},
		{"boundaries", cats, "cat_boundaries=0 1 2", "cat_boundaries=0 2 1", false, "not ascending"},
		{"tree numbering", base, "Tree=3", "Tree=9", false, "want Tree=3"},
	} {
		if !strings.Contains(tc.text, tc.from) {
			t.Fatalf("%s: %q not in the model", tc.name, tc.from)
		}
		text := strings.Replace(tc.text, tc.from, tc.to, 1)
		if tc.name == "truncated" {
			text = tc.text[:strings.Index(tc.text, tc.from)]
		}
		if tc.name == "no objective, two trees per iteration" {
			text = strings.Replace(strings.Replace(text, "num_tree_per_iteration=1", "num_tree_per_iteration=7", 1), "num_class=1", "num_class=7", 1)
			tc.unsupported, tc.msg = true, "without a built-in objective"
		}
		_, err := Parse([]byte(text), "bad")
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) || errors.Is(err, ErrUnsupported) != tc.unsupported {
			t.Errorf("%s: error %q (unsupported %v), want one naming %q (unsupported %v)", tc.name, err, errors.Is(err, ErrUnsupported), tc.msg, tc.unsupported)
		}
	}
	// LightGBM 2.x files may end the trees with the feature importances.
	if _, err := Parse([]byte(strings.Replace(base, "end of trees\n\nfeature_importances:", "feature importances:", 1)), "v2"); err != nil {
		t.Errorf("trees ended by the feature importances: %v", err)
	}
	if !IsText([]byte(base)) || IsText([]byte("tree\nnum_class=1\n")) || IsText([]byte("{}")) {
		t.Error("IsText")
	}
}

func TestShapeErrors(t *testing.T) {
	m, _ := load(t, "numerical.txt")
	if err := m.Predict64To64(make([]float64, 4), make([]float64, 1)); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("ragged rows: %v", err)
	}
	if err := m.Predict64To64(make([]float64, 6), make([]float64, 1)); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("wrong output size: %v", err)
	}
	if err := m.Predict(make([]float32, 3), make([]float32, 2)); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("wrong output size (float32): %v", err)
	}
	if err := m.PredictMargins64(make([]float64, 3), nil); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("margins: %v", err)
	}
}

func TestNoAllocationPerRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	m, err := Parse([]byte(genModel(rng, genOpts{trees: 20, depth: 5, feats: 6, objective: "binary sigmoid:1", missing: true, cats: true})), "a")
	if err != nil {
		t.Fatal(err)
	}
	x := genRows(rng, 1000, 6, false)
	out := make([]float64, 1000)
	m.Predict64To64(x, out) // warm the pool
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race; the plain run measures this")
	}
	if a := testing.AllocsPerRun(10, func() { m.Predict64To64(x, out) }); a > 0 {
		t.Errorf("%v allocations per call of 1000 rows", a)
	}
}

// TestGolden checks testdata/golden_binary.csv, whose probabilities an
// evaluator written independently in Python (testdata/gen_golden.py)
// computed, bit for bit; scoring/load's conformance suite uses the same
// files through the loader.
func TestGolden(t *testing.T) {
	m, _ := load(t, "golden_binary.txt")
	data, err := os.ReadFile(filepath.Join("testdata", "golden_binary.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")[1:]
	x := make([]float64, 0, len(lines)*6)
	var want []float64
	for _, l := range lines {
		for _, c := range strings.Split(l, ",") {
			v, err := strconv.ParseFloat(c, 64)
			if err != nil {
				t.Fatal(err)
			}
			x = append(x, v)
		}
		want, x = append(want, x[len(x)-1]), x[:len(x)-1]
	}
	for _, mm := range []*Model{m, withoutFast(m)} {
		got := make([]float64, len(want))
		if err := mm.Predict64To64(x, got); err != nil {
			t.Fatal(err)
		}
		for r := range want {
			if got[r] != want[r] {
				t.Errorf("%d fast trees, row %d %v: %v, the Python evaluator %v", len(mm.fast.trees), r, x[r*6:(r+1)*6], got[r], want[r])
			}
		}
	}
	if len(m.fast.trees) == 0 {
		t.Error("no tree on the fast walk")
	}
}

// TestWalkKernels runs the assembly kernel (on amd64) and its Go
// definition on the same expanded rows, narrow and wide (more slots than
// any fixed row stride): the same leaves, added in the same order.
func TestWalkKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	sparse, complete := 0, 0
	for _, o := range []genOpts{
		{trees: 12, depth: 8, feats: 7, random: true, missing: true, objective: "regression"},
		{trees: 12, depth: 6, feats: 40, missing: true, mixed: true, objective: "regression"},
		{trees: 12, depth: 16, feats: 5, random: true, missing: true, cats: true, objective: "regression"},
	} {
		m, err := Parse([]byte(genModel(rng, o)), "k")
		if err != nil {
			t.Fatal(err)
		}
		const rows = 40
		x := genRows(rng, rows, o.feats, false)
		keys := make([]uint64, rows*m.fast.width)
		m.fast.expand(x, rows, o.feats, keys)
		gb := uintptr(8 * m.fast.groupWords())
		for ti, ct := range m.fast.trees {
			for _, k := range []int{1, 3} {
				a, b := make([]float64, rows*k), make([]float64, rows*k)
				kb, sb := unsafe.Pointer(unsafe.SliceData(ct.keys)), unsafe.Pointer(unsafe.SliceData(ct.slots))
				lp, xb := unsafe.Pointer(unsafe.SliceData(ct.leaves)), unsafe.Pointer(unsafe.SliceData(keys))
				if ct.next != nil {
					nb := unsafe.Pointer(unsafe.SliceData(ct.next))
					walkSparse(kb, sb, nb, xb, gb, ct.depth, rows/8, lp, unsafe.Pointer(&a[k-1]), uintptr(8*k))
					walkSparseGo(kb, sb, nb, xb, gb, ct.depth, rows/8, lp, unsafe.Pointer(&b[k-1]), uintptr(8*k))
					sparse++
				} else {
					walkTree(kb, sb, xb, gb, ct.depth, rows/8, lp, unsafe.Pointer(&a[k-1]), uintptr(8*k))
					walkTreeGo(kb, sb, xb, gb, ct.depth, rows/8, lp, unsafe.Pointer(&b[k-1]), uintptr(8*k))
					complete++
				}
				if !sameBits(a, b) {
					t.Fatalf("%d slots, tree %d, stride %d: kernel %v, Go %v", m.fast.width, ti, k, a, b)
				}
			}
		}
		if o.feats == 40 && m.fast.width <= 64 {
			t.Errorf("only %d slots: not a wide row", m.fast.width)
		}
	}
	if sparse == 0 || complete == 0 {
		t.Errorf("%d sparse and %d complete tree walks: want both", sparse, complete)
	}
}

// TestLayoutChoice: balanced trees are padded, deep or lopsided ones
// sparse, chains beyond maxSparseDepth and linear trees walk the nodes.
func TestLayoutChoice(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		o                      genOpts
		complete, sparse, node int
	}{
		{genOpts{trees: 5, depth: 6, feats: 4}, 5, 0, 0},
		{genOpts{trees: 5, depth: 20, feats: 4, chain: true}, 0, 5, 0},
		{genOpts{trees: 5, depth: 55, feats: 4, chain: true}, 0, 0, 5},
		{genOpts{trees: 5, depth: 4, feats: 4, linear: true}, 0, 0, 5},
	} {
		tc.o.objective = "regression"
		m, err := Parse([]byte(genModel(rng, tc.o)), "l")
		if err != nil {
			t.Fatal(err)
		}
		complete, sparse, node := 0, 0, 0
		for _, tr := range m.trees {
			switch {
			case tr.fast < 0:
				node++
			case m.fast.trees[tr.fast].next != nil:
				sparse++
			default:
				complete++
			}
		}
		if complete != tc.complete || sparse != tc.sparse || node != tc.node {
			t.Errorf("%+v: %d complete, %d sparse, %d node walks; want %d, %d, %d", tc.o, complete, sparse, node, tc.complete, tc.sparse, tc.node)
		}
	}
}

package lightgbm

import (
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// shapCase is a model to explain and rows to explain it on.
type shapCase struct {
	name string
	text string
}

// shapCases are the test models: the testdata files with counts (real
// LightGBM output) and generated ones covering multi-class interleaving,
// missing types, categorical splits, deep lopsided trees that split on a
// feature twice on a path, random forests (average_output, v3 and the
// LightGBM 2.x kind), and dart.
func shapCases(t testing.TB) []shapCase {
	var cs []shapCase
	for _, f := range []string{"numerical.txt", "categorical.txt", "golden_binary.txt"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, shapCase{f, string(data)})
	}
	rng := rand.New(rand.NewPCG(13, 1))
	gen := func(name string, o genOpts) {
		cs = append(cs, shapCase{name, genModel(rng, o)})
	}
	gen("regression-missing", genOpts{trees: 8, depth: 4, feats: 5, objective: "regression", missing: true, mixed: true, grid: true})
	gen("binary-deep", genOpts{trees: 6, depth: 9, feats: 4, objective: "binary sigmoid:1", random: true, missing: true, grid: true})
	gen("chain", genOpts{trees: 4, depth: 10, feats: 3, objective: "regression", chain: true, grid: true})
	gen("categorical", genOpts{trees: 10, depth: 4, feats: 5, objective: "binary sigmoid:1", cats: true, missing: true})
	gen("multiclass", genOpts{trees: 12, depth: 4, feats: 6, k: 3, objective: "multiclass num_class:3", missing: true, cats: true, random: true})
	gen("multiclassova", genOpts{trees: 8, depth: 3, feats: 4, k: 2, objective: "multiclassova num_class:2 sigmoid:1", missing: true, grid: true})
	rf := genModel(rng, genOpts{trees: 9, depth: 4, feats: 4, k: 3, objective: "multiclass num_class:3", missing: true, random: true})
	cs = append(cs, shapCase{"rf-multiclass", strings.Replace(rf, "objective=", "average_output\nobjective=", 1)})
	rf = genModel(rng, genOpts{trees: 5, depth: 3, feats: 4, objective: "regression", missing: true, grid: true})
	cs = append(cs, shapCase{"rf-v2", strings.Replace(strings.Replace(rf, "version=v4", "version=v2", 1), "objective=", "average_output\nobjective=", 1)})
	dart := genModel(rng, genOpts{trees: 6, depth: 4, feats: 4, objective: "binary sigmoid:1", missing: true})
	cs = append(cs, shapCase{"dart", strings.Replace(dart, "[boosting: gbdt]", "[boosting: dart]\n[drop_rate: 0.1]", 1)})
	return cs
}

// shapRows are rows for m: genRows' special values (NaN, ±0, tiny,
// infinite, huge, fractional and negative categories, grid thresholds),
// plus each numerical split's threshold and its neighbours in the
// split's feature.
func shapRows(rng *rand.Rand, m *Model, n int) []float64 {
	x := genRows(rng, n, m.nfeat, true)
	for _, nd := range m.nodes {
		if nd.categorical {
			continue
		}
		for _, v := range []float64{nd.thr, math.Nextafter(nd.thr, math.Inf(-1)), math.Nextafter(nd.thr, math.Inf(1))} {
			row := genRows(rng, 1, m.nfeat, true)
			row[nd.feat] = v
			x = append(x, row...)
		}
	}
	return x
}

func parseCase(t testing.TB, c shapCase) (*Model, *explainer) {
	t.Helper()
	m, err := Parse([]byte(c.text), c.name)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	e, err := m.explainer()
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return m, e
}

// margins is what a group's contributions sum to: the raw score, averaged
// over the iterations for average_output, as the score is before its
// transform.
func margins(t testing.TB, m *Model, x []float64) []float64 {
	t.Helper()
	raw := make([]float64, len(x)/m.nfeat*m.k)
	if err := m.PredictMargins64(x, raw); err != nil {
		t.Fatal(err)
	}
	if m.average {
		for i := range raw {
			raw[i] /= float64(m.iterations)
		}
	}
	return raw
}

// TestExplainAdditivity: per row and group, the F+1 float64 contributions
// sum to the margin within 1e-9 relative (absolute below 1); the float32
// interfaces give the float32 rounding of the same values. For a LightGBM
// 2.x forest the margin is the output itself.
func TestExplainAdditivity(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range shapCases(t) {
		m, e := parseCase(t, c)
		x := shapRows(rng, m, 300)
		n, cols := len(x)/m.nfeat, m.nfeat+1
		out := make([]float64, n*m.k*cols)
		if err := e.Explain64To64(x, out); err != nil {
			t.Fatal(err)
		}
		raw := margins(t, m, x)
		if m.v2Forest {
			pred := make([]float64, len(raw))
			if err := m.Predict64To64(x, pred); err != nil {
				t.Fatal(err)
			}
			raw = pred
		}
		nonzero := 0
		for r := 0; r < n; r++ {
			for g := 0; g < m.k; g++ {
				set := out[(r*m.k+g)*cols : (r*m.k+g+1)*cols]
				sum := 0.0
				for f, v := range set {
					sum += v
					if f < m.nfeat && v != 0 {
						nonzero++
					}
				}
				want := raw[r*m.k+g]
				if math.Abs(sum-want) > 1e-9*max(1, math.Abs(want)) {
					t.Fatalf("%s row %d %v group %d: contributions %v sum to %v, margin %v", c.name, r, x[r*m.nfeat:(r+1)*m.nfeat], g, set, sum, want)
				}
			}
		}
		if nonzero == 0 {
			t.Fatalf("%s: every contribution is 0", c.name)
		}
		// The float32 interfaces: Explain64 rounds the same values;
		// Explain widens float32 rows exactly.
		o32 := make([]float32, len(out))
		if err := e.Explain64(x, o32); err != nil {
			t.Fatal(err)
		}
		for i := range out {
			if o32[i] != float32(out[i]) {
				t.Fatalf("%s: Explain64[%d] = %v, want %v", c.name, i, o32[i], float32(out[i]))
			}
		}
		x32 := make([]float32, len(x))
		x64 := make([]float64, len(x))
		for i, v := range x {
			x32[i] = float32(v)
			x64[i] = float64(x32[i])
		}
		if err := e.Explain64To64(x64, out); err != nil {
			t.Fatal(err)
		}
		if err := e.Explain(x32, o32); err != nil {
			t.Fatal(err)
		}
		for i := range out {
			if o32[i] != float32(out[i]) {
				t.Fatalf("%s: Explain[%d] = %v, want %v", c.name, i, o32[i], float32(out[i]))
			}
		}
	}
}

// refCount is the training rows at child reference c of a reference tree.
func (r *refModel) count(tr map[string][]string, c int) float64 {
	if c < 0 {
		return r.f(tr, "leaf_count", ^c)
	}
	return r.f(tr, "internal_count", c)
}

// condExp is the path-dependent E[f(x) | x_S] of one tree at node: a split
// on a feature in S follows the row as LightGBM's Decision does, any other
// split averages its children weighted by their counts.
func (r *refModel) condExp(tr map[string][]string, x []float64, known func(int) bool, node int) float64 {
	if node < 0 {
		return r.f(tr, "leaf_value", ^node)
	}
	feat := r.n(tr, "split_feature", node)
	left, right := r.n(tr, "left_child", node), r.n(tr, "right_child", node)
	if known(feat) {
		dt := r.n(tr, "decision_type", node)
		if r.n(tr, "num_cat", 0) > 0 && dt&1 != 0 {
			return r.condExp(tr, x, known, r.catDecision(tr, x[feat], node))
		}
		return r.condExp(tr, x, known, r.numDecision(tr, x[feat], node, dt))
	}
	c := r.f(tr, "internal_count", node)
	return r.count(tr, left)/c*r.condExp(tr, x, known, left) + r.count(tr, right)/c*r.condExp(tr, x, known, right)
}

// bruteShap is the exact Shapley values of v(S) = Σ_trees E[tree(x) | x_S]
// (divided by the iterations for average_output) over the features the
// trees split on, by enumerating every subset; the bias is v(∅). Layout:
// Explain's, for one row.
func (r *refModel) bruteShap(t testing.TB, nf int, row []float64) []float64 {
	x := inputRow(row)
	var used []int
	seen := map[int]bool{}
	for _, tr := range r.trees {
		for i := range tr["split_feature"] {
			if f := r.n(tr, "split_feature", i); !seen[f] && r.n(tr, "num_leaves", 0) > 1 {
				seen[f] = true
				used = append(used, f)
			}
		}
	}
	nu := len(used)
	if nu > 12 {
		t.Fatalf("%d used features: too many to enumerate", nu)
	}
	bit := make(map[int]uint, nu)
	for i, f := range used {
		bit[f] = uint(i)
	}
	v := make([]float64, (1<<nu)*r.k)
	for mask := 0; mask < 1<<nu; mask++ {
		known := func(f int) bool { return mask>>bit[f]&1 == 1 }
		for ti, tr := range r.trees {
			var e float64
			if r.n(tr, "num_leaves", 0) == 1 {
				e = r.f(tr, "leaf_value", 0)
			} else {
				e = r.condExp(tr, x, known, 0)
			}
			v[mask*r.k+ti%r.k] += e
		}
	}
	if r.average {
		for i := range v {
			v[i] /= float64(r.iters)
		}
	}
	// w[s] = s!(M-s-1)!/M!
	w := make([]float64, nu)
	for s := range w {
		w[s] = 1 / float64(nu)
		for j := 1; j <= s; j++ {
			w[s] *= float64(j) / float64(nu-j)
		}
	}
	out := make([]float64, r.k*(nf+1))
	for g := 0; g < r.k; g++ {
		for i, f := range used {
			phi := 0.0
			for mask := 0; mask < 1<<nu; mask++ {
				if mask>>i&1 == 1 {
					continue
				}
				phi += w[bits.OnesCount(uint(mask))] * (v[(mask|1<<i)*r.k+g] - v[mask*r.k+g])
			}
			out[g*(nf+1)+f] = phi
		}
		out[g*(nf+1)+nf] = v[g]
	}
	return out
}

// TestExplainBruteForce: TreeSHAP equals the exact Shapley values of the
// path-dependent conditional expectation, computed by enumeration over the
// reference reading of the model text, within 1e-9 (relative to the
// margin's scale); a feature no tree splits on gets exactly 0.
func TestExplainBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range shapCases(t) {
		m, e := parseCase(t, c)
		ref := parseRef(t, c.text)
		x := shapRows(rng, m, 60)
		if len(x) > 200*m.nfeat {
			x = x[len(x)-200*m.nfeat:] // the threshold rows of a big model
		}
		n, cl := len(x)/m.nfeat, m.k*(m.nfeat+1)
		out := make([]float64, n*cl)
		if err := e.Explain64To64(x, out); err != nil {
			t.Fatal(err)
		}
		for r := 0; r < n; r++ {
			row := x[r*m.nfeat : (r+1)*m.nfeat]
			want := ref.bruteShap(t, m.nfeat, row)
			got := out[r*cl : (r+1)*cl]
			scale := 1.0
			for _, v := range want {
				scale = max(scale, math.Abs(v))
			}
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-9*scale || (want[i] == 0 && got[i] != 0 && isUnused(ref, i%(m.nfeat+1))) {
					t.Fatalf("%s row %d %v: contribution %d = %v, brute force %v\ngot  %v\nwant %v", c.name, r, row, i, got[i], want[i], got, want)
				}
			}
		}
	}
}

// isUnused reports whether no tree of ref splits on feature f.
func isUnused(ref *refModel, f int) bool {
	for _, tr := range ref.trees {
		for i := range tr["split_feature"] {
			if ref.n(tr, "split_feature", i) == f {
				return false
			}
		}
	}
	return true
}

// TestExplainUnusedFeature: a feature the trees never split on gets 0.
func TestExplainUnusedFeature(t *testing.T) {
	text := treesModel("v4", "regression", "", 1, [][2]float64{{-1, 2}, {0.5, 0.25}})
	text = strings.Replace(text, "max_feature_idx=0", "max_feature_idx=1", 1)
	text = strings.Replace(text, "feature_names=x\nfeature_infos=[-1:1]", "feature_names=x unused\nfeature_infos=[-1:1] [-1:1]", 1)
	m, err := Parse([]byte(text), "unused")
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.explainer()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 3)
	if err := e.Explain64To64([]float64{1, 7}, out); err != nil {
		t.Fatal(err)
	}
	// Each tree: counts 1 and 1, so E = mean of its leaves; x = 1 goes right.
	want := []float64{(2 - 0.5) + (0.25 - 0.375), 0, 0.5 + 0.375}
	for i := range want {
		if math.Abs(out[i]-want[i]) > 1e-15 {
			t.Fatalf("%v, want %v", out, want)
		}
	}
}

// TestExplainRefusals: a linear-tree model, a model whose trees lack the
// counts, and one whose counts do not add up cannot explain; each says
// why, and each still predicts.
func TestExplainRefusals(t *testing.T) {
	_, lin := load(t, "linear.txt")
	_, num := load(t, "numerical.txt")
	strip := func(text, key string) string {
		return regexp.MustCompile(`(?m)^`+key+`=.*\n`).ReplaceAllString(text, "")
	}
	// a chain one split deeper than TreeSHAP takes (its path memory grows
	// with the square of the depth)
	deep := genModel(rand.New(rand.NewPCG(257, 1)), genOpts{trees: 1, depth: scoring.MaxExplainDepth + 1, feats: 3, chain: true})
	badSum := regexp.MustCompile(`(?m)^internal_count=(\d+)`).ReplaceAllStringFunc(num, func(s string) string {
		return s + "0" // ten times the count
	})
	for _, tc := range []struct {
		name, text string
		want       []string
		sentinel   error
	}{
		{"linear", lin, []string{"tree 0 is a linear tree (linear_tree)"}, scoring.ErrCannotExplain},
		{"no leaf_count", strip(num, "leaf_count"), []string{"trees without training-row counts", "tree 0: no leaf_count field"}, ErrNoCounts},
		{"no internal_count", strip(num, "internal_count"), []string{"tree 0: no internal_count field"}, ErrNoCounts},
		{"deep", deep, []string{"tree 0 is 257 deep, deeper than the 256 TreeSHAP takes"}, scoring.ErrCannotExplain},
		{"counts do not add up", badSum, []string{"tree 0: split 0 has internal_count", "do not add up"}, scoring.ErrCannotExplain},
	} {
		m, err := Parse([]byte(tc.text), tc.name)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := m.Predict64To64(make([]float64, m.nfeat), make([]float64, m.k)); err != nil {
			t.Errorf("%s: predict: %v", tc.name, err)
		}
		_, err = m.Explainer()
		if !errors.Is(err, scoring.ErrCannotExplain) || !errors.Is(err, tc.sentinel) {
			t.Errorf("%s: %v, want ErrCannotExplain and %v", tc.name, err, tc.sentinel)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
		if _, err2 := scoring.NewExplainer(m); !errors.Is(err2, scoring.ErrCannotExplain) || !strings.Contains(err2.Error(), "model "+tc.name) {
			t.Errorf("%s: NewExplainer: %v", tc.name, err2)
		}
	}
}

func TestExplainShapeAndAllocs(t *testing.T) {
	m, _ := load(t, "golden_binary.txt")
	ex, err := scoring.NewExplainer(m)
	if err != nil {
		t.Fatal(err)
	}
	e64, ok := ex.(scoring.Explainer64)
	if !ok {
		t.Fatal("the LightGBM explainer is not a scoring.Explainer64")
	}
	cl := scoring.ContributionLen(m.Info())
	if cl != 7 {
		t.Fatalf("ContributionLen %d", cl)
	}
	if err := ex.Explain(make([]float32, 12), make([]float32, 13)); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("short out: %v", err)
	}
	if err := ex.Explain(make([]float32, 11), make([]float32, 14)); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("partial row: %v", err)
	}
	if err := e64.Explain64(make([]float64, 12), make([]float32, 15)); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("Explain64 long out: %v", err)
	}
	x := genRows(rand.New(rand.NewPCG(1, 2)), 20, 6, false)
	out := make([]float32, 20*cl)
	e64.Explain64(x, out)
	if a := testing.AllocsPerRun(20, func() { e64.Explain64(x, out) }); a != 0 && !raceEnabled {
		t.Errorf("Explain64 allocates %v times per call", a)
	}
}

func BenchmarkExplainNumerical(b *testing.B) {
	m, _ := load(b, "numerical.txt")
	e, err := m.explainer()
	if err != nil {
		b.Fatal(err)
	}
	const n = 256
	x := genRows(rand.New(rand.NewPCG(3, 3)), n, m.nfeat, true)
	for _, mode := range []string{"predict", "explain"} {
		b.Run(mode, func(b *testing.B) {
			pred := make([]float64, n*m.k)
			contrib := make([]float32, n*m.k*(m.nfeat+1))
			for b.Loop() {
				var err error
				if mode == "predict" {
					err = m.Predict64To64(x, pred)
				} else {
					err = e.Explain64(x, contrib)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

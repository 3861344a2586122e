package xgboost

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// XGBoost's decision for a categorical split, stated directly from
// common::Decision: NaN takes the default child (tested elsewhere); an
// invalid category (< 0, ≥ 2^24, ±Inf) goes left; else the truncated value
// goes right iff it is in the list.
func referenceRight(list []int64, v float64) bool {
	if v < 0 || v >= 16777216 || math.IsInf(v, 0) {
		return false
	}
	return slices.Contains(list, int64(math.Trunc(v)))
}

func TestCategoryDecision(t *testing.T) {
	lists := [][]int64{{}, {0}, {3}, {0, 2, 63}, {64}, {1, 64, 65, 127, 128, 1000}, {16777215}}
	values := []float64{0, math.Copysign(0, -1), 1e-45, -1e-45, 0.5, 0.999999, 1, 2, 2.5, 3, 3.999, 62.9, 63, 63.5, 64, 65,
		127, 128, 1000, 1000.5, 16777215, 16777216, 3e7, 1e30, -0.5, -1, -63, -64, math.MaxFloat32, -math.MaxFloat32,
		math.Inf(1), math.Inf(-1)}
	for _, list := range lists {
		var set catSet
		if len(list) > 0 {
			set.words = make([]uint64, slices.Max(list)/64+1)
		}
		for _, c := range list {
			set.words[c>>6] |= 1 << (c & 63)
		}
		for _, v := range values {
			v32 := float32(v)
			if got, want := set.right(v32), referenceRight(list, float64(v32)); got != want {
				t.Errorf("categories %v, value %v: right = %v, want %v", list, v32, got, want)
			}
		}
	}
}

// tinyCategorical is one tree: the root splits feature 0 on categories
// {0, 5, 64, 100} with default right; the left leaf is -1, the right +1.
// Its split condition is a bare NaN, as XGBoost writes it.
const tinyCategorical = `{"learner":{"feature_names":[],"feature_types":["c"],
"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1"},"tree_info":[0],
"trees":[{"base_weights":[0,-1,1],"categories":[0,5,64,100],"categories_nodes":[0],"categories_segments":[0],
"categories_sizes":[4],"default_left":[false,false,false],"id":0,"left_children":[1,-1,-1],"loss_changes":[1,0,0],
"parents":[2147483647,0,0],"right_children":[2,-1,-1],"split_conditions":[NaN,-1E0,1E0],"split_indices":[0,0,0],
"split_type":[1,0,0],"sum_hessian":[2,1,1],"tree_param":{"num_deleted":"0","num_feature":"1","num_nodes":"3",
"size_leaf_vector":"1"}}]},"name":"gbtree"},
"learner_model_param":{"base_score":"0E0","num_class":"0","num_feature":"1","num_target":"1"},
"objective":{"name":"reg:squarederror","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,4,0]}`

func TestCategoricalWalk(t *testing.T) {
	m, err := Parse([]byte(tinyCategorical), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if m.complete != nil || m.NumCategoricalSplits() != 1 {
		t.Fatalf("fast layout %v, categorical splits %d", m.complete != nil, m.NumCategoricalSplits())
	}
	tests := []struct {
		x    float32
		want float32
	}{
		{float32(math.NaN()), 1}, // default child: right
		{0, 1}, {float32(math.Copysign(0, -1)), 1}, {0.7, 1}, {5, 1}, {5.99, 1}, {64, 1}, {64.5, 1}, {100, 1},
		{1, -1}, {4.99, -1}, {6, -1}, {63, -1}, {65, -1}, {99.999, -1}, {101, -1},
		{-0.5, -1}, {-1, -1}, {-64, -1}, {16777216, -1}, {1e9, -1},
		{float32(math.Inf(1)), -1}, {float32(math.Inf(-1)), -1}, {math.MaxFloat32, -1},
	}
	x := make([]float32, len(tests))
	for i, tt := range tests {
		x[i] = tt.x
	}
	out := make([]float32, len(tests))
	if err := m.Predict(x, out); err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		if out[i] != tt.want {
			t.Errorf("x = %v: %v, want %v", tt.x, out[i], tt.want)
		}
	}
}

// TestMixedLayout: in a model whose trees are partly categorical, the fast
// layout serves the numeric trees and the node walk the others, with the
// same sums as the node walk alone, on rows mixing codes, invalid codes,
// NaN, ±Inf and split thresholds.
func TestMixedLayout(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "cat_reg.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	numeric := 0
	for _, ct := range m.complete {
		if ct.nodes != nil {
			numeric++
		}
	}
	if numeric == 0 || numeric == len(m.roots) {
		t.Fatalf("%d of %d trees on the fast layout: want a mix", numeric, len(m.roots))
	}
	for _, n := range []int{1, 8, 9, 64, 65, 500} {
		x := trickyRows(m, n, uint64(n)+100)
		fast, slow := make([]float32, n), make([]float32, n)
		if err := m.PredictMargin(x, fast); err != nil {
			t.Fatal(err)
		}
		if err := walkOnly(m).PredictMargin(x, slow); err != nil {
			t.Fatal(err)
		}
		for i := range fast {
			if math.Float32bits(fast[i]) != math.Float32bits(slow[i]) {
				t.Fatalf("n=%d row %d: fast %v, walk %v", n, i, fast[i], slow[i])
			}
		}
	}
}

// withCats returns cat_reg.json with a "cats" object as XGBoost ≥ 3.1
// writes it (src/data/cat_container.cc): merchant has string categories
// (UTF-8 bytes as int8, Arrow offsets), channel integer ones (type 15,
// int64), the numeric features none.
func withCats(t *testing.T, merchants []string, channels []int64) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "cat_reg.json"))
	if err != nil {
		t.Fatal(err)
	}
	offsets, values := []int{0}, []int{}
	for _, s := range merchants {
		for _, b := range []byte(s) {
			values = append(values, int(int8(b)))
		}
		offsets = append(offsets, len(values))
	}
	empty := map[string]any{"offsets": []int{}, "values": []int{}}
	n := len(merchants) + len(channels)
	cats, err := json.Marshal(map[string]any{
		"enc": []any{
			map[string]any{"offsets": offsets, "values": values},
			map[string]any{"type": 15, "values": channels},
			empty, empty,
		},
		"feature_segments": []int{0, len(merchants), n, n, n},
		"sorted_idx":       []int{},
		"is_ref":           false, "sorted": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The file has bare NaN literals, so the object goes in as text.
	const at = `"model":{"gbtree_model_param"`
	if !strings.Contains(string(raw), at) {
		t.Fatalf("cat_reg.json lacks %s", at)
	}
	return []byte(strings.Replace(string(raw), at, `"model":{"cats":`+string(cats)+`,"gbtree_model_param"`, 1))
}

func merchantNames() []string {
	names := make([]string, 70)
	for i := range names {
		names[i] = fmt.Sprintf("m%02d", i)
	}
	names[0] = "café" // bytes ≥ 0x80 are negative int8 in the file
	return names
}

func TestStoredCategories(t *testing.T) {
	m, err := Parse(withCats(t, merchantNames(), []int64{10, 20, 30, 40, -50}), "cats")
	if err != nil {
		t.Fatal(err)
	}
	cats := m.Info().Categories
	if len(cats) != 4 || !slices.Equal(cats[0], merchantNames()) ||
		!slices.Equal(cats[1], []string{"10", "20", "30", "40", "-50"}) || cats[2] != nil || cats[3] != nil {
		t.Fatalf("categories = %q", cats)
	}
	// Without "cats" (XGBoost < 3.1) the model stores no categories.
	plain, err := Load(filepath.Join("testdata", "cat_reg.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	if plain.Info().Categories != nil {
		t.Errorf("categories without cats: %q", plain.Info().Categories)
	}
	for _, bad := range []struct{ from, to, msg string }{
		{`"type":15`, `"type":7`, "floating-point categories"},
		{`"type":15`, `"type":99`, "unknown category type 99"},
		{`"offsets":[0,`, `"offsets":[5,`, "offsets run from 5"},
		{`"offsets":[0,5,8,`, `"offsets":[0,9,8,`, "do not fit"},
	} {
		s := string(withCats(t, merchantNames(), []int64{10, 20, 30, 40, 50}))
		if !strings.Contains(s, bad.from) {
			t.Fatalf("fixture lacks %s", bad.from)
		}
		if _, err := Parse([]byte(strings.Replace(s, bad.from, bad.to, 1)), "m"); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%s -> %s: err = %v", bad.from, bad.to, err)
		}
	}
}

// TestCategoriesOnTheStream: an event carries categories as strings (or
// numbers); the feature plan maps them to the model's codes, so the
// prediction is the one of the coded row, and an unseen category is
// missing (the split's default child).
func TestCategoriesOnTheStream(t *testing.T) {
	m, err := Parse(withCats(t, merchantNames(), []int64{10, 20, 30, 40, 50}), "cats")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scoring.NewScorer(m, nil, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	str, num := schemas.StringValue, schemas.NumberValue
	cases := []struct {
		merchant, channel schemas.Value
		row               []float32 // merchant, channel, amount, age
	}{
		{str("m07"), num(30), []float32{7, 2, 0.5, -1}},
		{str("café"), num(50), []float32{0, 4, 0.5, -1}},
		{str("m69"), str("10"), []float32{69, 0, 0.5, -1}},
		{str("m99"), num(30), []float32{nan, 2, 0.5, -1}},      // unseen merchant
		{str("m07"), num(35), []float32{7, nan, 0.5, -1}},      // unseen channel
		{schemas.Value{}, num(20), []float32{nan, 1, 0.5, -1}}, // absent: missing
	}
	events := make([]*schemas.Event, len(cases))
	x := make([]float32, 0, 4*len(cases))
	for i, c := range cases {
		fields := []schemas.Field{{Name: "channel", Value: c.channel}, {Name: "amount", Value: num(0.5)}, {Name: "age", Value: num(-1)}}
		if c.merchant.Kind != schemas.Null {
			fields = append(fields, schemas.Field{Name: "merchant", Value: c.merchant})
		}
		events[i] = &schemas.Event{Fields: fields}
		x = append(x, c.row...)
	}
	want := make([]float32, len(cases))
	if err := m.Predict(x, want); err != nil {
		t.Fatal(err)
	}
	var b scoring.Batch
	s.Score(events, &b)
	for i, r := range b.Results {
		if r.Err != nil || r.Score != float64(want[i]) {
			t.Errorf("case %d: score %v (%v), want %v", i, r.Score, r.Err, want[i])
		}
	}
	// The features file may name the same list; another list is refused.
	specs := []scoring.FeatureSpec{{Name: "merchant", Transform: scoring.TransformCategory, Categories: merchantNames()},
		{Name: "channel"}, {Name: "amount"}, {Name: "age"}}
	if _, err := scoring.NewScorer(m, specs, scoring.DefaultPolicy); err != nil {
		t.Errorf("same categories in the features file: %v", err)
	}
	specs[0].Categories = []string{"a", "b"}
	if _, err := scoring.NewScorer(m, specs, scoring.DefaultPolicy); err == nil {
		t.Error("features file categories differing from the model's accepted")
	}
}

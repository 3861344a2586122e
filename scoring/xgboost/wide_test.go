package xgboost

import (
	"runtime"
	"strings"
	"testing"
)

// A model as wide as the loader accepts (num_feature 2^20) scores with a
// bounded scratch: the fast evaluator expands a block of rows into two
// int64 keys per feature, and a full block of such rows took 1 GiB per
// call (the fuzzer's worker died of it).
func TestWideModelScratchBounded(t *testing.T) {
	src := strings.NewReplacer(`"num_feature":"1"`, `"num_feature":"1048576"`).Replace(tinyNumeric)
	m, err := Parse([]byte(src), "wide")
	if err != nil {
		t.Fatal(err)
	}
	if m.complete == nil {
		t.Fatal("the tree did not take the fast layout")
	}
	nf := m.nfeat
	const rows = 70 // more than a block
	x := make([]float32, rows*nf)
	x[(rows-1)*nf+7] = 2 // the last row goes right at the root
	out := make([]float32, rows)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := m.Predict(x, out); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("Predict on %d rows of %d features allocated %d MiB", rows, nf, got>>20)
	}
	for r, v := range out {
		want := float32(-1)
		if r == rows-1 {
			want = 1
		}
		if v != want {
			t.Errorf("row %d: %v, want %v", r, v, want)
		}
	}
}

// tinyNumeric is one split on feature 7 at 1.5: left -1, right 1.
const tinyNumeric = `{"learner":{"feature_names":[],"feature_types":[],
"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1"},"tree_info":[0],
"trees":[{"base_weights":[0,-1,1],"categories":[],"categories_nodes":[],"categories_segments":[],
"categories_sizes":[],"default_left":[false,false,false],"id":0,"left_children":[1,-1,-1],"loss_changes":[1,0,0],
"parents":[2147483647,0,0],"right_children":[2,-1,-1],"split_conditions":[1.5,-1E0,1E0],"split_indices":[7,0,0],
"split_type":[0,0,0],"sum_hessian":[2,1,1],"tree_param":{"num_deleted":"0","num_feature":"1","num_nodes":"3",
"size_leaf_vector":"1"}}]},"name":"gbtree"},
"learner_model_param":{"base_score":"0E0","num_class":"0","num_feature":"1","num_target":"1"},
"objective":{"name":"reg:squarederror","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,7,0]}`

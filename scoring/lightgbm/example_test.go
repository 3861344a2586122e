package lightgbm_test

import (
	"fmt"
	"math"

	"github.com/streamscore/streamscore/scoring/lightgbm"
)

// A one-tree binary model as LightGBM writes it: the split sends x <= 0.5
// and (missing type NaN, default left: decision_type 10) NaN to the left
// leaf. Predict64To64 gives LightGBM's probabilities as float64, and
// PredictMargins64 its raw scores.
func ExampleParse() {
	model := `tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=0
objective=binary sigmoid:1
feature_names=amount
feature_infos=[0:1]
tree_sizes=1

Tree=0
num_leaves=2
num_cat=0
split_feature=0
split_gain=1
threshold=0.5
decision_type=10
left_child=-1
right_child=-2
leaf_value=-1.5 2
leaf_weight=1 1
leaf_count=1 1
internal_value=0
internal_weight=0
internal_count=2
is_linear=0
shrinkage=1


end of trees
`
	m, err := lightgbm.Parse([]byte(model), "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	x := []float64{0.5, 0.75, math.NaN()}
	prob, raw := make([]float64, 3), make([]float64, 3)
	m.Predict64To64(x, prob)
	m.PredictMargins64(x, raw)
	fmt.Println(m.Info().Features, m.Info().Output)
	fmt.Println(raw)
	fmt.Printf("%.6f\n", prob)
	// Output:
	// [amount] binary
	// [-1.5 2 -1.5]
	// [0.182426 0.880797 0.182426]
}

package xgboost

import (
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// generated lists the models of testdata/gen_models.py (XGBoost 1.7.4) and
// what their Info must say.
var generated = []struct {
	name       string
	ubj        bool
	output     scoring.OutputKind
	classes    int
	targets    int
	booster    string
	catSplits  bool // has categorical splits
	fastLayout bool // some trees take the fast layout
}{
	{"cat_reg", true, scoring.Regression, 1, 0, BoosterGBTree, true, true},
	{"cat_binary", true, scoring.Binary, 2, 0, BoosterGBTree, true, false},
	{"dart_binary", false, scoring.Binary, 2, 0, BoosterDart, false, true},
	{"dart_multi", false, scoring.MultiClass, 3, 0, BoosterDart, false, true},
	{"linear_reg", false, scoring.Regression, 1, 0, BoosterGBLinear, false, false},
	{"linear_binary", false, scoring.Binary, 2, 0, BoosterGBLinear, false, false},
	{"linear_multi", false, scoring.MultiClass, 3, 0, BoosterGBLinear, false, false},
	{"linear_targets", false, scoring.Regression, 1, 2, BoosterGBLinear, false, false},
	{"hinge", false, scoring.Binary, 2, 0, BoosterGBTree, false, true},
	{"rank_pairwise", false, scoring.Regression, 1, 0, BoosterGBTree, false, true},
	{"rank_ndcg", false, scoring.Regression, 1, 0, BoosterGBTree, false, true},
	{"rank_map", false, scoring.Regression, 1, 0, BoosterGBTree, false, true},
	{"aft", false, scoring.Regression, 1, 0, BoosterGBTree, false, true},
	{"cox", false, scoring.Regression, 1, 0, BoosterGBTree, false, true},
	{"multi_target", true, scoring.Regression, 1, 3, BoosterGBTree, false, true},
	{"multi_label", false, scoring.Binary, 2, 2, BoosterGBTree, false, true},
}

// TestGeneratedModels holds every generated model to XGBoost 1.7.4's own
// margins and predictions, bit for bit, in JSON and UBJSON, through the
// fast layout and the node walk alike.
func TestGeneratedModels(t *testing.T) {
	for _, tc := range generated {
		exts := []string{".json"}
		if tc.ubj {
			exts = append(exts, ".ubj")
		}
		for _, ext := range exts {
			t.Run(tc.name+ext, func(t *testing.T) {
				m, err := Load(filepath.Join("testdata", tc.name+ext), "")
				if err != nil {
					t.Fatal(err)
				}
				info := m.Info()
				if info.Output != tc.output || info.Classes != tc.classes || info.Targets != tc.targets || m.Booster() != tc.booster {
					t.Fatalf("output %v classes %d targets %d booster %s, want %v %d %d %s",
						info.Output, info.Classes, info.Targets, m.Booster(), tc.output, tc.classes, tc.targets, tc.booster)
				}
				if (m.NumCategoricalSplits() > 0) != tc.catSplits || (m.complete != nil) != tc.fastLayout {
					t.Fatalf("categorical splits %d, fast layout %v", m.NumCategoricalSplits(), m.complete != nil)
				}
				k := info.Outputs()
				cols := make([]string, 0, 2*k)
				for j := 0; j < k; j++ {
					cols = append(cols, "margin_"+strconv.Itoa(j))
				}
				for j := 0; j < k; j++ {
					cols = append(cols, "pred_"+strconv.Itoa(j))
				}
				g := readGolden(t, filepath.Join("testdata", tc.name+"_test.csv"), info.Features, cols)
				models := []*Model{m}
				if m.complete != nil {
					models = append(models, walkOnly(m))
				}
				for mi, mm := range models {
					margins := make([]float32, g.n*k)
					preds := make([]float32, g.n*k)
					if err := mm.PredictMargin(g.x, margins); err != nil {
						t.Fatal(err)
					}
					if err := mm.Predict(g.x, preds); err != nil {
						t.Fatal(err)
					}
					bad := 0
					for r := 0; r < g.n; r++ {
						for j := 0; j < k; j++ {
							wantM, wantP := g.expected[j][r], g.expected[k+j][r]
							gotM, gotP := margins[r*k+j], preds[r*k+j]
							if math.Float32bits(gotM) != math.Float32bits(wantM) || math.Float32bits(gotP) != math.Float32bits(wantP) {
								if bad++; bad <= 5 {
									t.Errorf("layout %d row %d output %d: margin %v pred %v, XGBoost %v %v (row %v)",
										mi, r, j, gotM, gotP, wantM, wantP, g.x[r*len(info.Features):(r+1)*len(info.Features)])
								}
							}
						}
					}
					if bad > 0 {
						t.Errorf("layout %d: %d of %d outputs differ", mi, bad, g.n*k)
					}
				}
			})
		}
	}
}

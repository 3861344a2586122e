package xgboost

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

func TestUBJSON(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
		err  bool
	}{
		{"object", []byte("{i\x01aSi\x02hi}"), "map[a:hi]", false},
		{"typed count array", []byte("[$d#i\x02\x3f\x80\x00\x00\x40\x00\x00\x00"), "[1 2]", false},
		{"counted array", []byte("[#U\x03TFZ"), "[true false <nil>]", false},
		{"ints", []byte("[i\xffU\xffI\x01\x00l\x00\x01\x00\x00]"), "[-1 255 256 65536]", false},
		{"truncated", []byte("[$d#i\x02\x3f\x80"), "", true},
		{"huge count", []byte("[$l#L\x7f\xff\xff\xff\xff\xff\xff\xff"), "", true},
		{"bad marker", []byte("X"), "", true},
		{"deep", []byte(strings.Repeat("[", 100)), "", true},
		// typed containers without payload, nested, each claiming the
		// bytes left: the parse held ~S² bytes of values for S of input
		{"nested typed null", ubjsonNullBomb(64), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decodeUBJSON(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			if !tt.err {
				if got := fmt.Sprint(v); got != tt.want {
					t.Errorf("got %s, want %s", got, tt.want)
				}
			}
		})
	}
}

// ubjsonNullBomb is k arrays, each a null-typed container claiming every
// byte after its count as elements.
func ubjsonNullBomb(k int) []byte {
	b := []byte("[")
	for i := range k {
		left := 9*(k-i) - 9 + 1 // the containers after this one, and the closing ]
		b = append(b, '[', '$', 'Z', '#', 'l', byte(left>>24), byte(left>>16), byte(left>>8), byte(left))
	}
	return append(b, ']')
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, fixture, from, to string
		unsupported             bool
		msg                     string
	}{
		{"unknown objective", "xgb_reg.json", `"reg:squarederror"`, `"reg:nonsense"`, true, `objective "reg:nonsense" (supported: binary:logistic`},
		{"unknown booster", "xgb_reg.json", `"name":"gbtree"`, `"name":"gbforest"`, true, `booster "gbforest" (supported: gbtree, dart, gblinear)`},
		{"vector leaves", "xgb_reg.json", `"num_trees":"50","size_leaf_vector":"0"`, `"num_trees":"50","size_leaf_vector":"2"`, true, `multi_strategy="multi_output_tree"`},
		{"vector leaf tree", "xgb_reg.json", `"num_nodes":"29","size_leaf_vector":"0"`, `"num_nodes":"29","size_leaf_vector":"3"`, true, `trees[0]: vector-leaf trees`},
		{"multi-class multi-target", "xgb_multi.json", `"num_target":"1"`, `"num_target":"2"`, true, "multi:softprob with num_target 2"},
		{"several quantiles", "xgb_reg.json", `"objective":{"name":"reg:squarederror"`, `"objective":{"quantile_loss_param":{"quantile_alpha":"[1E-1,5E-1,9E-1]"},"name":"reg:quantileerror"`, true, "reg:quantileerror with 3 quantile_alpha values"},
		{"several expectiles", "xgb_reg.json", `"objective":{"name":"reg:squarederror"`, `"objective":{"expectile_loss_param":{"expectile_alpha":"[2E-1,8E-1]"},"name":"reg:expectileerror"`, true, "reg:expectileerror with 2 expectile_alpha values"},
		{"target groups", "xgb_reg.json", `"num_target":"1"`, `"num_target":"0"`, false, "num_target 0"},
		{"gblinear per-class base", "linear_multi.json", `"base_score":"5E-1"`, `"base_score":"[5E-1,4E-1,1E-1]"`, true, "gblinear with a different base_score per output"},
		{"gblinear weights", "linear_reg.json", `"weights":[`, `"weights":[1,`, false, "gblinear has 8 weights, want (num_feature 6 + 1)"},
		{"dart weights", "dart_binary.json", `"weight_drop":[`, `"weight_drop":[1,`, false, "dart weight_drop has 31 weights for 30 trees"},
		{"categorical split without list", "xgb_reg.json", `"split_type":[0,`, `"split_type":[1,`, false, "categorical node 0 has no category list"},
		{"categorical list on a numeric node", "xgb_reg.json", `"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[]`, `"categories":[1],"categories_nodes":[0],"categories_segments":[0],"categories_sizes":[1]`, false, "categories_nodes[0] = 0 is not a categorical split"},
		{"negative category", "cat_reg.json", `"categories":[3,`, `"categories":[-3,`, false, "category -3"},
		{"huge category", "cat_reg.json", `"categories":[3,`, `"categories":[16777216,`, false, "category 16777216"},
		{"overlapping category lists", "cat_reg.json", `"categories_segments":[0,30,31,`, `"categories_segments":[0,0,31,`, false, "node 1's categories start at 0, want 30"},
		{"category list out of range", "cat_reg.json", `"categories_sizes":[30,`, `"categories_sizes":[99999,`, false, "lie outside categories"},
		{"unknown split type", "xgb_reg.json", `"split_type":[0,`, `"split_type":[2,`, true, "split type 2"},
		{"bad base", "xgb_reg.json", `"base_score":"5E-1"`, `"base_score":"abc"`, false, "base_score"},
		{"feature out of range", "xgb_reg.json", `"num_feature":"6"`, `"num_feature":"2"`, false, "feature"},
		{"NaN threshold", "xgb_reg.json", `"split_conditions":[-3.467643E-2`, `"split_conditions":[NaN`, false, "NaN split condition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := os.ReadFile(filepath.Join("testdata", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			s := string(base)
			if !strings.Contains(s, tt.from) {
				t.Fatalf("fixture lacks %s", tt.from)
			}
			_, err = Parse([]byte(strings.ReplaceAll(s, tt.from, tt.to)), "m")
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrUnsupported) != tt.unsupported || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want one containing %q (unsupported %v)", err, tt.msg, tt.unsupported)
			}
		})
	}
	if _, err := Parse([]byte("{}"), "m"); err == nil {
		t.Error("empty object accepted")
	}
	if _, err := Parse([]byte("garbage"), "m"); err == nil {
		t.Error("garbage accepted")
	}
}

func TestDefaultFeatureNames(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "xgb_reg.ubj"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Info().Features, ","); got != "f0,f1,f2,f3,f4,f5" {
		t.Errorf("features = %s", got)
	}
	if m.NumTrees() != 50 || m.Objective() != "reg:squarederror" {
		t.Errorf("trees %d objective %s", m.NumTrees(), m.Objective())
	}
}

func TestPredictShapeAndConcurrency(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "xgb_fraud.json"), "fraud")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Predict(make([]float32, 7), make([]float32, 1)); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("ragged rows: err = %v", err)
	}
	if err := m.Predict(make([]float32, 16), make([]float32, 1)); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("short output: err = %v", err)
	}
	g := readGolden(t, filepath.Join("testdata", "xgb_fraud_test.csv"), m.Info().Features, []string{"expected_prob"})
	want := make([]float32, g.n)
	if err := m.Predict(g.x, want); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float32, 1)
			for r := w; r < g.n; r += 4 { // one row at a time equals the batch
				if err := m.Predict(g.x[r*8:(r+1)*8], out); err != nil || out[0] != want[r] {
					t.Errorf("row %d alone = %v (%v), in batch %v", r, out[0], err, want[r])
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestPredictAllocatesNothing(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "xgb_multi.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	x, out := make([]float32, 256*4), make([]float32, 256*3)
	if a := testing.AllocsPerRun(10, func() { _ = m.Predict(x, out) }); a != 0 {
		t.Errorf("Predict allocates %v times per batch", a)
	}
}

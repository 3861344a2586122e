package load

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring/xgboost"
)

func TestDetectAndLoad(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"xgb_reg.json", "xgb_reg.ubj"} {
		data, err := os.ReadFile(filepath.Join("..", "xgboost", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		// no telling extension: content decides
		p := filepath.Join(dir, strings.ReplaceAll(name, ".", "_")+".model")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Model(p, Auto, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if info := m.Info(); !strings.HasPrefix(info.Format, "xgboost") || info.Name != strings.ReplaceAll(name, ".", "_") {
			t.Errorf("%s: info %+v", name, info)
		}
	}
	onnx, err := os.ReadFile(filepath.Join("..", "onnxml", "testdata", "sk_rf_pipeline.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "rf.model")
	os.WriteFile(p, onnx, 0o644)
	if m, err := Model(p, Auto, "rf"); err != nil || m.Info().Format != "onnx" {
		t.Errorf("onnx by content: %v", err)
	}
	lgb, err := os.ReadFile(filepath.Join("..", "lightgbm", "testdata", "golden_binary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	p = filepath.Join(dir, "booster.model")
	os.WriteFile(p, lgb, 0o644)
	if m, err := Model(p, Auto, ""); err != nil || m.Info().Format != "lightgbm" {
		t.Errorf("lightgbm by content: %v", err)
	}
	if m, err := Model(p, LightGBM, ""); err != nil || m.Info().Format != "lightgbm" {
		t.Errorf("MODEL_FORMAT=lightgbm: %v", err)
	}
	if _, err := Model(filepath.Join("..", "xgboost", "testdata", "xgb_reg.json"), LightGBM, ""); err == nil || !strings.Contains(err.Error(), "as a LightGBM model") {
		t.Errorf("an XGBoost file as LightGBM: %v", err)
	}
	junk := filepath.Join(dir, "junk.bin")
	os.WriteFile(junk, []byte("hello"), 0o644)
	// the caller names how to set the format (MODEL_FORMAT, --format): this package cannot know which
	if _, err := Model(junk, Auto, ""); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "junk.bin") || strings.Contains(err.Error(), "MODEL_FORMAT") {
		t.Errorf("junk: %v", err)
	}
	if _, err := Model(filepath.Join(dir, "missing.json"), Auto, ""); err == nil {
		t.Error("missing file loaded")
	}
	if _, err := Model(junk, "pmml", ""); err == nil || !strings.Contains(err.Error(), "pmml") {
		t.Errorf("unknown format: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"../xgboost/testdata/xgb_fraud.json", "trees:    200"},
		{"../onnxml/testdata/sk_rf_pipeline.onnx", "graph:    Scaler -> TreeEnsembleClassifier -> ZipMap"},
		{"testdata/churn.linear.json", "features: 4: f0, f1, f2, f3"},
		{"../xgboost/testdata/cat_reg.json", "trees:    24 (730 nodes, 139 categorical splits)"},
		{"../xgboost/testdata/multi_label.json", "output:   2 targets, each a binary classifier (target_0 … target_1"},
		{"../xgboost/testdata/multi_target.ubj", "output:   3 targets, each a regression"},
		{"../xgboost/testdata/dart_multi.json", "booster:  dart, objective multi:softprob"},
		{"../onnxml/testdata/encoders_pipeline.onnx", "city: categories paris, london, rome"},
		{"../onnxml/testdata/tree_ensemble_v5.onnx", "features: as many as the features file lists (the model's input has no fixed column count; at least 3)"},
		{"../onnxml/testdata/tree_ensemble_v5.onnx", "2 targets, each a regression (target_0 … target_1"},
		{"../lightgbm/testdata/golden_binary.txt", "lightgbm: v4 header, objective binary sigmoid:1, 41 iterations × 1 trees"},
		{"../lightgbm/testdata/linear.txt", "linear_tree (2 linear trees)"},
		{"../xgboost/testdata/xgb_multi.ubj", "reasons:  exact TreeSHAP contributions"},
		{"../onnxml/testdata/sk_rf_pipeline.onnx", "reasons:  none (model sk_rf_pipeline: the model cannot explain its scores: ONNX TreeEnsemble nodes carry no node covers"},
		{"testdata/churn.linear.json", `reasons:  none (model churn.linear: the model cannot explain its scores: format "linear" has no feature contributions`},
	} {
		m, err := Model(tc.path, Auto, "")
		if err != nil {
			t.Fatal(err)
		}
		if d := Describe(m); !strings.Contains(d, tc.want) || !strings.Contains(d, "version:") {
			t.Errorf("%s:\n%s\nwant %q", tc.path, d, tc.want)
		}
	}
}

// TestNotAModel: an XGBoost model in the legacy binary format and an
// XGBoost dump are named for what they are, with how to re-save them, by
// auto-detection and with the format named alike; no MODEL_FORMAT reads
// them, so none is suggested.
func TestNotAModel(t *testing.T) {
	for _, tc := range []struct {
		file string
		want error
	}{
		{"legacy.model", xgboost.ErrLegacyBinary},
		{"dump.txt", xgboost.ErrDump},
		{"dump.json", xgboost.ErrDump},
	} {
		for _, format := range []string{Auto, XGBoost} {
			_, err := Model(filepath.Join("..", "xgboost", "testdata", tc.file), format, "")
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), `save_model("model.json")`) ||
				!strings.Contains(err.Error(), tc.file) || strings.Contains(err.Error(), "MODEL_FORMAT") {
				t.Errorf("%s as %s: %v", tc.file, format, err)
			}
		}
	}
}

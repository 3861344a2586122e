package modelset

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/scoring"
)

const refDir = "../../scoring/xgboost/testdata/"

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil { // atomic, as deploy tools do
		t.Fatal(err)
	}
}

func TestOpenRoutes(t *testing.T) {
	dir := t.TempDir()
	models, _ := filepath.Abs("../../models")
	copyFile(t, refDir+"xgb_fraud.json", filepath.Join(dir, "fraud.json"))
	os.WriteFile(filepath.Join(dir, "models.yaml"), []byte(`models:
  - topics: [transactions]
    path: fraud.json                # relative to this file
  - topics: [activity]
    path: `+models+`/takeover.json
    features: `+models+`/takeover.features.yaml
    threshold: 0.8
    risk_bands: [0.5, 0.9]
    output_topic: takeover-scores
`), 0o644)
	specs, err := ParseFile(filepath.Join(dir, "models.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].Path != filepath.Join(dir, "fraud.json") {
		t.Errorf("relative path resolved to %s", specs[0].Path)
	}
	set, err := Open(specs, scoring.DefaultPolicy, []string{"transactions", "activity"})
	if err != nil {
		t.Fatal(err)
	}
	act := set.For("activity")
	if act == nil || act.OutputTopic() != "takeover-scores" || act.Policy.Threshold != 0.8 || act.Policy.Bands != [2]float64{0.5, 0.9} ||
		act.Scorer().Info().Name != "takeover" {
		t.Fatalf("activity route %+v", act)
	}
	if tx := set.For("transactions"); tx.OutputTopic() != "" || tx.Scorer().Info().Name != "fraud" || tx.Policy != scoring.DefaultPolicy {
		t.Errorf("transactions route %+v", tx)
	}
	tests := []struct {
		inputs []string
		specs  []RouteSpec
		want   string
	}{
		{[]string{"a", "b"}, []RouteSpec{{Topics: []string{"a"}, Path: refDir + "xgb_reg.json"}}, `"b" has no model`},
		{[]string{"a"}, []RouteSpec{{Topics: []string{"a", "z"}, Path: refDir + "xgb_reg.json"}}, `"z", which is not in INPUT_TOPICS`},
		{[]string{"a"}, []RouteSpec{{Topics: []string{"a"}, Path: refDir + "xgb_reg.json"}, {Topics: []string{"a"}, Path: refDir + "xgb_reg.ubj"}}, "two models"},
		{[]string{"a"}, []RouteSpec{{Topics: []string{"a"}, Path: refDir + "missing.json"}}, "missing.json"},
		{[]string{"a"}, []RouteSpec{{Topics: []string{"a"}, Path: refDir + "xgb_reg.json", RiskBands: []float64{0.9, 0.1}}}, "ascending"},
	}
	for _, tt := range tests {
		if _, err := Open(tt.specs, scoring.DefaultPolicy, tt.inputs); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want %q", tt.specs, err, tt.want)
		}
	}
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("models:\n  - topics: [a]\n    path: x\n    colour: blue\n"), 0o644)
	if _, err := ParseFile(filepath.Join(dir, "bad.yaml")); err == nil {
		t.Error("unknown key accepted")
	}
}

func open1(t *testing.T, path, features string) (*Set, *Route) {
	t.Helper()
	set, err := Open([]RouteSpec{{Topics: []string{"t"}, Path: path, Features: features}}, scoring.DefaultPolicy, []string{"t"})
	if err != nil {
		t.Fatal(err)
	}
	return set, set.For("t")
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.json")
	copyFile(t, refDir+"xgb_fraud.json", path)
	set, r := open1(t, path, "")
	v1 := r.Scorer().Info().Version
	if res := set.Reload(false); len(res) != 0 {
		t.Fatalf("unchanged files reloaded: %+v", res)
	}
	// a retrained model (same features, other bytes) is swapped in
	copyFile(t, refDir+"xgb_fraud.ubj", path)
	res := set.Reload(false)
	if len(res) != 1 || !res[0].Swapped || res[0].Err != nil || res[0].OldVersion != v1 || res[0].NewVersion == v1 ||
		r.Scorer().Info().Version != res[0].NewVersion {
		t.Fatalf("reload: %+v", res)
	}
	v2 := res[0].NewVersion
	// a broken file leaves the model serving, reported once
	os.WriteFile(path, []byte("{not a model"), 0o644)
	res = set.Reload(false)
	if len(res) != 1 || res[0].Err == nil || res[0].Swapped || r.Scorer().Info().Version != v2 {
		t.Fatalf("broken file: %+v", res)
	}
	if again := set.Reload(false); len(again) != 0 {
		t.Errorf("a broken file is reported at every poll: %+v", again)
	}
	// a model whose features do not fit the serving features is refused
	copyFile(t, refDir+"xgb_reg.json", path)
	if _, err := Open([]RouteSpec{{Topics: []string{"t"}, Path: path, Features: "../../models/fraud.features.yaml"}}, scoring.DefaultPolicy, []string{"t"}); err == nil {
		t.Error("model with other features than the features file accepted")
	}
	// fixed: loads again; forcing reloads even unchanged files
	copyFile(t, refDir+"xgb_fraud.json", path)
	if res = set.Reload(false); len(res) != 1 || !res[0].Swapped || r.Scorer().Info().Version != v1 {
		t.Fatalf("fixed file: %+v", res)
	}
	if res = set.Reload(true); len(res) != 1 || !res[0].Swapped {
		t.Fatalf("forced: %+v", res)
	}
}

func TestFeatureMismatchKeepsOldModel(t *testing.T) {
	dir := t.TempDir()
	model, feats := filepath.Join(dir, "m.json"), filepath.Join(dir, "f.yaml")
	copyFile(t, "../../models/fraud.json", model)
	copyFile(t, "../../models/fraud.features.yaml", feats)
	set, r := open1(t, model, feats)
	v := r.Scorer().Info().Version
	copyFile(t, "../../models/takeover.json", model) // 10 inputs; the features file lists 21
	res := set.Reload(false)
	if len(res) != 1 || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "features") || r.Scorer().Info().Version != v {
		t.Fatalf("mismatch: %+v", res)
	}
}

// TestConfigMapSymlinkSwap: Kubernetes mounts a ConfigMap as
// dir/model.json -> ..data/model.json with ..data -> ..<timestamp>, and
// updates it by pointing ..data at a new directory.
func TestConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"..v1", "..v2"} {
		os.Mkdir(filepath.Join(dir, v), 0o755)
	}
	copyFile(t, refDir+"xgb_fraud.json", filepath.Join(dir, "..v1", "model.json"))
	copyFile(t, refDir+"xgb_fraud.ubj", filepath.Join(dir, "..v2", "model.json"))
	os.Symlink("..v1", filepath.Join(dir, "..data"))
	os.Symlink(filepath.Join("..data", "model.json"), filepath.Join(dir, "model.json"))
	set, r := open1(t, filepath.Join(dir, "model.json"), "")
	v1 := r.Scorer().Info().Version
	// the atomic swap: a new symlink renamed over ..data
	os.Symlink("..v2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	res := set.Reload(false)
	if len(res) != 1 || !res[0].Swapped || r.Scorer().Info().Version == v1 {
		t.Fatalf("symlink swap not seen: %+v", res)
	}
}

func TestPollAndForce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.json")
	copyFile(t, refDir+"xgb_fraud.json", path)
	set, _ := open1(t, path, "")
	stop, force := make(chan struct{}), make(chan struct{})
	results := make(chan Result, 10)
	go set.Poll(stop, 20*time.Millisecond, force, func(r Result) { results <- r })
	defer close(stop)
	copyFile(t, refDir+"xgb_fraud.ubj", path)
	select {
	case r := <-results:
		if !r.Swapped {
			t.Fatalf("poll: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("poll did not see the change")
	}
	force <- struct{}{}
	select {
	case r := <-results:
		if !r.Swapped {
			t.Fatalf("force: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("force did not reload")
	}
}

// A MODELS_FILE key streamscore does not read is an error naming the key
// and its line, never ignored; so is a route's features file with one.
func TestParseFileRefusesUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ yaml, want string }{
		{"models:\n  - topics: [a]\n    path: x\n    colour: blue\n",
			`line 4: model 0: unknown key "colour" (want topics, path, features, format, name, threshold, risk_bands, output_topic, baseline, shadow)`},
		{"models:\n  - topics: [a]\n    path: x\n  - topics: [b]\n    path: y\n    treshold: 0.9\n", `line 6: model 1: unknown key "treshold"`},
		{"modles:\n  - topics: [a]\n    path: x\n", `line 1: unknown key "modles" (want models)`},
		{"models:\n  - topics: [a]\n    path: x\n---\nmodels:\n  - topics: [b]\n    path: y\n", "line 4: a second YAML document"},
	}
	for i, tt := range tests {
		p := filepath.Join(dir, fmt.Sprintf("m%d.yaml", i))
		os.WriteFile(p, []byte(tt.yaml), 0o644)
		specs, err := ParseFile(p)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: specs %+v, err = %v, want %q", tt.yaml, specs, err, tt.want)
		}
	}
	feats := filepath.Join(dir, "f.yaml")
	os.WriteFile(feats, []byte("features:\n  - amount\n  - name: n\n    aggregate: {fn: count, of: transaction, over: 1h, window: 2h}\n"), 0o644)
	_, err := Open([]RouteSpec{{Topics: []string{"a"}, Path: refDir + "xgb_reg.json", Features: feats}}, scoring.DefaultPolicy, []string{"a"})
	if err == nil || !strings.Contains(err.Error(), feats) || !strings.Contains(err.Error(), `line 4: feature "n": aggregate: unknown key "window" (want fn, of, field, over or where)`) {
		t.Errorf("features file with an unknown aggregate key: %v", err)
	}
}

// A file whose format cannot be told points to the settings run reads.
func TestUnknownFormatHint(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "model.bin")
	os.WriteFile(junk, []byte("hello"), 0o644)
	_, err := Open([]RouteSpec{{Topics: []string{"a"}, Path: junk}}, scoring.DefaultPolicy, []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "MODEL_FORMAT") || !strings.Contains(err.Error(), "format: in the MODELS_FILE route") {
		t.Errorf("err = %v", err)
	}
}

// A route's shadow and baseline: paths relative to the file, strict keys,
// a challenger that fails to load leaves the route serving its champion
// and loads at a later reload, a challenger named like its champion is
// refused.
func TestShadowRoutes(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, refDir+"xgb_fraud.json", filepath.Join(dir, "champion.json"))
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	specs, err := ParseFile(write("ok.yaml", `models:
  - topics: [a]
    path: champion.json
    baseline: base.json
    shadow: {path: challenger.json, features: ch.yaml, name: challenger, output_topic: shadow-scores}
`))
	if err != nil {
		t.Fatal(err)
	}
	sh := specs[0].Shadow
	if specs[0].Baseline != filepath.Join(dir, "base.json") || sh == nil || sh.Path != filepath.Join(dir, "challenger.json") ||
		sh.Features != filepath.Join(dir, "ch.yaml") || sh.Name != "challenger" || sh.OutputTopic != "shadow-scores" {
		t.Fatalf("parsed %+v shadow %+v", specs[0], sh)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"models:\n  - topics: [a]\n    path: x\n    shadow:\n      path: y\n      output_topic: s\n      threshold: 0.3\n",
			`line 7: model 0: shadow: unknown key "threshold" (want path, features, format, name, output_topic)`},
		{"models:\n  - topics: [a]\n    path: x\n    shadow: {path: y}\n", "model 0: shadow: path and output_topic are required"},
		{"models:\n  - topics: [a]\n    path: x\n    shadow: {output_topic: s}\n", "model 0: shadow: path and output_topic are required"},
	} {
		if _, err := ParseFile(write("bad.yaml", tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.yaml, err, tt.want)
		}
	}

	// the challenger's file does not exist yet: the route serves without it
	spec := RouteSpec{Topics: []string{"a"}, Path: filepath.Join(dir, "champion.json"),
		Shadow: &ShadowSpec{Path: filepath.Join(dir, "challenger.json"), OutputTopic: "shadow-scores"}}
	set, err := Open([]RouteSpec{spec}, scoring.DefaultPolicy, []string{"a"})
	if err != nil {
		t.Fatalf("a challenger that fails to load failed the set: %v", err)
	}
	r := set.For("a")
	if r.Shadow() != nil || r.ShadowErr() == nil || !strings.Contains(r.ShadowErr().Error(), "challenger.json") || r.Scorer() == nil ||
		r.ShadowName() != "challenger" || r.ShadowTopic() != "shadow-scores" {
		t.Fatalf("route: shadow %v, err %v, name %q", r.Shadow(), r.ShadowErr(), r.ShadowName())
	}
	champion := r.Scorer().Info().Version
	copyFile(t, refDir+"xgb_fraud.ubj", filepath.Join(dir, "challenger.json"))
	res := set.Reload(false)
	if len(res) != 1 || !res[0].Shadow || !res[0].Swapped || r.Shadow() == nil || r.Shadow().Info().Name != "challenger" ||
		r.Scorer().Info().Version != champion {
		t.Fatalf("reload: %+v", res)
	}
	// a broken challenger file keeps the loaded challenger, the champion untouched
	os.WriteFile(filepath.Join(dir, "challenger.json"), []byte("{broken"), 0o644)
	v := r.Shadow().Info().Version
	if res = set.Reload(false); len(res) != 1 || !res[0].Shadow || res[0].Err == nil || r.Shadow().Info().Version != v {
		t.Fatalf("broken challenger: %+v", res)
	}
	// refused by the accept hook: the same
	copyFile(t, refDir+"xgb_fraud.json", filepath.Join(dir, "challenger.json"))
	set.SetAccept(func(s *scoring.Scorer) error {
		if s.Info().Name == "challenger" {
			return fmt.Errorf("no")
		}
		return nil
	})
	if res = set.Reload(false); len(res) != 1 || res[0].Err == nil || r.Shadow().Info().Version != v {
		t.Fatalf("refused challenger: %+v", res)
	}

	spec.Shadow = &ShadowSpec{Path: filepath.Join(dir, "challenger.json"), Name: "champion", OutputTopic: "s"}
	if _, err := Open([]RouteSpec{spec}, scoring.DefaultPolicy, []string{"a"}); err == nil || !strings.Contains(err.Error(), `the champion's model name "champion"`) {
		t.Errorf("challenger named like the champion: %v", err)
	}
}

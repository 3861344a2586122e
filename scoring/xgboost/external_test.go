//go:build external

package xgboost_test

// The external fidelity set: real model files other projects committed,
// with their reference libraries' predictions, in the shared folder beside
// the repository (../shared/reference/external, or STREAMSCORE_EXTERNAL).
// Run with
//
//	go test -tags external -run External ./scoring/xgboost/
//
// It builds streamscore, runs the set's compare_external.sh and holds the
// result to what this package reached; it reads the set in place and
// copies nothing from it.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring/load"
)

// minExact is the number of models compare_external.sh reported exact
// when this test was written (all formats: 46 XGBoost + 15 ONNX); the count
// may rise, never fall.
const minExact = 61

// xgboostExact are the XGBoost models scored bit-exact against every
// primary reference of the set.
var xgboostExact = []string{
	"jpmml-1.7.2-BinomialClassificationAuditNA.json", "jpmml-1.7.2-BinomialClassificationAuditNA.ubj",
	"jpmml-1.7.2-LogisticRegressionAuditNA.json", "jpmml-1.7.2-MultinomialClassificationAuditNA.json",
	"jpmml-1.7.2-LinearRegressionAutoNA.json", "jpmml-1.7.2-PoissonRegressionVisitNA.json",
	"jpmml-1.7.2-GammaRegressionVisitNA.json", "jpmml-1.7.2-TweedieRegressionVisitNA.json",
	"jpmml-1.7.2-TweedieRegressionVisit.json", "jpmml-1.7.2-MultinomialClassificationIrisNA.json",
	"jpmml-1.7.2-MultinomialClassificationIrisNA.ubj", "jpmml-1.7.2-HingeClassificationAuditNA.json",
	"jpmml-1.7.2-BinomialClassificationAudit.json", "jpmml-1.6.0-BinomialClassificationAuditNA.json",
	"jpmml-1.6.0-PoissonRegressionVisitNA.json", "jpmml-1.6.0-MultinomialClassificationIrisNA.json",
	"jpmml-1.5.0-BinomialClassificationAuditNA.json", "jpmml-1.5.0-GammaRegressionVisitNA.json",
	"jpmml-1.5.0-MultinomialClassificationIrisNA.json", "jpmml-2.0.3-MultinomialClassificationIrisNA.json",
	"jpmml-2.1.0-MultinomialClassificationIrisNA.json", "jpmml-3.0.0-MultinomialClassificationIrisNA.json",
	"jpmml-3.0.5-MultinomialClassificationIrisNA.json", "jpmml-3.1.1-MultinomialClassificationIrisNA.json",
	"jpmml-3.4.1-MultinomialClassificationIrisNA.json", "jpmml-2.1.0-MultinomialClassificationIrisNA.ubj",
	"jpmml-3.4.1-MultinomialClassificationIrisNA.ubj", "jpmml-3.4.1-AFTLungNA.json",
	"jpmml-3.0.5-MultinomialClassificationIris.json", "xgboost-repo-xgboost-1.0.0-SNAPSHOT.reg.json",
	"xgboost-repo-xgboost-1.0.0-SNAPSHOT.cls.json", "xgboost-repo-xgboost_scikit-1.0.0-SNAPSHOT.cls.json",
	"xgboost-repo-xgboost-1.0.0-SNAPSHOT.ltr.json", "xgboost-repo-xgboost-1.0.0rc1.logit.json",
	"xgboost-repo-xgboost-1.0.0rc1.logitraw.json", "xgboost-repo-xgboost_scikit-1.0.0rc1.reg.json",
	"leaves-xgagaricus.json", "leaves-xg_dart_agaricus.json", "leaves-xgdermatology.json",
	"treelite-mushroom.json", "treelite-dermatology.json", "k11i-v47-binary-logistic.json",
	"k11i-v47-binary-logitraw.json", "k11i-v47-multi-softprob.json", "k11i-v47-multi-softmax.json",
	"k11i-spark-housing.json",
}

// xgboostUnchecked load but have no reference rows in the set; the
// cross-check below scores them against XGBoost 1.7.4.
var xgboostUnchecked = []string{
	"jpmml-3.4.1-BinomialClassificationAuditNA.json", "jpmml-3.4.1-LinearRegressionAutoNA.json",
	"jpmml-3.4.1-MultiBinomialClassificationAuditNA.json", "jpmml-3.4.1-MultiRandomForestAutoNA.json",
	"jpmml-3.4.1-QuantileRegressionAutoNA.json", "jpmml-3.4.1-ExpectileRegressionAutoNA.json",
	"leaves-xgblin_agaricus.json", "treelite-xgb_toy_categorical.json",
}

// xgboostRefused stay refused, with the message that says how to re-save.
var xgboostRefused = map[string]string{
	"jpmml-1.7.2-BinomialClassificationAuditNA.model": "legacy binary model format",
	"leaves-xgagaricus.model":                         "legacy binary model format",
	"xgboost-go-breast_cancer_dump.json":              "model dump, not a saved model",
}

func externalDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("STREAMSCORE_EXTERNAL")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(moduleRoot(t, wd), "..", "shared", "reference", "external")
	}
	if _, err := os.Stat(filepath.Join(dir, "compare_external.sh")); err != nil {
		t.Skipf("external reference set not found at %s (set STREAMSCORE_EXTERNAL to its folder): %v", dir, err)
	}
	return dir
}

func moduleRoot(t *testing.T, dir string) string {
	t.Helper()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

func buildStreamscore(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	bin := filepath.Join(t.TempDir(), "streamscore")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./cmd/streamscore")
	cmd.Dir = moduleRoot(t, wd)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// modelLine is a model's header line of compare_external's output: id,
// load result, tag; error is its "error:" line when refused.
type modelLine struct {
	load, tag, err string
}

var headRE = regexp.MustCompile(`^(\S+)\s+(ok|REFUSED)\s*(.*)$`)

func TestExternalReference(t *testing.T) {
	dir := externalDir(t)
	bin := buildStreamscore(t)
	out, err := exec.Command("bash", filepath.Join(dir, "compare_external.sh"), bin).CombinedOutput()
	if err != nil {
		t.Fatalf("compare_external.sh: %v\n%s", err, out)
	}
	models := map[string]*modelLine{}
	var last *modelLine
	exact, total := -1, 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if m := headRE.FindStringSubmatch(line); m != nil && !strings.HasPrefix(line, "model ") {
			last = &modelLine{load: m[2], tag: m[3]}
			models[m[1]] = last
			continue
		}
		if strings.HasPrefix(line, "    error: ") && last != nil {
			last.err = strings.TrimPrefix(line, "    error: ")
		}
		if f := strings.Fields(line); len(f) == 5 && f[1] == "of" && f[3] == "models" && f[4] == "exact" {
			exact, _ = strconv.Atoi(f[0])
			total, _ = strconv.Atoi(f[2])
		}
	}
	t.Logf("compare_external: %d of %d models exact", exact, total)
	if exact < minExact {
		t.Errorf("%d of %d models exact, down from %d\n%s", exact, total, minExact, out)
	}
	for _, id := range xgboostExact {
		if m := models[id]; m == nil || m.load != "ok" || !strings.HasPrefix(m.tag, "EXACT") {
			t.Errorf("%s: %+v, want EXACT", id, m)
		}
	}
	for _, id := range xgboostUnchecked {
		if m := models[id]; m == nil || m.load != "ok" {
			t.Errorf("%s: %+v, want loaded", id, m)
		}
	}
	for id, msg := range xgboostRefused {
		m := models[id]
		if m == nil || m.load != "REFUSED" || !strings.Contains(m.err, msg) ||
			!strings.Contains(m.err, `save_model("model.json")`) || strings.Contains(m.err, "MODEL_FORMAT") {
			t.Errorf("%s: %+v, want refused with %q and how to re-save", id, m, msg)
		}
	}
}

// TestExternalCrossCheck scores the models the set has no reference rows
// for against Debian's XGBoost 1.7.4 (testdata/crosscheck_external.py).
func TestExternalCrossCheck(t *testing.T) {
	dir := externalDir(t)
	if err := exec.Command("/usr/bin/python3", "-c", "import xgboost, numpy").Run(); err != nil {
		t.Skipf("no /usr/bin/python3 with xgboost and numpy (Debian python3-xgboost) to cross-check with: %v", err)
	}
	bin := buildStreamscore(t)
	args := append([]string{filepath.Join("testdata", "crosscheck_external.py"), dir, bin}, xgboostUnchecked...)
	out, err := exec.Command("/usr/bin/python3", args...).Output()
	if err != nil {
		t.Fatalf("crosscheck_external.py: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		t.Log(line)
		if strings.Contains(line, "WARNING:") { // XGBoost's own log, on stdout
			continue
		}
		id, rest, _ := strings.Cut(line, ": ")
		if !slices.Contains(xgboostUnchecked, id) {
			t.Errorf("unexpected line %q", line)
			continue
		}
		seen++
		if rest != "3000 of 3000 rows equal" {
			t.Errorf("%s: %s", id, rest)
		}
	}
	if seen != len(xgboostUnchecked) {
		t.Errorf("%d of %d models cross-checked", seen, len(xgboostUnchecked))
	}
}

// minContribPairs is the number of (model, input) pairs whose
// contributions contribs_external.py found in agreement with XGBoost
// 1.7.4's pred_contribs when this test was written; it may rise, never fall.
const minContribPairs = 88

// TestExternalContributions holds `score --contributions` to XGBoost
// 1.7.4's pred_contribs on every XGBoost model of the set
// (testdata/contribs_external.py): every row within 1e-5 × max(1,
// |margin|), the same top-3 features on ≥ 99.9% of rows.
func TestExternalContributions(t *testing.T) {
	dir := externalDir(t)
	if err := exec.Command("/usr/bin/python3", "-c", "import xgboost, numpy").Run(); err != nil {
		t.Skipf("no /usr/bin/python3 with xgboost and numpy (Debian python3-xgboost) to compare with: %v", err)
	}
	bin := buildStreamscore(t)
	cmd := exec.Command("/usr/bin/python3", filepath.Join("testdata", "contribs_external.py"), dir, bin)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.Output()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("contribs_external.py: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var agree, comparable int
	if _, err := fmt.Sscanf(lines[len(lines)-1], "%d of %d comparable", &agree, &comparable); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if agree != comparable || agree < minContribPairs {
		t.Errorf("%d of %d comparable pairs agree (want all, and at least %d)", agree, comparable, minContribPairs)
	}
	for _, l := range lines {
		if strings.Contains(l, ": DIFFERS:") {
			t.Error(l)
		}
	}
}

// TestExternalStoredCategories: XGBoost 3.4.1 models trained on pandas
// category columns report their category names, in code order.
func TestExternalStoredCategories(t *testing.T) {
	dir := externalDir(t)
	m, err := load.Model(filepath.Join(dir, "models", "jpmml-3.4.1-BinomialClassificationAuditNA.json"), load.Auto, "")
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	want := map[string][]string{
		"Employment": {"Consultant", "PSFederal", "PSLocal", "PSState", "Private", "SelfEmp", "Volunteer"},
		"Marital":    {"Absent", "Divorced", "Married", "Married-spouse-absent", "Unmarried", "Widowed"},
		"Gender":     {"Female", "Male"},
	}
	for i, f := range info.Features {
		w, isCat := want[f]
		switch {
		case isCat && !slices.Equal(info.Categories[i], w):
			t.Errorf("%s: categories %q, want %q", f, info.Categories[i], w)
		case (f == "Age" || f == "Income" || f == "Hours") && info.Categories[i] != nil:
			t.Errorf("numeric %s has categories %q", f, info.Categories[i])
		}
	}
	m, err = load.Model(filepath.Join(dir, "models", "jpmml-3.4.1-LinearRegressionAutoNA.json"), load.Auto, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Info().Categories[0]; !slices.Equal(got, []string{"3", "4", "5", "6", "8"}) {
		t.Errorf("cylinders: categories %q", got)
	}
}

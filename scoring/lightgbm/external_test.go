//go:build external

package lightgbm

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The reference set of LightGBM models with LightGBM's own predictions
// (/work/shared/reference/lightgbm; another location with
// LIGHTGBM_REFERENCE). Run with: go test -tags external ./scoring/lightgbm
func referenceDir(t *testing.T) string {
	dir := os.Getenv("LIGHTGBM_REFERENCE")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "reference", "lightgbm")
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Skipf("no LightGBM reference set at %s (set LIGHTGBM_REFERENCE): %v", dir, err)
	}
	return dir
}

// TestCompareLightGBM builds streamscore and runs the reference set's own
// script, compare_lightgbm.py, which scores every model with `streamscore
// score` and compares each cell with LightGBM's prediction (4 float64
// ulps, 8 for linear trees). Every check it runs must pass.
func TestCompareLightGBM(t *testing.T) {
	dir := referenceDir(t)
	bin := filepath.Join(t.TempDir(), "streamscore")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/streamscore").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command("/usr/bin/python3", filepath.Join(dir, "compare_lightgbm.py"), bin).CombinedOutput()
	if err != nil {
		t.Fatalf("compare_lightgbm.py: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		if strings.Contains(l, " DIFFERS ") || strings.Contains(l, " REFUSED ") {
			t.Error(l)
		}
	}
	last := lines[len(lines)-1]
	m := regexp.MustCompile(`^lightgbm: (\d+) of (\d+) checks within tolerance`).FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("unexpected last line %q", last)
	}
	if m[1] != m[2] || m[2] == "0" {
		t.Errorf("%s", last)
	}
	t.Log(last)
}

type manifestModel struct {
	ID    string `json:"id"`
	Model string `json:"model"`
	Flags struct {
		LinearTree bool `json:"linear_tree"`
	} `json:"flags"`
	Checks []struct {
		Name         string   `json:"name"`
		Input        string   `json:"input"`
		Expected     string   `json:"expected"`
		Cols         []string `json:"cols"`
		NumIteration int      `json:"num_iteration"`
	} `json:"checks"`
}

// TestSkippedChecks covers what compare_lightgbm.py cannot ask `score` for:
// predict(num_iteration=N) (the first N iterations: the first N·K trees,
// an average over N) and predict(pred_leaf=True) (the leaf index reached
// in every tree), through the package itself.
func TestSkippedChecks(t *testing.T) {
	dir := referenceDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest []manifestModel
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, mm := range manifest {
		for _, ch := range mm.Checks {
			leaves := len(ch.Cols) > 0 && strings.HasPrefix(ch.Cols[0], "leaf_")
			if ch.NumIteration == 0 && !leaves {
				continue
			}
			ran++
			m, err := Load(filepath.Join(dir, mm.Model), "")
			if err != nil {
				t.Fatalf("%s: %v", mm.ID, err)
			}
			x, n := readInput(t, filepath.Join(dir, ch.Input), m.nfeat)
			want := readCSV(t, filepath.Join(dir, ch.Expected))
			if leaves {
				for r := 0; r < n; r++ {
					row := x[r*m.nfeat : (r+1)*m.nfeat]
					for i, tr := range m.trees {
						leaf := 0
						if tr.nLeaves > 1 {
							leaf = int(m.leafOf(&m.trees[i], inputRow(row)) - tr.leafOff)
						}
						if w := want[r]["leaf_"+strconv.Itoa(i)]; w != strconv.Itoa(leaf) {
							t.Fatalf("%s %s row %d tree %d: leaf %d, LightGBM %s", mm.ID, ch.Name, r, i, leaf, w)
						}
					}
				}
				continue
			}
			sub := *m
			sub.trees = m.trees[:ch.NumIteration*m.k]
			sub.iterations = ch.NumIteration
			out := make([]float64, n*m.k)
			if err := sub.Predict64To64(x, out); err != nil {
				t.Fatal(err)
			}
			limit := int64(4)
			if mm.Flags.LinearTree {
				limit = 8
			}
			for r := 0; r < n; r++ {
				o := out[r*m.k : (r+1)*m.k]
				best := 0
				for c := range o {
					if o[c] > o[best] {
						best = c
					}
				}
				for _, col := range ch.Cols {
					var got float64
					switch {
					case col == "score":
						got = o[best]
					case col == "label":
						got = float64(best)
					case strings.HasPrefix(col, "prob_"):
						c, _ := strconv.Atoi(col[len("prob_"):])
						got = o[c]
					default:
						t.Fatalf("%s: column %s", mm.ID, col)
					}
					w, err := strconv.ParseFloat(want[r][col], 64)
					if err != nil {
						t.Fatalf("%s row %d %s: %v", mm.ID, r, col, err)
					}
					if u := ulps(got, w); u > limit {
						t.Fatalf("%s %s row %d %s: %v, LightGBM %v (%d ulps)", mm.ID, ch.Name, r, col, got, w, u)
					}
				}
			}
		}
	}
	if ran < 20 {
		t.Errorf("only %d checks run", ran)
	}
	t.Logf("%d num_iteration and pred_leaf checks within tolerance", ran)
}

func ulps(a, b float64) int64 {
	if a == b {
		return 0
	}
	ia, ib := int64(math.Float64bits(a)), int64(math.Float64bits(b))
	if ia < 0 {
		ia = math.MinInt64 - ia
	}
	if ib < 0 {
		ib = math.MinInt64 - ib
	}
	if d := ia - ib; d >= 0 {
		return d
	} else {
		return -d
	}
}

func readCSV(t *testing.T, path string) []map[string]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, h := range recs[0] {
			row[h] = rec[i]
		}
		out = append(out, row)
	}
	return out
}

// readInput reads a reference input file: row_id, then the features in
// model order; an empty cell is NaN.
func readInput(t *testing.T, path string, nf int) ([]float64, int) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs[0]) != nf+1 {
		t.Fatalf("%s: %d columns for %d features", path, len(recs[0]), nf)
	}
	var x []float64
	for _, rec := range recs[1:] {
		for _, c := range rec[1:] {
			v := math.NaN()
			if c != "" {
				if v, err = strconv.ParseFloat(c, 64); err != nil {
					t.Fatal(err)
				}
			}
			x = append(x, v)
		}
	}
	return x, len(recs) - 1
}

// BenchmarkReferenceAudit scores the 1,899 Audit rows with LightGBM 4.6.0's
// ClassificationAudit model (31 trees, pandas categorical splits), on the
// complete-tree walk and on the node walk.
func BenchmarkReferenceAudit(b *testing.B) {
	t := &testing.T{}
	dir := os.Getenv("LIGHTGBM_REFERENCE")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "reference", "lightgbm")
	}
	m, err := Load(filepath.Join(dir, "models", "jpmml-4.6.0-ClassificationAudit.txt"), "")
	if err != nil {
		b.Skip(err)
	}
	x, n := readInput(t, filepath.Join(dir, "inputs", "jpmml-Audit.csv"), m.nfeat)
	for _, mm := range []*Model{m, withoutFast(m)} {
		b.Run(strconv.Itoa(len(mm.fast.trees))+"-fast-trees", func(b *testing.B) { benchPredict(b, mm, x, n) })
	}
}

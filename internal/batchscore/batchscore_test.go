package batchscore

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/load"
)

func scorer(t *testing.T, model string, specs []scoring.FeatureSpec) *scoring.Scorer {
	t.Helper()
	m, err := load.Model(model, load.Auto, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scoring.NewScorer(m, specs, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readAllCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestCSVMatchesXGBoost(t *testing.T) {
	s := scorer(t, "../../scoring/xgboost/testdata/xgb_fraud.json", nil)
	out := filepath.Join(t.TempDir(), "scored.csv")
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	sum, err := Run(context.Background(), Options{Scorer: s, Input: "../../scoring/xgboost/testdata/xgb_fraud_test.csv",
		Output: out, BatchSize: 777, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 5000 || sum.Scored != 5000 || sum.Rejected != 0 {
		t.Fatalf("summary %+v", sum)
	}
	recs := readAllCSV(t, out)
	wantHeader := "row,kind,expected_prob,expected_margin,score,label,risk_segment,model_version,scored_at"
	if got := strings.Join(recs[0], ","); got != wantHeader {
		t.Fatalf("header %s, want %s", got, wantHeader)
	}
	for i, rec := range recs[1:] {
		if rec[0] != strconv.Itoa(i) {
			t.Fatalf("row %d out of order: %v", i, rec[0])
		}
		if rec[2] != rec[4] {
			x, _ := strconv.ParseFloat(rec[2], 64)
			y, _ := strconv.ParseFloat(rec[4], 64)
			if x != y {
				t.Fatalf("row %d: score %s, XGBoost %s", i, rec[4], rec[2])
			}
		}
		if rec[7] != s.Info().Version || rec[8] != "2026-11-27T12:00:00.000Z" {
			t.Fatalf("row %d: version/time %v", i, rec[7:])
		}
	}
}

func TestJSONLMatchesOnnxruntime(t *testing.T) {
	specs := []scoring.FeatureSpec{{Name: "x0"}, {Name: "x1"}, {Name: "x2"}, {Name: "x3"}, {Name: "x4"}}
	s := scorer(t, "../../scoring/onnxml/testdata/sk_rf_pipeline.onnx", specs)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	recs := readAllCSV(t, "../../scoring/onnxml/testdata/sk_rf_test.csv")
	ort := readAllCSV(t, "../../scoring/onnxml/testdata/ort_sk_rf_test.csv")
	var b strings.Builder
	for i, rec := range recs[1:] {
		fmt.Fprintf(&b, `{"id":"r%d","x0":%s,"x1":%s,"x2":%s,"x3":%s,"x4":%s,"note":{"k":[1,2]}}`+"\n", i, rec[2], rec[3], rec[4], rec[5], rec[6])
		if i == 10 {
			b.WriteString("\n") // blank lines are skipped
		}
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), Options{Scorer: s, Input: in, Output: out, BatchSize: 300})
	if err != nil || sum.Scored != 2000 || sum.Rejected != 0 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	f, _ := os.Open(out)
	defer f.Close()
	sc := bufio.NewScanner(f)
	i := 0
	for ; sc.Scan(); i++ {
		var got struct {
			ID    string          `json:"id"`
			Note  json.RawMessage `json:"note"`
			Score float64         `json:"score"`
			Label int             `json:"label"`
			X0    *float64        `json:"x0"`
		}
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want, _ := strconv.ParseFloat(ort[i+1][3], 64)
		if got.ID != "r"+strconv.Itoa(i) || got.Score != want || got.X0 != nil || string(got.Note) != `{"k":[1,2]}` {
			t.Fatalf("line %d: %s (want score %v)", i, sc.Text(), want)
		}
		if !strings.HasPrefix(sc.Text(), `{"id":"r`) {
			t.Fatalf("member order lost: %s", sc.Text())
		}
	}
	if i != 2000 {
		t.Fatalf("%d output lines", i)
	}
}

func TestRejectsAndMulticlass(t *testing.T) {
	s := scorer(t, "../../scoring/xgboost/testdata/xgb_multi.json", nil)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte("id,f0,f1,f2,f3\n"+
		"a,0.1,0.2,0.3,0.4\n"+
		"b,oops,0.2,0.3,0.4\n"+
		"c,0.1,0.2\n"+
		"d,,nan,NaN,1\n"), 0o644)
	sum, err := Run(context.Background(), Options{Scorer: s, Input: in, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 4 || sum.Scored != 2 || sum.Rejected != 2 {
		t.Fatalf("summary %+v", sum)
	}
	lines, _ := os.ReadFile(out)
	if !strings.Contains(string(lines), `"id":"a"`) || !strings.Contains(string(lines), `"prob_2":`) || !strings.Contains(string(lines), `"id":"d"`) {
		t.Errorf("output:\n%s", lines)
	}
	rej, _ := os.ReadFile(sum.Rejects)
	got := strings.Split(strings.TrimSpace(string(rej)), "\n")
	if len(got) != 2 || !strings.Contains(got[0], `"line":3`) || !strings.Contains(got[0], `feature \"f0\"`) ||
		!strings.Contains(got[1], `"line":4`) || !strings.Contains(got[1], "3 cells for 5 columns") {
		t.Errorf("rejects:\n%s", rej)
	}
}

func TestFatalErrors(t *testing.T) {
	s := scorer(t, "../../scoring/xgboost/testdata/xgb_multi.json", nil)
	dir := t.TempDir()
	for _, o := range []Options{
		{Input: filepath.Join(dir, "missing.csv"), Output: filepath.Join(dir, "o.csv")},
		{Input: filepath.Join(dir, "x.parquet"), Output: filepath.Join(dir, "o.csv")},
		{Input: "../../scoring/xgboost/testdata/xgb_multi_test.csv", Output: filepath.Join(dir, "no", "such", "dir.csv")},
	} {
		o.Scorer = s
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

// TestOutputIsValidJSON: names, text and reasons with quotes, control and
// non-ASCII characters still make valid JSON lines.
func TestOutputIsValidJSON(t *testing.T) {
	s := scorer(t, "../../scoring/xgboost/testdata/xgb_multi.json", nil)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte("\"we\x7fird \"\"name\"\"\",f0,f1,f2,f3\n\"é\x01\",0.1,0.2,0.3,0.4\nx,bad\x7f,0.2,0.3,0.4\n"), 0o644)
	if _, err := Run(context.Background(), Options{Scorer: s, Input: in, Output: out}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{out, out + ".rejects"} {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		for _, l := range lines {
			if !json.Valid([]byte(l)) {
				t.Errorf("%s: invalid JSON line %q", filepath.Base(path), l)
			}
		}
		if len(lines) != 1 {
			t.Errorf("%s: %d lines", filepath.Base(path), len(lines))
		}
	}
}

// TestMultiTarget: a multi-target model writes one column per target,
// target_0 … target_<K-1>, and its score follows target 0; every value is
// XGBoost's own prediction.
func TestMultiTarget(t *testing.T) {
	for _, tc := range []struct {
		model   string
		targets int
	}{{"multi_target.ubj", 3}, {"multi_label.json", 2}} {
		s := scorer(t, "../../scoring/xgboost/testdata/"+tc.model, nil)
		in := "../../scoring/xgboost/testdata/" + strings.TrimSuffix(strings.TrimSuffix(tc.model, ".ubj"), ".json") + "_test.csv"
		out := filepath.Join(t.TempDir(), "scored.csv")
		sum, err := Run(context.Background(), Options{Scorer: s, Input: in, Output: out})
		if err != nil || sum.Rejected != 0 || sum.Scored != 1000 {
			t.Fatalf("%s: summary %+v, err %v", tc.model, sum, err)
		}
		recs := readAllCSV(t, out)
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		if _, ok := col[ColTargetPrefix+strconv.Itoa(tc.targets)]; ok {
			t.Fatalf("%s: too many target columns: %v", tc.model, recs[0])
		}
		for _, rec := range recs[1:] {
			for k := 0; k < tc.targets; k++ {
				c, ok := col[ColTargetPrefix+strconv.Itoa(k)]
				if !ok {
					t.Fatalf("%s: no column target_%d in %v", tc.model, k, recs[0])
				}
				got, _ := strconv.ParseFloat(rec[c], 64)
				want, _ := strconv.ParseFloat(rec[col["pred_"+strconv.Itoa(k)]], 64)
				if float32(got) != float32(want) || got != float64(float32(got)) {
					t.Fatalf("%s row %s target %d: %v, XGBoost %v", tc.model, rec[0], k, got, want)
				}
			}
			if rec[col[ColScore]] != rec[col[ColTargetPrefix+"0"]] {
				t.Fatalf("%s row %s: score %s, target_0 %s", tc.model, rec[0], rec[col[ColScore]], rec[col[ColTargetPrefix+"0"]])
			}
		}
	}
}

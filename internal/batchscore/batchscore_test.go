package batchscore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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

// TestContributions: --contributions adds contrib_<feature> and
// contrib_bias (per class contrib_<k>_…), within the goal's tolerance of
// XGBoost 1.7.4's own pred_contribs (testdata/gen_contribs.py), in CSV and
// JSON Lines.
func TestContributions(t *testing.T) {
	for _, tc := range []struct {
		model, rows, out string
		groups           int
	}{
		{"xgb_fraud.ubj", "xgb_fraud_test", "scored.csv", 1},
		{"xgb_multi.json", "xgb_multi_test", "scored.jsonl", 3},
	} {
		t.Run(tc.model, func(t *testing.T) {
			td := "../../scoring/xgboost/testdata/"
			s := scorer(t, td+tc.model, nil)
			out := filepath.Join(t.TempDir(), tc.out)
			sum, err := Run(context.Background(), Options{Scorer: s, Input: td + tc.rows + ".csv", Output: out, BatchSize: 333, Contributions: true})
			if err != nil || sum.Rejected != 0 || sum.Explain <= 0 {
				t.Fatalf("summary %+v, err %v", sum, err)
			}
			got := readScored(t, out)
			ref := readAllCSV(t, td+tc.rows+"_contribs.csv")
			col := map[string]int{}
			for i, h := range ref[0] {
				col[h] = i
			}
			cols := ContributionColumns(s.Info())
			if len(cols) != tc.groups*(len(s.Info().Features)+1) {
				t.Fatalf("columns %v", cols)
			}
			if tc.groups == 1 && (cols[0] != "contrib_amount" || cols[len(cols)-1] != "contrib_bias") {
				t.Fatalf("columns %v", cols)
			}
			if tc.groups > 1 && (cols[0] != "contrib_0_f0" || cols[len(cols)-1] != "contrib_2_bias") {
				t.Fatalf("columns %v", cols)
			}
			if len(got) != len(ref)-1 {
				t.Fatalf("%d rows, reference %d", len(got), len(ref)-1)
			}
			for r, row := range got {
				for _, c := range cols {
					// contrib_<k>_<f> and contrib_<f> are the reference's
					// contrib_<k>_<f> with k = 0 for one group.
					k, name := "0", strings.TrimPrefix(c, ColContribPrefix)
					if tc.groups > 1 {
						k, name, _ = strings.Cut(name, "_")
					}
					want, _ := strconv.ParseFloat(ref[r+1][col["contrib_"+k+"_"+name]], 64)
					margin, _ := strconv.ParseFloat(ref[r+1][col["margin_"+k]], 64)
					v, ok := row[c]
					if !ok {
						t.Fatalf("row %d has no %s", r, c)
					}
					if math.Abs(v-want) > 1e-5*math.Max(1, math.Abs(margin)) {
						t.Fatalf("row %d %s: %v, XGBoost %v", r, c, v, want)
					}
				}
			}
		})
	}
}

// readScored reads a scored CSV or JSON Lines file: every numeric column
// of every row.
func readScored(t *testing.T, path string) []map[string]float64 {
	t.Helper()
	var rows []map[string]float64
	if strings.HasSuffix(path, ".csv") {
		recs := readAllCSV(t, path)
		for _, rec := range recs[1:] {
			m := map[string]float64{}
			for i, h := range recs[0] {
				if v, err := strconv.ParseFloat(rec[i], 64); err == nil {
					m[h] = v
				}
			}
			rows = append(rows, m)
		}
		return rows
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatal(err)
		}
		m := map[string]float64{}
		for k, v := range obj {
			if f, ok := v.(float64); ok {
				m[k] = f
			}
		}
		rows = append(rows, m)
	}
	return rows
}

// TestContributionsRefused: a model that cannot explain makes
// --contributions fail before anything is written, saying why.
func TestContributionsRefused(t *testing.T) {
	specs := []scoring.FeatureSpec{{Name: "x0"}, {Name: "x1"}, {Name: "x2"}, {Name: "x3"}, {Name: "x4"}}
	s := scorer(t, "../../scoring/onnxml/testdata/sk_rf_pipeline.onnx", specs)
	out := filepath.Join(t.TempDir(), "o.csv")
	_, err := Run(context.Background(), Options{Scorer: s, Input: "../../scoring/onnxml/testdata/sk_rf_test.csv", Output: out, Contributions: true})
	if !errors.Is(err, scoring.ErrCannotExplain) || !strings.Contains(err.Error(), "no node covers") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output written: %v", err)
	}
}

// TestContributionsWithRejects: rows rejected in a batch leave the
// contributions of the others in place.
func TestContributionsWithRejects(t *testing.T) {
	s := scorer(t, "../../scoring/xgboost/testdata/xgb_multi.json", nil)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte("id,f0,f1,f2,f3\n"+
		"a,0.1,0.2,0.3,0.4\n"+
		"b,oops,0.2,0.3,0.4\n"+
		"c,0.1,0.2\n"+
		"d,,nan,NaN,1\n"), 0o644)
	sum, err := Run(context.Background(), Options{Scorer: s, Input: in, Output: out, Contributions: true})
	if err != nil || sum.Scored != 2 || sum.Rejected != 2 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	e, _ := s.Explainer()
	for i, x := range [][]float32{{0.1, 0.2, 0.3, 0.4}, {nan32, nan32, nan32, 1}} {
		want := make([]float32, s.ContributionLen())
		if err := e.Explain(x, want); err != nil {
			t.Fatal(err)
		}
		row := readScored(t, out)[i]
		for k, c := range ContributionColumns(s.Info()) {
			if float32(row[c]) != want[k] {
				t.Errorf("row %d %s: %v, want %v", i, c, row[c], want[k])
			}
		}
	}
}

var nan32 = float32(math.NaN())

// TestJSONLRejects: a JSON Lines row that is not JSON is rejected at the
// decode stage with the stream's decoder's reason, its text kept as "raw";
// a row whose field does not decode keeps its members; every rejects line
// is valid JSON.
func TestJSONLRejects(t *testing.T) {
	s := scorer(t, "../../scoring/xgboost/testdata/xgb_multi.json", nil)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte(`{"id":"a","f0":0.1,"f1":0.2,"f2":0.3,"f3":0.4}`+"\n"+
		`{"id":"b","f0":`+"\n"+
		`{"id":"c","f0":"x\"y","f1":0.2,"f2":0.3,"f3":0.4}`+"\n"), 0o644)
	sum, err := Run(context.Background(), Options{Scorer: s, Input: in, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Scored != 1 || sum.Rejected != 2 {
		t.Fatalf("summary %+v", sum)
	}
	type reject struct {
		Line   int            `json:"line"`
		Reason string         `json:"reason"`
		Raw    *string        `json:"raw"`
		Row    map[string]any `json:"row"`
	}
	var got []reject
	for _, l := range readLines(t, sum.Rejects) {
		var r reject
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("rejects line %s: %v", l, err)
		}
		got = append(got, r)
	}
	if len(got) != 2 {
		t.Fatalf("%d rejects", len(got))
	}
	if r := got[0]; r.Line != 2 || !strings.HasPrefix(r.Reason, "decode: malformed record: ") || r.Raw == nil || *r.Raw != `{"id":"b","f0":` || r.Row != nil {
		t.Errorf("unparsable line: %+v", r)
	}
	if r := got[1]; r.Line != 3 || !strings.HasPrefix(r.Reason, "features: ") || r.Raw != nil || r.Row["f0"] != `x"y` {
		t.Errorf("undecodable field: %+v", r)
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

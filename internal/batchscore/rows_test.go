package batchscore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestCellCountRejects: a row with fewer or more cells than the header has
// columns is rejected naming both counts, with the cells it has that the
// header names.
func TestCellCountRejects(t *testing.T) {
	s := scorer(t, "../../scoring/xgboost/testdata/xgb_multi.json", nil)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte("id,f0,f1,f2,f3\n"+
		"a,0.1,0.2,0.3,0.4\n"+
		"b,0.1\n"+
		"c,0.1,0.2,0.3,0.4,extra\n"+
		"d\n"), 0o644)
	sum, err := Run(context.Background(), Options{Scorer: s, Input: in, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 4 || sum.Scored != 1 || sum.Rejected != 3 {
		t.Fatalf("summary %+v", sum)
	}
	rej, _ := os.ReadFile(sum.Rejects)
	want := `{"line":3,"reason":"decode: 2 cells for 5 columns","row":{"id":"b","f0":"0.1"}}
{"line":4,"reason":"decode: 6 cells for 5 columns","row":{"id":"c","f0":"0.1","f1":"0.2","f2":"0.3","f3":"0.4"}}
{"line":5,"reason":"decode: 1 cells for 5 columns","row":{"id":"d"}}
`
	if string(rej) != want {
		t.Errorf("rejects:\n%s\nwant:\n%s", rej, want)
	}
}

// TestShortRowsCostWhatTheyHold: a short row costs what it holds, not what
// the header names: a header of 20,000 columns then 500 rows of one cell
// (a 146 KB file) is read, scored and rejected in a few MB. (A cell and a
// field per column for every row cost 865 MB for 75 such rows.)
func TestShortRowsCostWhatTheyHold(t *testing.T) {
	const cols, rows = 20000, 500
	s := scorer(t, "../../scoring/xgboost/testdata/xgb_multi.json", nil)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.jsonl")
	var b strings.Builder
	b.WriteString("f0,f1,f2,f3")
	for i := 4; i < cols; i++ {
		fmt.Fprintf(&b, ",c%d", i)
	}
	b.WriteString("\n0.1,0.2,0.3,0.4" + strings.Repeat(",", cols-4) + "\n") // line 2: a full row
	b.WriteString(strings.Repeat("1\n", rows))                              // lines 3 ... 502
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	alloc := func(what string, limit uint64, f func()) {
		t.Helper()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		got := after.TotalAlloc - before.TotalAlloc
		if got > limit {
			t.Errorf("%s of a %d KB file allocated %d MB, want at most %d", what, b.Len()>>10, got>>20, limit>>20)
		}
		t.Logf("%s of a %d KB file allocated %.1f MB", what, b.Len()>>10, float64(got)/(1<<20))
	}

	var sum Summary
	var err error
	alloc("score", 64<<20, func() { sum, err = Run(context.Background(), Options{Scorer: s, Input: in, Output: out}) })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != rows+1 || sum.Scored != 1 || sum.Rejected != rows {
		t.Fatalf("summary %+v", sum)
	}
	rej, err := os.ReadFile(sum.Rejects)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(rej), "\n"), "\n")
	if len(lines) != rows {
		t.Fatalf("%d rejects, want %d", len(lines), rows)
	}
	for i, l := range lines {
		if want := fmt.Sprintf(`{"line":%d,"reason":"decode: 1 cells for %d columns","row":{"f0":"1"}}`, i+3, cols); l != want {
			t.Fatalf("reject %d: %.300s, want %s", i, l, want)
		}
	}

	rr, err := OpenRows(in)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	var got []Row
	alloc("read", 64<<20, func() { got, err = rr.Read(rows + 1) })
	if err != nil || len(got) != rows+1 {
		t.Fatalf("read %d rows: %v", len(got), err)
	}
	if got[0].Err != nil || len(got[0].Event.Fields) != cols {
		t.Errorf("full row: %v, %d fields", got[0].Err, len(got[0].Event.Fields))
	}
	for _, r := range got[1:] {
		want := fmt.Sprintf("1 cells for %d columns", cols)
		if r.Err == nil || r.Err.Error() != want {
			t.Fatalf("line %d: %v, want %s", r.Line, r.Err, want)
		}
	}
}

package batchscore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/linear"
)

// churn is a linear model over amount and support_calls that imputes a
// missing input, so a file without a support_calls column would be scored
// without complaint, every row with support_calls = 0.
func churn(t *testing.T, specs []scoring.FeatureSpec) *scoring.Scorer {
	t.Helper()
	m, err := linear.Parse([]byte(`{"format":"streamscore-linear","link":"logistic","features":["amount","support_calls"],
		"coefficients":[0.01,0.9],"intercept":-2,"missing":{"amount":0,"support_calls":0}}`), "churn")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scoring.NewScorer(m, specs, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A model input without a default and without a column is an error naming
// the input and the closest column, before any output is written; the
// file is scored only when the caller allows it.
func TestMissingColumnIsAnError(t *testing.T) {
	def := 0.0
	hourSpecs := []scoring.FeatureSpec{{Name: "amount"}, {Name: "support_calls", From: "calls"}}
	tests := []struct {
		name, input string
		specs       []scoring.FeatureSpec
		want        string // "" = no error
	}{
		{"misspelt header", "id,amount,supportcalls\n1,10,3\n2,20,0\n", nil,
			`model input "support_calls" has no column in the CSV header (closest: "supportcalls")`},
		{"case and separators", "id,Amount,support_calls\n1,10,3\n", nil, `model input "amount" has no column in the CSV header (closest: "Amount")`},
		{"renamed input", "id,amount,cals\n1,10,3\n", hourSpecs, `model input "support_calls" reads column "calls", which is not in the CSV header (closest: "cals")`},
		{"nothing close", "id,amount,zzz\n1,10,3\n", nil, `model input "support_calls" has no column in the CSV header (there: "id", "amount", "zzz")`},
		{"two missing", "id,x\n1,2\n", nil, `"amount" has no column in the CSV header (there: "id", "x"); model input "support_calls" has no column`},
		{"a default fills it", "id,amount\n1,10\n", []scoring.FeatureSpec{{Name: "amount"}, {Name: "support_calls", Default: &def}}, ""},
		{"all there", "id,amount,support_calls\n1,10,\n", nil, ""},
		{"jsonl misspelt", "{\"amount\":1,\"supportcalls\":2}\n\n{\"amount\":3}\n", nil,
			`model input "support_calls" has no key in any of the first 2 rows (closest: "supportcalls")`},
		{"jsonl key in a later row", "{\"amount\":1}\nnot json\n{\"amount\":3,\"support_calls\":null}\n", nil, ""},
		{"jsonl nothing readable", "not json\n", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ext := ".csv"
			if strings.HasPrefix(tt.name, "jsonl") {
				ext = ".jsonl"
			}
			in := write(t, "in"+ext, tt.input)
			out := filepath.Join(t.TempDir(), "out"+ext)
			sum, err := Run(context.Background(), Options{Scorer: churn(t, tt.specs), Input: in, Output: out})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrMissingColumn) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "--allow-missing-columns") {
				t.Fatalf("summary %+v, err = %v, want %q", sum, err, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written: %v", err)
			}
			sum, err = Run(context.Background(), Options{Scorer: churn(t, tt.specs), Input: in, Output: out, AllowMissingColumns: true})
			if err != nil || sum.Scored == 0 {
				t.Errorf("allowed: summary %+v, err = %v", sum, err)
			}
		})
	}
}

// The rows read ahead for the JSON Lines check are scored like the others,
// in order, with their line numbers; a field first seen after the rows
// checked is reported (the check reads the first 1,000).
func TestJSONLCheckKeepsEveryRow(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= jsonlCheckRows+5; i++ {
		if i == 7 {
			b.WriteString("{bad\n")
			continue
		}
		fmt.Fprintf(&b, "{\"id\":%d,\"amount\":%d,\"support_calls\":%d}\n", i, i, i%4)
	}
	in := write(t, "in.jsonl", b.String())
	out := filepath.Join(t.TempDir(), "out.jsonl")
	sum, err := Run(context.Background(), Options{Scorer: churn(t, nil), Input: in, Output: out, BatchSize: 64})
	if err != nil || sum.Rows != jsonlCheckRows+5 || sum.Scored != jsonlCheckRows+4 || sum.Rejected != 1 {
		t.Fatalf("summary %+v, err = %v", sum, err)
	}
	lines := strings.Split(strings.TrimSpace(readFile(t, out)), "\n")
	for k, line := range lines {
		id := k + 1
		if id >= 7 {
			id++
		}
		if !strings.HasPrefix(line, fmt.Sprintf(`{"id":%d,`, id)) {
			t.Fatalf("output line %d: %s", k+1, line)
		}
	}
	if rej := readFile(t, out+".rejects"); !strings.Contains(rej, `"line":7`) {
		t.Errorf("rejects: %s", rej)
	}

	b.Reset()
	for i := 1; i <= jsonlCheckRows; i++ {
		fmt.Fprintf(&b, "{\"amount\":%d}\n", i)
	}
	b.WriteString("{\"amount\":1,\"support_calls\":2}\n")
	in = write(t, "late.jsonl", b.String())
	if _, err := Run(context.Background(), Options{Scorer: churn(t, nil), Input: in, Output: out}); !errors.Is(err, ErrMissingColumn) ||
		!strings.Contains(err.Error(), "in any of the first 1000 rows") {
		t.Errorf("a key first seen after row 1000: %v", err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClosest(t *testing.T) {
	cols := []string{"id", "supportcalls", "amount_usd", "Event-Time", "country"}
	for _, tt := range []struct {
		name, want string
		ok         bool
	}{
		{"support_calls", "supportcalls", true},
		{"event_time", "Event-Time", true},
		{"amount", "amount_usd", true},
		{"countyr", "country", true},
		{"merchant_category", "", false},
	} {
		got, ok := closest(tt.name, cols)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("closest(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

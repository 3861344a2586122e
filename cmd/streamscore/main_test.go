package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/config"
)

// The tests run the command itself: the test binary re-executes itself
// with STREAMSCORE_TEST_MAIN=1, which calls main, so exit codes, stdout
// and stderr are the real ones.
func TestMain(m *testing.M) {
	if os.Getenv("STREAMSCORE_TEST_MAIN") == "1" {
		os.Args = append([]string{"streamscore"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type result struct {
	code           int
	stdout, stderr string
}

func streamscore(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "STREAMSCORE_TEST_MAIN=1"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// Every command's --help (and -h, and streamscore help <command>) prints
// its usage to stdout and exits 0.
func TestHelp(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--help"}, []string{"usage: streamscore run", "environment variables", "BATCH_INTERVAL", "20ms"}},
		{[]string{"run", "-h"}, []string{"usage: streamscore run"}},
		{[]string{"help", "run"}, []string{"usage: streamscore run"}},
		{[]string{"score", "--help"}, []string{"usage: streamscore score", "-model string", "-allow-missing-columns", "-threshold float", `(default "0.3,0.6")`, "SCORE_THRESHOLD"}},
		{[]string{"help", "score"}, []string{"usage: streamscore score"}},
		{[]string{"backfill", "--help"}, []string{"usage: streamscore backfill", "-from string", "-resume string", "KAFKA_BROKERS"}},
		{[]string{"model", "--help"}, []string{"usage: streamscore model inspect FILE", "-features string"}},
		{[]string{"model", "inspect", "--help"}, []string{"usage: streamscore model inspect FILE", "-format string"}},
		{[]string{"demo", "--help"}, []string{"usage: streamscore demo", "-duration duration", "-rate float", "events per second, transactions and activity events together", "HTTP_ADDR"}},
		{[]string{"version", "--help"}, []string{"usage: streamscore version"}},
		{[]string{"--help"}, []string{"usage: streamscore <command>", "--help"}},
	} {
		r := streamscore(t, nil, tt.args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%v: exit %d, stderr %q", tt.args, r.code, r.stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tt.args, w, r.stdout)
			}
		}
	}
}

// run --help lists every variable Load reads, with its default.
func TestRunHelpListsEveryVariable(t *testing.T) {
	r := streamscore(t, nil, "run", "--help")
	lines := map[string]string{}
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			lines[f[0]] = l
		}
	}
	for _, v := range config.Variables() {
		l, ok := lines[v.Name]
		if !ok {
			t.Errorf("run --help does not list %s", v.Name)
			continue
		}
		if v.Default != "" && strings.Fields(l)[1] != v.Default {
			t.Errorf("%s: line %q, want default %s", v.Name, l, v.Default)
		}
	}
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{{"run", "--bogus"}, {"run", "extra"}, {"score", "--bogus"}, {"demo", "--rate", "x"},
		{"backfill", "--nope"}, {"version", "--x"}, {"model", "inspect", "--x"}, {"model", "describe"}, {"nope"}} {
		r := streamscore(t, nil, args...)
		if r.code != 2 || r.stderr == "" || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

const (
	fraudModel = "../../scoring/xgboost/testdata/xgb_fraud.json"
	fraudCSV   = "../../scoring/xgboost/testdata/xgb_fraud_test.csv"
)

// score names what it read when a value is bad: the flag or the variable,
// the value, and what is allowed; it never replaces a bad value by the
// default.
func TestScorePolicyErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.csv")
	base := []string{"score", "--model", fraudModel, "--input", fraudCSV, "--output", out}
	for _, tt := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"SCORE_THRESHOLD=abc"}, nil, `SCORE_THRESHOLD="abc": want a finite number`},
		{[]string{"SCORE_THRESHOLD=NaN"}, nil, `SCORE_THRESHOLD="NaN": want a finite number`},
		{nil, []string{"--threshold", "Inf"}, `--threshold="+Inf": want a finite number`},
		{[]string{"RISK_BANDS=0.7,0.2"}, nil, `RISK_BANDS="0.7,0.2": want two ascending numbers`},
		{[]string{"RISK_BANDS=0.7"}, nil, `RISK_BANDS="0.7": want two ascending finite numbers`},
		{[]string{"RISK_BANDS=0.3,high"}, nil, `RISK_BANDS="0.3,high": "high" is not a finite number`},
		{nil, []string{"--risk-bands", "0.3"}, `--risk-bands="0.3": want two`},
		{[]string{"RISK_BANDS=0.9,0.1"}, []string{"--risk-bands", "0.1,x"}, `--risk-bands="0.1,x"`}, // the flag wins, and is named
	} {
		r := streamscore(t, tt.env, append(append([]string{}, base...), tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v %v: exit %d, stderr %q, want %q", tt.env, tt.args, r.code, r.stderr, tt.want)
		}
	}
	// a good variable is used; a flag overrides a bad variable
	labels := func(r result) int {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		f, _ := os.Open(out)
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col, ones := -1, 0
		for i, h := range recs[0] {
			if h == "label" {
				col = i
			}
		}
		for _, rec := range recs[1:] {
			if rec[col] == "1" {
				ones++
			}
		}
		return ones
	}
	def := labels(streamscore(t, nil, base...))
	high := labels(streamscore(t, []string{"SCORE_THRESHOLD=0.99"}, base...))
	flag := labels(streamscore(t, []string{"SCORE_THRESHOLD=abc"}, append(base, "--threshold", "0.99")...))
	if def == 0 || high >= def || flag != high {
		t.Errorf("label 1 on %d rows by default, %d with SCORE_THRESHOLD=0.99, %d with --threshold 0.99", def, high, flag)
	}
}

// An unknown model format points to the flag score reads, --format.
func TestScoreFormatHint(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.bin")
	os.WriteFile(model, []byte("not a model"), 0o644)
	r := streamscore(t, nil, "score", "--model", model, "--input", fraudCSV, "--output", filepath.Join(dir, "o.csv"))
	if r.code != 1 || !strings.Contains(r.stderr, "--format") || strings.Contains(r.stderr, "MODEL_FORMAT") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// A misspelt column is an error naming the input and the closest column.
func TestScoreMissingColumn(t *testing.T) {
	dir := t.TempDir()
	b, _ := os.ReadFile(fraudCSV)
	header, rest, _ := strings.Cut(string(b), "\n")
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte(strings.Replace(header, "tx_count_1h", "txcount_1h", 1)+"\n"+rest), 0o644)
	args := []string{"score", "--model", fraudModel, "--input", in, "--output", filepath.Join(dir, "o.csv")}
	r := streamscore(t, nil, args...)
	if r.code != 1 || !strings.Contains(r.stderr, `model input "tx_count_1h" has no column in the CSV header (closest: "txcount_1h")`) {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r := streamscore(t, nil, append(args, "--allow-missing-columns")...); r.code != 0 || !strings.Contains(r.stderr, "scored 5000 of 5000 rows") {
		t.Errorf("allowed: exit %d, stderr %q", r.code, r.stderr)
	}
}

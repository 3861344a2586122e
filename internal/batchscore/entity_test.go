package batchscore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// logColumns are the columns of a log file written by writeLog.
var logColumns = []string{"event_type", "event_id", "customer_id", "event_time", "amount", "country", "activity_type"}

// writeLog writes entitytest's log as a file of both kinds in time order:
// CSV (an absent or null field is an empty cell) or JSON Lines (an absent
// field is left out, a null one is null). The event time is RFC 3339 on
// odd rows and epoch milliseconds on even ones.
func writeLog(t *testing.T, path string, log []entitytest.Event, skip func(string) bool) {
	t.Helper()
	var b strings.Builder
	csv := strings.HasSuffix(path, ".csv")
	var cols []string
	for _, c := range logColumns {
		if skip == nil || !skip(c) {
			cols = append(cols, c)
		}
	}
	if csv {
		b.WriteString(strings.Join(cols, ",") + "\n")
	}
	for i, e := range log {
		var tm any = e.Ms
		if i%2 == 1 {
			tm = schemas.FormatTime(time.UnixMilli(e.Ms))
		}
		vals := map[string]any{"event_type": string(e.Kind), "event_id": e.ID, "customer_id": e.Entity, "event_time": tm}
		for k, v := range e.Fields {
			vals[k] = v
		}
		if csv {
			for j, c := range cols {
				if j > 0 {
					b.WriteByte(',')
				}
				if v, ok := vals[c]; ok && v != nil {
					fmt.Fprint(&b, v)
				}
			}
			b.WriteByte('\n')
			continue
		}
		b.WriteByte('{')
		first := true
		for _, c := range cols {
			v, ok := vals[c]
			if !ok {
				continue
			}
			j, _ := json.Marshal(v)
			if !first {
				b.WriteByte(',')
			}
			first = false
			fmt.Fprintf(&b, "%q:%s", c, j)
		}
		b.WriteString("}\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readRows reads an output file's rows as name -> text ("" or null:
// empty).
func readRows(t *testing.T, path string) []map[string]string {
	t.Helper()
	var rows []map[string]string
	if strings.HasSuffix(path, ".csv") {
		recs := readAllCSV(t, path)
		for _, rec := range recs[1:] {
			row := map[string]string{}
			for i, h := range recs[0] {
				row[h] = rec[i]
			}
			rows = append(rows, row)
		}
		return rows
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		row := map[string]string{}
		for k, v := range m {
			var s string
			switch {
			case string(v) == "null":
			case json.Unmarshal(v, &s) == nil:
				row[k] = s
			default:
				row[k] = string(v)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// features reads the feature columns of a row (empty or absent: NaN).
func features(t *testing.T, row map[string]string) []float64 {
	t.Helper()
	got := make([]float64, len(entitytest.Names))
	for i, name := range entitytest.Names {
		text := row[name]
		if text == "" {
			got[i] = math.NaN()
			continue
		}
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			t.Fatalf("column %s: %q", name, text)
		}
		got[i] = v
	}
	return got
}

// TestLogFileEqualsReference: entitytest's log of both kinds (ties at the
// same millisecond, gaps longer than the windows, absent and null fields)
// as a CSV and a JSON Lines file, scored with --with-features: every row
// is scored, in order, and its features equal the brute-force evaluation
// of the definition over the whole log.
func TestLogFileEqualsReference(t *testing.T) {
	log := entitytest.Log(7, 1500)
	sc := entitytest.Scorer(t)
	for _, ext := range []string{"csv", "jsonl"} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "log."+ext), filepath.Join(dir, "out."+ext)
			writeLog(t, in, log, nil)
			sum, err := Run(context.Background(), Options{Scorer: sc, Input: in, Output: out, WithFeatures: true, BatchSize: 97})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Rows != len(log) || sum.Scored != len(log) || sum.Rejected != 0 {
				t.Fatalf("summary %+v, want %d rows scored", sum, len(log))
			}
			rows := readRows(t, out)
			if len(rows) != len(log) {
				t.Fatalf("%d rows, want %d", len(rows), len(log))
			}
			bad := 0
			for i, row := range rows {
				if row["event_id"] != log[i].ID || row["event_type"] != string(log[i].Kind) {
					t.Fatalf("row %d is %s %s, want %s %s", i, row["event_type"], row["event_id"], log[i].Kind, log[i].ID)
				}
				for _, d := range entitytest.Diff(log, log[i], features(t, row)) {
					if bad++; bad < 10 {
						t.Error(d)
					}
				}
			}
			if bad > 0 {
				t.Fatalf("%d feature values differ from the reference", bad)
			}
			if ext == "csv" {
				header := readAllCSV(t, out)[0]
				// kept columns, then the features, then the prediction columns
				want := append([]string{"event_type", "event_id", "customer_id", "event_time", "country", "activity_type"}, entitytest.Names...)
				want = append(want, Columns(sc.Info())...)
				if !slices.Equal(header, want) {
					t.Fatalf("header\n%v\nwant\n%v", header, want)
				}
			}
		})
	}
}

// TestLogOrder: an event time earlier than the previous row's stops the
// run, naming the line and both times; equal times are in order.
func TestLogOrder(t *testing.T) {
	log := entitytest.Log(7, 300)
	i := slices.IndexFunc(log[1:], func(e entitytest.Event) bool { return e.Ms > log[0].Ms+1000 }) + 1
	j := i + 1
	for log[j].Ms == log[i].Ms {
		j++
	}
	log[i], log[j] = log[j], log[i] // row j+1 of the data (line j+2) is now earlier than row i's
	for _, ext := range []string{"csv", "jsonl"} {
		dir := t.TempDir()
		in := filepath.Join(dir, "log."+ext)
		writeLog(t, in, log, nil)
		_, err := Run(context.Background(), Options{Scorer: entitytest.Scorer(t), Input: in, Output: filepath.Join(dir, "out.csv")})
		line := j + 2 // CSV: header on line 1
		if ext == "jsonl" {
			line = j + 1
		}
		want := fmt.Sprintf("line %d: event time %s is earlier than %s on line %d", line,
			schemas.FormatTime(time.UnixMilli(log[j].Ms)), schemas.FormatTime(time.UnixMilli(log[j-1].Ms)), line-1)
		if !errors.Is(err, ErrOrder) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: err %v, want %q", ext, err, want)
		}
	}
}

// TestLogNeedsKind: with aggregates, a CSV without the event_type column,
// a JSON line without it and an unknown kind stop the run with a message
// that says so; a row whose identity is unusable is rejected (a dead
// letter in the stream) and stays out of the state.
func TestLogNeedsKind(t *testing.T) {
	log := entitytest.Log(7, 50)
	dir := t.TempDir()
	sc := entitytest.Scorer(t)
	noKind := func(c string) bool { return c == KindColumn }
	for _, tc := range []struct {
		name, file string
		write      func(path string)
		want       string
	}{
		{"csv without column", "a.csv", func(p string) { writeLog(t, p, log, noKind) }, "the header has no event_type column; the features have aggregates (count(transaction. over 1h0m0s)"},
		{"jsonl without member", "b.jsonl", func(p string) { writeLog(t, p, log, noKind) }, "line 1 has no event_type"},
		{"unknown kind", "c.csv", func(p string) {
			os.WriteFile(p, []byte("event_type,event_id,customer_id,event_time,amount\ntransaction,a,c1,1,5\npayment,b,c1,2,5\n"), 0o644)
		}, `line 3: event_type "payment": want transaction or activity`},
		{"empty kind", "d.csv", func(p string) {
			os.WriteFile(p, []byte("event_type,event_id,customer_id,event_time,amount\n,a,c1,1,5\n"), 0o644)
		}, "line 2 has no event_type"},
	} {
		path := filepath.Join(dir, tc.file)
		tc.write(path)
		_, err := Run(context.Background(), Options{Scorer: sc, Input: path, Output: filepath.Join(dir, "out.csv")})
		if !errors.Is(err, ErrKind) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}

	// identity: line 3 has no customer, line 4 an unusable time; line 5
	// sees line 2 only; customer 7 is not customer 007 (a CSV id is its
	// text, as a record key is)
	in, out := filepath.Join(dir, "id.csv"), filepath.Join(dir, "id.csv.out.csv")
	os.WriteFile(in, []byte("event_type,event_id,customer_id,event_time,amount\n"+
		"transaction,a,007,1000,5\ntransaction,b,,2000,7\ntransaction,c,007,later,9\ntransaction,d,007,4000,1\ntransaction,e,7,5000,1\n"), 0o644)
	sum, err := Run(context.Background(), Options{Scorer: sc, Input: in, Output: out, WithFeatures: true})
	if err != nil || sum.Scored != 3 || sum.Rejected != 2 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	rows := readRows(t, out)
	if rows[1]["event_id"] != "d" || rows[1]["customer_id"] != "007" || rows[1]["tx_count_1h"] != "1" || rows[1]["amount_sum_24h"] != "5" {
		t.Fatalf("row d: %v", rows[1])
	}
	if rows[2]["event_id"] != "e" || rows[2]["tx_count_1h"] != "0" {
		t.Fatalf("row e (customer 7): %v", rows[2])
	}
	rej, _ := os.ReadFile(sum.Rejects)
	if !strings.Contains(string(rej), `"line":3,"reason":"decode: record has no usable identity: entity field \"customer_id\" is not usable (\"\")"`) ||
		!strings.Contains(string(rej), `"line":4,"reason":"decode: record has no usable identity: event time field \"event_time\" is not usable (\"later\")"`) {
		t.Fatalf("rejects:\n%s", rej)
	}
}

// TestByKind: each kind scored by its own model; a kind without one stops
// the run naming the kind; the feature columns are the union of both
// models', empty on rows of the other model.
func TestByKind(t *testing.T) {
	log := entitytest.Log(9, 400)
	dir := t.TempDir()
	in := filepath.Join(dir, "log.csv")
	writeLog(t, in, log, nil)
	tx := entitytest.Scorer(t)
	act, err := scoring.NewScorer(entitytest.FirstFinite{N: 2}, []scoring.FeatureSpec{{Name: "hour", From: "event_time", Transform: "hour_of_day"}, {Name: "tx_count_1h",
		Aggregate: &scoring.AggregateSpec{Fn: "count", Of: "transaction", Over: "1h"}}}, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Options{ByKind: map[schemas.EventType]*scoring.Scorer{schemas.Transaction: tx}, Input: in, Output: filepath.Join(dir, "o.csv")})
	first := slices.IndexFunc(log, func(e entitytest.Event) bool { return e.Kind == schemas.Activity })
	want := fmt.Sprintf("line %d is a activity event, and no model scores activity events (models are given for transaction)", first+2)
	if !errors.Is(err, ErrNoModel) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want %q", err, want)
	}

	out := filepath.Join(dir, "both.csv")
	sum, err := Run(context.Background(), Options{ByKind: map[schemas.EventType]*scoring.Scorer{schemas.Transaction: tx, schemas.Activity: act},
		Input: in, Output: out, WithFeatures: true})
	if err != nil || sum.Scored != len(log) {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	header := readAllCSV(t, out)[0]
	if want := append(append([]string{}, entitytest.Names...), "hour"); !slices.Equal(header[5:5+len(want)], want) {
		t.Fatalf("header %v", header)
	}
	for i, row := range readRows(t, out) {
		e := log[i]
		ref := entitytest.Reference(log, e)
		switch e.Kind {
		case schemas.Transaction:
			if row["hour"] != "" {
				t.Fatalf("row %d (transaction) has the activity model's hour: %v", i, row)
			}
			if d := entitytest.Diff(log, e, features(t, row)); d != nil {
				t.Fatal(d)
			}
		case schemas.Activity:
			if row["amount_sum_24h"] != "" || row["tx_count_1h"] != strconv.FormatFloat(ref[1], 'g', -1, 64) ||
				row["hour"] != strconv.Itoa(time.UnixMilli(e.Ms).UTC().Hour()) || row["score"] != row["hour"] {
				t.Fatalf("row %d (activity): %v, reference tx_count_1h %v", i, row, ref[1])
			}
		}
	}
}

// TestFeatureColumnClash: a feature named like a prediction column is
// refused before anything is written.
func TestFeatureColumnClash(t *testing.T) {
	sc, err := scoring.NewScorer(entitytest.FirstFinite{N: 1}, []scoring.FeatureSpec{{Name: "score", From: "amount"}}, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("amount\n1\n"), 0o644)
	if _, err := Run(context.Background(), Options{Scorer: sc, Input: in, Output: filepath.Join(dir, "o.csv"), WithFeatures: true}); !errors.Is(err, ErrColumn) {
		t.Fatalf("err %v", err)
	}
	if _, err := Run(context.Background(), Options{Scorer: sc, Input: in, Output: filepath.Join(dir, "o.csv")}); err != nil {
		t.Fatalf("without features: %v", err)
	}
}

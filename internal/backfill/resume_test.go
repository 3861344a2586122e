package backfill

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBackfillResumeKeepsOutputOptions: an interrupted --with-features CSV
// backfill records its output options; a resume that would write the file
// another way (without --with-features, to a topic, or from a version 1
// resume file that recorded nothing, against the file's header) is
// refused before writing a row, and the resume with the recorded options
// completes the file: one header, every row as wide as it, each in-range
// event once.
func TestBackfillResumeKeepsOutputOptions(t *testing.T) {
	addrs := cluster(t)
	want := seed(t, addrs, "r", 210)
	o := options(t, addrs)
	o.OutputFile = filepath.Join(t.TempDir(), "out.csv")
	o.WithFeatures, o.MaxRate = true, 1e6
	_, st, statePath := interruptAt(t, o, 60)
	abs, _ := filepath.Abs(o.OutputFile)
	if st.Version != stateVersion || st.Output == nil || !st.Output.WithFeatures || st.Output.File != abs || st.MaxRate != 1e6 ||
		!slices.Contains(st.Output.Columns, "amount") || len(st.Output.Models) != 1 || !slices.Equal(st.Inputs, []string{"transactions:transaction"}) {
		t.Fatalf("state %+v, output %+v", st, st.Output)
	}
	before, _ := os.ReadFile(o.OutputFile)
	unchanged := func(what string) {
		t.Helper()
		if after, _ := os.ReadFile(o.OutputFile); string(after) != string(before) {
			t.Fatalf("%s: the refused resume changed the file", what)
		}
	}
	resume := func(mod func(*Options)) error {
		st, err := ReadState(statePath)
		if err != nil {
			t.Fatal(err)
		}
		r := o
		r.afterBatch, r.Resume, r.From, r.To, r.MaxRate = nil, st, st.From, st.To, 0
		mod(&r)
		_, err = Run(context.Background(), r)
		return err
	}

	err := resume(func(r *Options) { r.WithFeatures = false })
	if err == nil || !strings.Contains(err.Error(), "resume with --with-features") {
		t.Fatalf("resume without --with-features: %v", err)
	}
	unchanged("without --with-features")
	err = resume(func(r *Options) { r.OutputFile, r.WithFeatures, r.OutputTopic = "", false, "rescored" })
	if err == nil || !strings.Contains(err.Error(), "resume with --output-file "+abs) {
		t.Fatalf("resume to a topic: %v", err)
	}
	unchanged("to a topic")
	// a version 1 file records no output: the file's header decides
	err = resume(func(r *Options) { r.Resume.Output, r.Resume.Version, r.WithFeatures = nil, 0, false })
	if err == nil || !strings.Contains(err.Error(), "has the header") {
		t.Fatalf("version 1 resume without --with-features: %v", err)
	}
	unchanged("version 1 without --with-features")

	if err := resume(func(*Options) {}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(o.OutputFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll() // fails on a row of another width
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(recs[0], "amount") || !slices.Contains(recs[0], "score") {
		t.Fatalf("header %v", recs[0])
	}
	var ids []string
	for _, r := range recs[1:] {
		ids = append(ids, r[0])
	}
	checkExactly(t, ids, want)
}

func TestReadStateVersions(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.json")
	os.WriteFile(v1, []byte(`{"from":"2026-11-01T00:00:00Z","to":"2026-11-02T00:00:00Z","topics":["transactions"],
		"partitions":{"transactions":{"0":{"warm":0,"next":5,"end":9}}}}`), 0o644)
	st, err := ReadState(v1)
	if err != nil || st.Output != nil || st.Remaining() != 4 {
		t.Fatalf("version 1 file: %+v, %v", st, err)
	}
	if err := st.Write(v1); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadState(v1); err != nil || st.Version != stateVersion {
		t.Fatalf("rewritten: %+v, %v", st, err)
	}
	v9 := filepath.Join(dir, "v9.json")
	os.WriteFile(v9, []byte(`{"version":9,"from":"2026-11-01T00:00:00Z","to":"2026-11-02T00:00:00Z","topics":["transactions"],
		"partitions":{"transactions":{"0":{"warm":0,"next":5,"end":9}}}}`), 0o644)
	if _, err := ReadState(v9); err == nil || !strings.Contains(err.Error(), "newer streamscore") {
		t.Fatalf("version 9 file: %v", err)
	}
}

func TestOutputConflict(t *testing.T) {
	file := Output{File: "/x/out.csv", WithFeatures: true, Models: []string{"fraud 1"}, Columns: []string{"amount", "score"}}
	topic := Output{Topic: "rescored", Encoding: "json", Models: []string{"fraud 1"}}
	for _, tt := range []struct {
		was, now Output
		want     string // "" for no conflict
	}{
		{file, file, ""},
		{topic, topic, ""},
		{file, Output{File: "/x/other.csv", WithFeatures: true, Models: file.Models, Columns: file.Columns}, "resume with --output-file /x/out.csv"},
		{file, topic, "resume with --output-file /x/out.csv"},
		{topic, Output{Encoding: "json", Models: topic.Models}, "resume with --output-topic rescored"},
		{file, Output{File: file.File, Models: file.Models, Columns: []string{"score"}}, "resume with --with-features"},
		{Output{File: file.File, Models: file.Models, Columns: []string{"score"}}, file, "resume without it"},
		{topic, Output{Topic: "rescored", Encoding: "avro", Models: topic.Models}, "OUTPUT_ENCODING=json"},
		{topic, Output{Topic: "rescored", Encoding: "json", Models: []string{"fraud 2"}}, "it scored with fraud 1, this one would with fraud 2"},
		{file, Output{File: file.File, WithFeatures: true, Models: file.Models, Columns: []string{"amt", "score"}}, "with the columns amount,score"},
	} {
		err := tt.was.conflict(&tt.now)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v then %+v: %v, want %q", tt.was, tt.now, err, tt.want)
		}
	}
}

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/backfill"
)

// A resume takes the interrupted run's output, --with-features and
// --max-rate for the flags not given, refuses a --from, --to or --topics
// other than its own, and the printed resume command carries every
// output flag of the run.
func TestBackfillResumeFlags(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	state := func() *backfill.State {
		return &backfill.State{From: from, To: from.Add(24 * time.Hour), Topics: []string{"tx", "acts"},
			Inputs: []string{"tx:transaction", "acts:activity"}, MaxRate: 500,
			Output: &backfill.Output{File: "/data/out.csv", WithFeatures: true}}
	}
	var f backfillFlags
	if err := f.resumeFrom(state(), map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	if f.outFile != "/data/out.csv" || f.outTopic != "" || !f.withFeatures || f.maxRate != 500 {
		t.Fatalf("flags from the state: %+v", f)
	}
	if got, want := f.resumeCommand("/data/r.json"), "streamscore backfill --resume /data/r.json --output-file /data/out.csv --with-features --max-rate 500"; got != want {
		t.Errorf("resume command %q, want %q", got, want)
	}
	// given flags stay as given (Run refuses an output other than the state's)
	f = backfillFlags{withFeatures: false, maxRate: 2000, topics: "acts:activity, tx", from: "2026-11-01T00:00:00Z"}
	if err := f.resumeFrom(state(), map[string]bool{"with-features": true, "max-rate": true, "topics": true, "from": true}); err != nil {
		t.Fatal(err)
	}
	if f.withFeatures || f.maxRate != 2000 || f.outFile != "/data/out.csv" {
		t.Fatalf("given flags: %+v", f)
	}
	f = backfillFlags{outTopic: "rescored"}
	if err := f.resumeFrom(state(), map[string]bool{"output-topic": true}); err != nil || f.outFile != "" || f.withFeatures {
		t.Fatalf("given --output-topic: %+v, %v", f, err)
	}
	// a version 1 state recorded no output: the flags stay as given
	f = backfillFlags{outTopic: "rescored"}
	old := state()
	old.Output, old.MaxRate = nil, 0
	if err := f.resumeFrom(old, map[string]bool{"output-topic": true}); err != nil || f.outTopic != "rescored" || f.outFile != "" {
		t.Fatalf("version 1 state: %+v, %v", f, err)
	}
	for _, tt := range []struct {
		f    backfillFlags
		flag string
	}{
		{backfillFlags{from: "2026-11-01T01:00:00Z"}, "from"},
		{backfillFlags{to: "2026-11-03T00:00:00Z"}, "to"},
		{backfillFlags{topics: "tx"}, "topics"},
		{backfillFlags{topics: "tx,acts"}, "topics"}, // acts without :activity is a transaction topic
	} {
		err := tt.f.resumeFrom(state(), map[string]bool{tt.flag: true})
		if err == nil || !strings.HasPrefix(err.Error(), "--"+tt.flag+" ") || !strings.Contains(err.Error(), "leave --"+tt.flag+" out") {
			t.Errorf("--%s: %v", tt.flag, err)
		}
	}
	f = backfillFlags{outTopic: "re scored", maxRate: 0.5}
	if got, want := f.resumeCommand("it's.json"), `streamscore backfill --resume 'it'\''s.json' --output-topic 're scored' --max-rate 0.5`; got != want {
		t.Errorf("resume command %q, want %q", got, want)
	}
}

package pipeline

import (
	"errors"
	"slices"
	"testing"

	"github.com/streamscore/streamscore/internal/lane"
)

// tellLog records what a rebuild told the lanes, in order.
type tellLog []string

// tell is a lane call that records what.
func (l *tellLog) tell(what string) func() error {
	return func() error { *l = append(*l, what); return nil }
}

// TestRebuildRunsOrder: what a rebuild tells the lanes never outlives its
// cancellation. A rebuild revoked and superseded by a newer one of the
// same partitions neither ends the newer one when it finishes nor keeps
// it from being cancelled by the next revoke (its end used to delete the
// newer rebuild's entry: the next revoke left it running, and its end
// told the lanes a later rebuild was complete while it replayed).
func TestRebuildRunsOrder(t *testing.T) {
	tps := []lane.Partition{{Topic: "transactions", Partition: 1}, {Topic: "activity", Partition: 1}}
	for _, tt := range []struct {
		name    string
		revoke  bool // a revoke between the two rebuilds
		endsOld bool // the older rebuild ends before the next revoke
	}{
		{"revoked, then reassigned", true, true},
		{"reassigned without a revoke", false, true},
		{"revoked, reassigned, older still reading", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var rs rebuildRuns
			var told tellLog
			tell := told.tell
			old, err := rs.begin(tps, tell("start old"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.revoke {
				rs.stop(tps)
			}
			cur, err := rs.begin(tps, tell("start new"))
			if err != nil {
				t.Fatal(err)
			}
			if old.ctx.Err() == nil {
				t.Fatal("the older rebuild runs on beside the newer one")
			}
			if err := rs.send(old, tell("old state")); err == nil {
				t.Error("the older rebuild still hands the lanes state")
			}
			if tt.endsOld {
				rs.end(old, tell("end old"))
			}
			if err := rs.send(cur, tell("new state")); err != nil {
				t.Fatalf("the newer rebuild cannot hand over its state: %v", err)
			}
			rs.stop(tps) // the next revoke
			if cur.ctx.Err() == nil {
				t.Fatal("a revoke left the newer rebuild running")
			}
			rs.end(cur, tell("end new"))
			if !tt.endsOld {
				rs.end(old, tell("end old"))
			}
			want := []string{"start old", "start new", "new state"}
			if len(told) != len(want) {
				t.Fatalf("lanes told %v, want %v", told, want)
			}
			for i := range want {
				if told[i] != want[i] {
					t.Fatalf("lanes told %v, want %v", told, want)
				}
			}
			if len(rs.running) != 0 {
				t.Errorf("%d rebuilds left registered", len(rs.running))
			}
		})
	}
}

// TestRebuildRunsEnd: a rebuild that ends uncancelled tells the lanes it
// ended, after its state, and leaves nothing registered; a rebuild whose
// announcement fails starts nothing and leaves the running one alone.
func TestRebuildRunsEnd(t *testing.T) {
	tps := []lane.Partition{{Topic: "transactions", Partition: 0}, {Topic: "activity", Partition: 0}}
	var rs rebuildRuns
	var told tellLog
	tell := told.tell
	run, err := rs.begin(tps, tell("start"))
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("lanes stopped")
	if _, err := rs.begin(tps, func() error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("begin with a failing announcement: %v, want %v", err, refused)
	}
	if run.ctx.Err() != nil {
		t.Fatal("a rebuild that failed to start cancelled the running one")
	}
	if err := rs.send(run, tell("state")); err != nil {
		t.Fatal(err)
	}
	rs.end(run, tell("end"))
	if want := []string{"start", "state", "end"}; !slices.Equal(told, want) {
		t.Fatalf("lanes told %v, want %v", told, want)
	}
	if run.ctx.Err() == nil {
		t.Error("an ended rebuild's context is still live")
	}
	if len(rs.running) != 0 {
		t.Errorf("%d rebuilds left registered", len(rs.running))
	}
}

package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/lane"
)

type fakeOffsets struct {
	end, commits map[lane.Partition]int64
	err          error
}

func (f fakeOffsets) ends(context.Context, []string) (map[lane.Partition]int64, error) {
	return f.end, f.err
}

func (f fakeOffsets) committed(context.Context) (map[lane.Partition]int64, error) {
	return f.commits, nil
}

// TestProgressCheck: the rules of the stall verdict, one case each.
func TestProgressCheck(t *testing.T) {
	p0, p1 := lane.Partition{Topic: "tx", Partition: 0}, lane.Partition{Topic: "tx", Partition: 1}
	all := func(lane.Partition) bool { return true }
	none := func(lane.Partition) bool { return false }
	tests := []struct {
		name      string
		polled    map[lane.Partition]int64 // before the first check
		pollAfter bool                     // records polled between the checks
		src       fakeOffsets
		owns      func(lane.Partition) bool
		paused    func(lane.Partition) bool
		want      string // in the verdict; "" for none
	}{
		{name: "records wait, nothing read", polled: map[lane.Partition]int64{p0: 10},
			src: fakeOffsets{end: map[lane.Partition]int64{p0: 15}}, want: "5 records wait in owned partitions (tx/0 (5))"},
		{name: "records were read meanwhile", polled: map[lane.Partition]int64{p0: 10}, pollAfter: true,
			src: fakeOffsets{end: map[lane.Partition]int64{p0: 15}}},
		{name: "caught up", polled: map[lane.Partition]int64{p0: 15}, src: fakeOffsets{end: map[lane.Partition]int64{p0: 15}}},
		{name: "a transaction's commit marker is not a record", polled: map[lane.Partition]int64{p0: 14},
			src: fakeOffsets{end: map[lane.Partition]int64{p0: 15}}},
		{name: "paused on purpose", polled: map[lane.Partition]int64{p0: 10}, paused: func(tp lane.Partition) bool { return tp == p0 },
			src: fakeOffsets{end: map[lane.Partition]int64{p0: 15}}},
		{name: "owned by another member", polled: map[lane.Partition]int64{p0: 10}, owns: none,
			src: fakeOffsets{end: map[lane.Partition]int64{p0: 15}}},
		{name: "reassigned: the other member's commit counts", polled: map[lane.Partition]int64{p0: 10},
			src: fakeOffsets{end: map[lane.Partition]int64{p0: 15}, commits: map[lane.Partition]int64{p0: 15}}},
		{name: "never polled here, committed behind the end",
			src:  fakeOffsets{end: map[lane.Partition]int64{p0: 15, p1: 9}, commits: map[lane.Partition]int64{p0: 12, p1: 9}},
			want: "3 records wait in owned partitions (tx/0 (3))"},
		{name: "never polled, nothing committed: unknown", src: fakeOffsets{end: map[lane.Partition]int64{p0: 15}}},
		{name: "brokers do not answer: no verdict", polled: map[lane.Partition]int64{p0: 10},
			src: fakeOffsets{end: map[lane.Partition]int64{p0: 15}, err: errors.New("i/o timeout")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owns, paused := tt.owns, tt.paused
			if owns == nil {
				owns = all
			}
			if paused == nil {
				paused = none
			}
			pr := newProgress()
			for tp, o := range tt.polled {
				pr.polled(tp.Topic, tp.Partition, o)
			}
			ctx := context.Background()
			if started, _ := pr.check(ctx, tt.src, []string{"tx"}, owns, paused, time.Second); started != "" {
				t.Fatalf("first check gave a verdict: it only sets the baseline: %s", started)
			}
			if tt.pollAfter {
				pr.polled(p0.Topic, p0.Partition, 11)
			}
			started, _ := pr.check(ctx, tt.src, []string{"tx"}, owns, paused, time.Second)
			if tt.want == "" {
				if started != "" || pr.stalled() != "" {
					t.Fatalf("verdict %q, want none", started)
				}
				return
			}
			if !strings.Contains(started, tt.want) || pr.stalled() != started {
				t.Fatalf("verdict %q (holding %q), want one containing %q", started, pr.stalled(), tt.want)
			}
			if again, _ := pr.check(ctx, tt.src, []string{"tx"}, owns, paused, time.Second); again != "" {
				t.Errorf("the same stall was reported again: %s", again)
			}
			pr.polled(p0.Topic, p0.Partition, 12)
			if pr.stalled() != "" {
				t.Errorf("the verdict outlived a poll that brought records")
			}
			if _, ended := pr.check(ctx, tt.src, []string{"tx"}, owns, paused, time.Second); ended != started {
				t.Errorf("the end of the stall was not reported: %q", ended)
			}
			if pr.disarm(); pr.stalled() != "" {
				t.Errorf("disarm kept the verdict")
			}
		})
	}
}

package pipeline

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// predictionCounts decodes every JSON prediction and counts them by event
// id; a record that does not decode fails the test (it would otherwise
// count as an event "" and could make up for a lost one).
func predictionCounts(t *testing.T, preds []*kgo.Record) map[string]int {
	t.Helper()
	dec, err := schemas.NewPredictionDecoder(schemas.JSON)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range preds {
		p, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatalf("prediction %s[%d]@%d does not decode: %v (%q)", r.Topic, r.Partition, r.Offset, err, r.Value)
		}
		seen[p.EventID]++
	}
	return seen
}

// checkEventIDs fails the test unless the predictions are of exactly the
// events want, each at least once, or exactly once when once is set.
func checkEventIDs(t *testing.T, got map[string]int, want []string, once bool) {
	t.Helper()
	wanted := make(map[string]bool, len(want))
	var missing, extra, twice []string
	for _, id := range want {
		wanted[id] = true
		switch n := got[id]; {
		case n == 0:
			missing = append(missing, id)
		case n > 1 && once:
			twice = append(twice, fmt.Sprintf("%s×%d", id, n))
		}
	}
	for id := range got {
		if !wanted[id] {
			extra = append(extra, id)
		}
	}
	if len(missing)+len(extra)+len(twice) == 0 {
		return
	}
	for _, s := range [][]string{missing, extra, twice} {
		sort.Strings(s)
	}
	t.Fatalf("predictions of %d events for %d wanted: missing %d %v, unexpected %d %v, repeated %d %v",
		len(got), len(want), len(missing), head(missing), len(extra), head(extra), len(twice), head(twice))
}

func head(s []string) []string { return s[:min(len(s), 10)] }

// readEvents reads the predictions topic until every event of ids has a
// prediction (or timeout passes), then briefly for stragglers, and returns
// the predictions by event id (see predictionCounts). Unlike ReadN it
// counts events, not records: with duplicates, n records may hold fewer
// than n events.
func readEvents(t *testing.T, addrs []string, ids []string, timeout time.Duration, opts ...kgo.Opt) map[string]int {
	t.Helper()
	cl := testkafka.Client(t, addrs, append([]kgo.Opt{kgo.ConsumeTopics("predictions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	wanted := make(map[string]bool, len(ids))
	for _, id := range ids {
		wanted[id] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	seen := map[string]int{}
	covered := 0
	for covered < len(wanted) && ctx.Err() == nil {
		for id, n := range predictionCounts(t, cl.PollFetches(ctx).Records()) {
			if seen[id] == 0 && wanted[id] {
				covered++
			}
			seen[id] += n
		}
	}
	extra, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	for id, n := range predictionCounts(t, cl.PollFetches(extra).Records()) {
		seen[id] += n
	}
	return seen
}

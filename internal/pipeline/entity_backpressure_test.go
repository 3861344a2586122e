package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/internal/testkafka"
)

// TestEntityCatchUpUnderBackpressure: a backlog of both kinds, read by a
// member whose in-flight limit is a fraction of it (backpressure pauses
// fetching again and again) and whose fetches are small. A lane whose
// merge waits for a partition behind its high watermark keeps that
// partition fetched, so no wait ends at ENTITY_MAX_IDLE: no record is
// late, and every prediction's features equal the brute-force reference.
func TestEntityCatchUpUnderBackpressure(t *testing.T) {
	addrs := testkafka.Cluster(t, entityTopics()...)
	log := entitytest.Log(5, 6000)
	entitytest.Produce(t, addrs, log)
	cfg, sc := entityConfig(t, addrs, "at-least-once")
	cfg.BatchMaxSize, cfg.MaxInFlightRecords, cfg.MaxInFlightBytes = 16, 64, 1<<20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithScorer(sc))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	preds := testkafka.ReadN(t, addrs, "predictions", len(log), 90*time.Second)
	a := p.runner.(*atLeastOnce)
	late, pauses := a.lanes.EntityStats().Late, p.Stats().FetchPauses.Load()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("drain: %v", err)
	}
	if pauses == 0 {
		t.Fatal("backpressure never paused fetching: the test does not test it")
	}
	if late != 0 {
		t.Errorf("%d late records (fetching paused %d times)", late, pauses)
	}
	checkEntityFeatures(t, log, preds, false)
}

// TestLaneStateBound: ENTITY_STATE_MAX_BYTES bounds the process, so each
// lane gets it divided by the input topics' partition count (the most
// lanes a member can own).
func TestLaneStateBound(t *testing.T) {
	for _, tc := range []struct {
		total      int64
		partitions int
		want       int64
	}{
		{512 << 20, 6, (512 << 20) / 6},
		{512 << 20, 1, 512 << 20},
		{0, 6, 0}, // no bound
		{5, 12, 1},
	} {
		cfg := testConfig(t, []string{"127.0.0.1:1"}, "json")
		cfg.InputTopics, cfg.EntityStateMaxBytes = []string{"transactions", "activity"}, tc.total
		p := &Pipeline{cfg: cfg, partitions: map[string]int{"transactions": tc.partitions, "activity": tc.partitions, "predictions": 99}}
		if got := p.laneStateBound(); got != tc.want {
			t.Errorf("%d bytes over %d partitions: %d per lane, want %d", tc.total, tc.partitions, got, tc.want)
		}
	}
}

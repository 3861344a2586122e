package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// Every event is dated when it is produced, never later: the synthetic
// hour of training data once put live events up to a day in the future
// (streamscore_event_freshness_seconds read −56,326 s). The clock is fixed
// just after midnight UTC, where a drawn hour of the day is almost always
// later.
func TestEventTimesAreProductionTimes(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "activity", Partitions: 1})
	now := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
	cl := testkafka.Client(t, addrs)
	const n = 300
	res, err := Run(context.Background(), cl, Options{Encoding: schemas.JSON, TransactionsTopic: "transactions", ActivityTopic: "activity",
		ActivityShare: 0.3, Count: n, Names: schemas.DefaultFieldNames, Seed: 7, Customers: 50, Now: func() time.Time { return now }}, nil)
	if err != nil || res.Sent != n {
		t.Fatalf("sent %d of %d: %v", res.Sent, n, err)
	}
	rd := testkafka.Client(t, addrs, kgo.ConsumeTopics("transactions", "activity"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n && ctx.Err() == nil {
		recs = append(recs, rd.PollFetches(ctx).Records()...)
	}
	kinds := map[schemas.EventType]int{}
	for _, r := range recs {
		kind := schemas.Transaction
		if r.Topic == "activity" {
			kind = schemas.Activity
		}
		dec, err := schemas.NewDecoder(schemas.JSON, kind, schemas.DefaultFieldNames)
		if err != nil {
			t.Fatal(err)
		}
		var ev schemas.Event
		if err := dec.Decode(r.Value, &ev); err != nil {
			t.Fatalf("%s: %v", r.Value, err)
		}
		kinds[kind]++
		if !ev.Time.Equal(now) {
			t.Fatalf("%s event %s at %v, produced at %v", kind, ev.ID, ev.Time.UTC(), now)
		}
	}
	if kinds[schemas.Transaction]+kinds[schemas.Activity] != n || kinds[schemas.Transaction] == 0 || kinds[schemas.Activity] == 0 {
		t.Errorf("read %v events, want %d of both kinds", kinds, n)
	}
}

// With an event rate the events are a history at that pace, the last one
// at the start of the run, whatever the production speed.
func TestEventRateDatesAHistory(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 1})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cl := testkafka.Client(t, addrs)
	const n = 200
	if _, err := Run(context.Background(), cl, Options{Encoding: schemas.JSON, TransactionsTopic: "transactions", Count: n, EventRate: 0.5,
		Names: schemas.DefaultFieldNames, Seed: 7, Customers: 50, Now: func() time.Time { return now }}, nil); err != nil {
		t.Fatal(err)
	}
	rd := testkafka.Client(t, addrs, kgo.ConsumeTopics("transactions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n && ctx.Err() == nil {
		recs = append(recs, rd.PollFetches(ctx).Records()...)
	}
	if len(recs) != n {
		t.Fatalf("read %d of %d events", len(recs), n)
	}
	dec, err := schemas.NewDecoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs { // one partition: in production order
		var ev schemas.Event
		if err := dec.Decode(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		want := now.Add(-time.Duration(n-1-i) * 2 * time.Second)
		if !ev.Time.Equal(want) {
			t.Fatalf("event %d at %v, want %v", i, ev.Time.UTC(), want)
		}
	}
	if _, err := Run(context.Background(), cl, Options{Encoding: schemas.JSON, TransactionsTopic: "transactions", EventRate: 1,
		Duration: time.Second, Names: schemas.DefaultFieldNames}, nil); err == nil {
		t.Error("an event rate without a count ran")
	}
}

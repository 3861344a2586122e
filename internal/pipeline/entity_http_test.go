package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// TestEntityFeaturesOverHTTP: two members of one group share the
// partitions. /v1/predict at either scores an event with the aggregates of
// the stream's state when the member owns the entity's partition (features
// equal the reference over the log), and answers 421 naming the partition
// when the other member does; between them every entity is answered once.
func TestEntityFeaturesOverHTTP(t *testing.T) {
	addrs := testkafka.Cluster(t, entityTopics()...)
	log := entitytest.Log(5, 600)
	entitytest.Produce(t, addrs, log)
	cfg, sc := entityConfig(t, addrs, "at-least-once")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var members []*Pipeline
	var servers []*httptest.Server
	for range 2 {
		p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithScorer(sc))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		h, err := p.Handler()
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		members, servers = append(members, p), append(servers, srv)
	}
	// every prediction of the log is out (the group has settled) and both
	// members own partitions
	testkafka.ReadN(t, addrs, "predictions", len(log), 60*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for members[0].runner.assigned() == 0 || members[1].runner.assigned() == 0 || !ready(members) {
		if time.Now().After(deadline) {
			t.Fatalf("members not ready: assigned %d and %d", members[0].runner.assigned(), members[1].runner.assigned())
		}
		time.Sleep(50 * time.Millisecond)
	}
	end := log[len(log)-1].Ms
	enc, _ := schemas.NewEventEncoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	answered := map[string]int{}
	for c := range 12 {
		e := entitytest.Event{Kind: schemas.Transaction, ID: fmt.Sprintf("http-%d", c), Entity: fmt.Sprintf("c%d", c),
			Ms: end + 1000, Fields: map[string]any{"amount": 12.5, "country": "NL"}}
		body, _ := enc.Append(nil, &schemas.Event{Fields: []schemas.Field{{Name: "event_id", Value: schemas.StringValue(e.ID)},
			{Name: "customer_id", Value: schemas.StringValue(e.Entity)}, {Name: "event_time", Value: schemas.NumberValue(float64(e.Ms))},
			{Name: "amount", Value: schemas.NumberValue(12.5)}, {Name: "country", Value: schemas.StringValue("NL")}}})
		want := int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: []byte(e.Entity)}, 3))
		for m, srv := range servers {
			resp, err := http.Post(srv.URL+"/v1/predict?topic=transactions", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var out struct {
				Error       string  `json:"error"`
				Partitions  []int32 `json:"partitions"`
				Predictions []struct {
					Features map[string]*float64 `json:"features"`
				} `json:"predictions"`
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			owns := members[m].runner.owns(laneTP("transactions", want))
			switch {
			case owns && resp.StatusCode == http.StatusOK:
				answered[e.Entity]++
				got := make([]float64, len(entitytest.Names))
				for i, n := range entitytest.Names {
					got[i] = nanIfNil(out.Predictions[0].Features[n])
				}
				for _, d := range entitytest.Diff(log, e, got) {
					t.Errorf("member %d: %s", m, d)
				}
			case !owns && resp.StatusCode == http.StatusMisdirectedRequest:
				if len(out.Partitions) != 1 || out.Partitions[0] != want {
					t.Errorf("member %d, %s: 421 names partitions %v, want [%d]: %s", m, e.Entity, out.Partitions, want, out.Error)
				}
			default:
				t.Errorf("member %d, %s (partition %d, owned %v): status %d: %s", m, e.Entity, want, owns, resp.StatusCode, out.Error)
			}
		}
	}
	for c := range 12 {
		if n := answered[fmt.Sprintf("c%d", c)]; n != 1 {
			t.Errorf("c%d answered by %d members, want 1", c, n)
		}
	}
}

func ready(ps []*Pipeline) bool {
	for _, p := range ps {
		if ok, _ := p.Ready(); !ok {
			return false
		}
	}
	return true
}

func nanIfNil(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

func laneTP(topic string, p int32) lane.Partition { return lane.Partition{Topic: topic, Partition: p} }

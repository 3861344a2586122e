package producer

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/testkafka"
)

func TestLimitsLoad(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "plain", Partitions: 1})
	cl := testkafka.Client(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	small := "2048"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, map[string]*string{"max.message.bytes": &small}, "small"); err != nil {
		t.Fatal(err)
	}
	var l Limits
	if got := l.For("small"); got != DefaultMaxMessageBytes {
		t.Fatalf("before Load: %d", got)
	}
	if err := l.Load(ctx, cl, "small", "plain"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic string
		want  int32
	}{
		{"small", 2048},
		{"plain", 1048588}, // the broker default (kfake's, like Kafka's)
		{"unknown", DefaultMaxMessageBytes},
	}
	for _, tt := range tests {
		if got := l.For(tt.topic); got != tt.want {
			t.Errorf("For(%q) = %d, want %d", tt.topic, got, tt.want)
		}
	}
	l.Set(map[string]int32{"tiny": 10})
	if l.For("tiny") != 512 {
		t.Errorf("a limit below franz-go's minimum is raised to 512, got %d", l.For("tiny"))
	}
}

// TestLimitsCapBatches: with the cap, a record too large for its topic
// fails alone and the records produced with it are written.
func TestLimitsCapBatches(t *testing.T) {
	addrs := testkafka.Cluster(t)
	cl := testkafka.Client(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	limit := "3000"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, map[string]*string{"max.message.bytes": &limit}, "out"); err != nil {
		t.Fatal(err)
	}
	var l Limits
	pcl := testkafka.Client(t, addrs, l.Opt(), kgo.ProducerLinger(50*time.Millisecond))
	if err := l.Load(ctx, pcl, "out"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := 0; i < 40; i++ {
		v := []byte(fmt.Sprintf("record %03d with some padding to fill batches...........", i))
		if i == 20 {
			v = make([]byte, 4000)
			rand.Read(v) // incompressible: the broker measures compressed batches
		}
		recs = append(recs, &kgo.Record{Topic: "out", Value: v})
	}
	res := pcl.ProduceSync(ctx, recs...)
	for _, r := range res { // in completion order
		if len(r.Record.Value) == 4000 {
			if !errors.Is(r.Err, kerr.MessageTooLarge) {
				t.Errorf("oversized record: err %v, want MESSAGE_TOO_LARGE", r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("%q failed with the oversized one: %v", r.Record.Value, r.Err)
		}
	}
}

func TestRecordRefused(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{kerr.MessageTooLarge, true},
		{fmt.Errorf("wrapped: %w", kerr.MessageTooLarge), true},
		{kerr.RecordListTooLarge, true},
		{kerr.InvalidRecord, true},
		{kerr.CorruptMessage, true},
		// the destination's failures: never a record's fault
		{kerr.TopicAuthorizationFailed, false},
		{kerr.UnknownTopicOrPartition, false},
		{kerr.UnknownTopicID, false},
		{kerr.PolicyViolation, false},
		{kerr.InvalidTimestamp, false},
		{kerr.NotLeaderForPartition, false},
		{kerr.InvalidProducerEpoch, false},
		{kerr.ProducerFenced, false},
		{kgo.ErrRecordTimeout, false},
		{context.Canceled, false},
		{kgo.ErrClientClosed, false},
	}
	for _, tt := range tests {
		if got := RecordRefused(tt.err); got != tt.want {
			t.Errorf("RecordRefused(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

package producer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// results collects what a Sender reports, by source offset.
type results struct {
	mu  sync.Mutex
	got map[int64][]Result
	ch  chan struct{}
}

func newResults() *results {
	return &results{got: map[int64][]Result{}, ch: make(chan struct{}, 1<<16)}
}

func (r *results) done(off int64, res Result) {
	r.mu.Lock()
	r.got[off] = append(r.got[off], res)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

// wait waits for n reports.
func (r *results) wait(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for range n {
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %d reports", n)
		}
	}
}

func newTestProducer(t *testing.T, addrs []string, opts ...func(*Options)) *Producer {
	t.Helper()
	o := Options{Conn: append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, testkafka.ClientOpts()...), Encoding: schemas.JSON,
		Topic: "predictions", DLQTopic: "dlq"}
	for _, f := range opts {
		f(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func src(off int64, value string) *kgo.Record {
	return &kgo.Record{Topic: "transactions", Partition: 2, Offset: off, Key: []byte("c1"), Value: []byte(value),
		Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-abc-def-01")}, {Key: "other", Value: []byte("x")}}}
}

func pred(id, entity string) *schemas.Prediction {
	return &schemas.Prediction{EventID: id, EntityID: entity, EventType: "transaction", Score: 0.25, RiskSegment: "Low",
		ModelName: "m", ModelVersion: "v", Source: schemas.Source{Topic: "transactions", Partition: 2, Offset: 1}}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestSenderPredictionsAndDeadLetters: every send is reported once; a
// prediction carries the entity key and the traceparent header only; a
// dead letter carries the source bytes and the reason.
func TestSenderPredictionsAndDeadLetters(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "predictions", Partitions: 3}, testkafka.Topic{Name: "dlq", Partitions: 1})
	p := newTestProducer(t, addrs)
	res := newResults()
	s := NewSender(p, res.done)
	const n = 2000
	for off := range int64(n) {
		if off%100 == 7 {
			s.DeadLetter(src(off, "garbage"), StageDecode, errors.New("not json"), off)
			continue
		}
		s.Prediction(pred("e", "c1"), src(off, "{}"), "", off)
	}
	res.wait(t, n, 30*time.Second)
	for off := range int64(n) {
		want := Predicted
		if off%100 == 7 {
			want = DeadLettered
		}
		if got := res.got[off]; len(got) != 1 || got[0] != want {
			t.Fatalf("offset %d reported %v, want [%v]", off, got, want)
		}
	}
	preds := testkafka.ReadN(t, addrs, "predictions", n-20, 10*time.Second)
	if len(preds) != n-20 {
		t.Fatalf("%d predictions, want %d", len(preds), n-20)
	}
	for _, r := range preds {
		if string(r.Key) != "c1" || len(r.Headers) != 1 || header(r, "traceparent") != "00-abc-def-01" {
			t.Fatalf("prediction key %q headers %v", r.Key, r.Headers)
		}
		if !bytes.Contains(r.Value, []byte(`"entity_id":"c1"`)) {
			t.Fatalf("prediction value %s", r.Value)
		}
	}
	dead := testkafka.ReadN(t, addrs, "dlq", 20, 10*time.Second)
	if len(dead) != 20 {
		t.Fatalf("%d dead letters, want 20", len(dead))
	}
	for _, r := range dead {
		if string(r.Value) != "garbage" || header(r, HeaderStage) != StageDecode || header(r, HeaderError) != "not json" ||
			header(r, HeaderSourcePartition) != "2" || header(r, "other") != "x" {
			t.Fatalf("dead letter %q headers %v", r.Value, r.Headers)
		}
	}
}

// TestSenderRecordRefusals: a prediction too large for its topic becomes a
// dead letter alone; a dead letter too large for the dead-letter topic is
// written truncated, carrying the source coordinates.
func TestSenderRecordRefusals(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 1})
	adm := kadm.NewClient(testkafka.Client(t, addrs))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for topic, limit := range map[string]string{"predictions": "4096", "dlq": "2048"} {
		if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"max.message.bytes": &limit}, topic); err != nil {
			t.Fatal(err)
		}
	}
	p := newTestProducer(t, addrs)
	if err := p.Limits().Load(ctx, p.Client(), "predictions", "dlq"); err != nil {
		t.Fatal(err)
	}
	res := newResults()
	s := NewSender(p, res.done)
	big := strings.Repeat("x", 6000)
	s.Prediction(pred("e0", "c"), src(0, "{}"), "", 0)
	s.Prediction(pred("e1", big), src(1, "{}"), "", 1)           // prediction too large: dead letter, 2 bytes of value
	s.DeadLetter(src(2, big), StageDecode, errors.New("bad"), 2) // dead letter too large: truncated
	s.Prediction(pred("e3", big), src(3, big), "", 3)            // both too large: truncated dead letter
	s.Prediction(pred("e4", "c"), src(4, "{}"), "", 4)
	res.wait(t, 5, 30*time.Second)
	want := []Result{Predicted, DeadLettered, DeadLettered, DeadLettered, Predicted}
	for off, w := range want {
		if got := res.got[int64(off)]; len(got) != 1 || got[0] != w {
			t.Errorf("offset %d: %v, want [%v]", off, got, w)
		}
	}
	dead := testkafka.ReadN(t, addrs, "dlq", 3, 10*time.Second)
	if len(dead) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dead))
	}
	for _, r := range dead {
		off := header(r, HeaderSourceOffset)
		switch off {
		case "1":
			if header(r, HeaderStage) != StageProduce || !strings.Contains(header(r, HeaderError), "MESSAGE_TOO_LARGE") ||
				string(r.Value) != "{}" || header(r, HeaderTruncated) != "" {
				t.Errorf("refused prediction's dead letter: %q %v", r.Value, r.Headers)
			}
		case "2", "3":
			if header(r, HeaderTruncated) != "true" || header(r, HeaderSourceTopic) != "transactions" ||
				!strings.HasPrefix(big, string(r.Value)) || len(r.Value) < 1000 || len(r.Value)+len(r.Key) > 2048 {
				t.Errorf("offset %s: truncated dead letter of %d bytes, headers %v", off, len(r.Value), r.Headers)
			}
		default:
			t.Errorf("unexpected dead letter for offset %q", off)
		}
	}
}

// TestSenderHoldsForADestination: with the predictions topic deleted, no
// prediction is dead-lettered or reported; once the topic is recreated,
// every held prediction is written and reported once.
func TestSenderHoldsForADestination(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "predictions", Partitions: 1}, testkafka.Topic{Name: "dlq", Partitions: 1})
	adm := kadm.NewClient(testkafka.Client(t, addrs))
	var errsMu sync.Mutex
	var errs []error
	p := newTestProducer(t, addrs, func(o *Options) {
		o.OnError = func(_ string, err error) { errsMu.Lock(); errs = append(errs, err); errsMu.Unlock() }
	})
	res := newResults()
	s := NewSender(p, res.done)
	s.Prediction(pred("e0", "c"), src(0, "{}"), "", 0)
	res.wait(t, 1, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopics(ctx, "predictions"); err != nil {
		t.Fatal(err)
	}
	for off := int64(1); off <= 50; off++ {
		s.Prediction(pred("e", "c"), src(off, "{}"), "", off)
	}
	time.Sleep(2 * time.Second)
	res.mu.Lock()
	held := len(res.got)
	res.mu.Unlock()
	if held != 1 {
		t.Fatalf("%d sources reported while the topic is gone, want only the first", held)
	}
	errsMu.Lock()
	if len(errs) == 0 {
		t.Error("OnError heard nothing while the topic was gone")
	}
	errsMu.Unlock()
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, "predictions"); err != nil {
		t.Fatal(err)
	}
	res.wait(t, 50, 30*time.Second)
	for off := int64(1); off <= 50; off++ {
		if got := res.got[off]; len(got) != 1 || got[0] != Predicted {
			t.Fatalf("offset %d: %v, want [predicted]", off, got)
		}
	}
	if dead := testkafka.ReadN(t, addrs, "dlq", 1, 500*time.Millisecond); len(dead) != 0 {
		t.Fatalf("%d good records dead-lettered", len(dead))
	}
	if got := testkafka.ReadN(t, addrs, "predictions", 50, 10*time.Second); len(got) < 50 {
		t.Fatalf("%d predictions in the recreated topic, want 50", len(got))
	}
}

// BenchmarkSenderPrediction: a warm sender allocates nothing of its own per
// prediction (franz-go's own bookkeeping aside, which this measures too).
func BenchmarkSenderPrediction(b *testing.B) {
	addrs := testkafka.Cluster(b, testkafka.Topic{Name: "predictions", Partitions: 3}, testkafka.Topic{Name: "dlq", Partitions: 1})
	p, err := New(Options{Conn: []kgo.Opt{kgo.SeedBrokers(addrs...)}, Encoding: schemas.JSON, Topic: "predictions", DLQTopic: "dlq"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var wg sync.WaitGroup
	s := NewSender(p, func(int64, Result) { wg.Done() })
	pr, sr := pred("tx-1a2b3c-123456", "cust-004711"), src(0, "{}")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		wg.Add(1)
		s.Prediction(pr, sr, "", int64(i))
	}
	wg.Wait()
}

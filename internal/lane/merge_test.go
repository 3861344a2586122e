package lane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/models"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// gatedRecorder records outcomes; its first prediction waits for open.
type gatedRecorder struct {
	recorder
	open chan struct{}
	once atomic.Bool
}

func (r *gatedRecorder) Prediction(it *Item[int64], pred *schemas.Prediction, topic string) {
	if r.once.CompareAndSwap(false, true) {
		<-r.open
	}
	r.recorder.Prediction(it, pred, topic)
}

// fraudCore is the outcome core of the bundled fraud model over enc: with
// entities, with its aggregates over transactions and activity; without,
// over transactions alone with the aggregate inputs read as (absent) event
// fields. wrap, when set, wraps the transactions decoder.
func fraudCore(tb testing.TB, enc schemas.Encoding, entities bool, wrap func(schemas.Decoder) schemas.Decoder) *outcome.Core {
	tb.Helper()
	sc, err := eventOnlyFraud()
	if entities {
		sc, err = models.Fraud(scoring.DefaultPolicy)
	}
	if err != nil {
		tb.Fatal(err)
	}
	inputs := []outcome.Input{{Topic: "transactions", Kind: schemas.Transaction}, {Topic: "activity", Kind: schemas.Activity}}
	if !entities {
		inputs = inputs[:1]
	}
	routes := map[string]*scoring.Scorer{}
	for _, in := range inputs {
		routes[in.Topic] = sc
	}
	set := modelset.Static(routes)
	fields := schemas.NewFieldSet(outcome.FieldsFor(set)...)
	for i := range inputs {
		inputs[i].Decoder, _ = schemas.NewDecoder(enc, inputs[i].Kind, schemas.DefaultFieldNames, schemas.KeepFields(fields))
	}
	if wrap != nil {
		inputs[0].Decoder = wrap(inputs[0].Decoder)
	}
	core, err := outcome.New(set, inputs, fields)
	if err != nil {
		tb.Fatal(err)
	}
	return core
}

// assignAtStart assigns partition 0 of the topics to s, their records
// starting at offset 0.
func assignAtStart(tb testing.TB, s *Set[int64], topics ...string) {
	tb.Helper()
	var tps []Partition
	for _, topic := range topics {
		tps = append(tps, Partition{Topic: topic})
	}
	if err := s.Assign(tps); err != nil {
		tb.Fatal(err)
	}
	for _, tp := range tps {
		if err := s.Position(tp, 0, -1); err != nil {
			tb.Fatal(err)
		}
	}
}

// mergeLane is a set with the bundled fraud model and its aggregates over
// transactions and activity, the given ones assigned at offset 0; wrap, when set,
// wraps the transactions decoder; watch, when set, is the lanes' Watch. mk makes a chunk of a topic's records
// from offset from, with event times at the given seconds.
func mergeLane(t *testing.T, maxSize int, sink Sink[int64], wrap func(schemas.Decoder) schemas.Decoder, watch *Watch, assign ...string) (s *Set[int64], mk func(topic string, from int64, secs ...int) Chunk[int64]) {
	t.Helper()
	core := fraudCore(t, schemas.JSON, true, wrap)
	encs := map[string]schemas.EventEncoder{}
	for topic, kind := range map[string]schemas.EventType{"transactions": schemas.Transaction, "activity": schemas.Activity} {
		encs[topic], _ = schemas.NewEventEncoder(schemas.JSON, kind, schemas.DefaultFieldNames)
	}
	s, err := NewSet(Config{Core: core, MaxSize: maxSize, Interval: time.Hour, MaxIdle: time.Hour, Watch: watch}, func(int32) Sink[int64] { return sink })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	assignAtStart(t, s, assign...)
	gen := synth.New(1, 5, schemas.DefaultFieldNames)
	gen.Live = true // event times as given
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	mk = func(topic string, from int64, secs ...int) Chunk[int64] {
		c := Chunk[int64]{Topic: topic, HighWatermark: from + int64(len(secs))}
		for i, sec := range secs {
			var ev schemas.Event
			if topic == "activity" {
				gen.Activity(&ev, at.Add(time.Duration(sec)*time.Second))
			} else {
				gen.Transaction(&ev, at.Add(time.Duration(sec)*time.Second))
			}
			v, err := encs[topic].Append(nil, &ev)
			if err != nil {
				t.Fatal(err)
			}
			c.Records = append(c.Records, &kgo.Record{Topic: topic, Offset: from + int64(i), Value: v})
			c.Refs = append(c.Refs, from+int64(i))
		}
		return c
	}
	return s, mk
}

// TestMergeDecodesAheadInEventTimeOrder: a lane decodes a long chunk only
// a couple of batches ahead of scoring it, and a partition whose queue is
// empty but whose records wait in the backlog is not taken for caught up
// on the way: an activity event that arrived behind 20 transactions is
// scored among them in event-time order, not after all of them.
func TestMergeDecodesAheadInEventTimeOrder(t *testing.T) {
	for _, tt := range []struct {
		name   string
		assign []string
	}{
		{"activity caught up", []string{"transactions", "activity"}},
		// no merge queue for activity before its record: it is held too
		{"activity not assigned", []string{"transactions"}},
	} {
		t.Run(tt.name, func(t *testing.T) { mergeInOrder(t, tt.assign) })
	}
}

func mergeInOrder(t *testing.T, assign []string) {
	rec := &gatedRecorder{open: make(chan struct{})}
	s, mk := mergeLane(t, 1, rec, nil, nil, assign...)
	// activity is caught up (nothing in it yet); a first transaction is
	// scored and its prediction held, so the lane's next chunks queue up
	push := func(c Chunk[int64]) {
		if err := s.Push(c); err != nil {
			t.Fatal(err)
		}
	}
	if len(assign) > 1 {
		push(Chunk[int64]{Topic: "activity", HighWatermark: 0})
	}
	push(mk("transactions", 0, 0))
	waitFor(t, "the first prediction", func() bool { return rec.once.Load() })
	secs := make([]int, 20)
	for i := range secs {
		secs[i] = 1 + i
	}
	push(mk("transactions", 1, secs...))
	push(mk("activity", 0, 5)) // between the transactions at 4 s and 5 s
	close(rec.open)
	waitFor(t, "22 outcomes", func() bool { return len(rec.snapshot()) == 22 })
	got := rec.snapshot()
	pos := -1
	for i, o := range got {
		if o.dead || o.abandoned {
			t.Fatalf("outcome %d: %+v", i, o)
		}
		if o.topic == "activity" {
			pos = i
		}
	}
	// the transactions at 0-4 s, then the activity at 5 s (before the
	// transaction at 5 s: the merge breaks a tie by topic)
	if pos != 5 {
		t.Errorf("the activity event is outcome %d of %d, want 5 (in event-time order)", pos, len(got))
	}
}

// TestMergeKnowsPartitionEnd: an assigned activity partition that no
// fetch ever reports (franz-go hands over no fetch response without
// records) is caught up when its Position comes with its end at the
// position: the transactions are scored at once, though MaxIdle is an
// hour. With the end beyond the position, the merge waits for the
// partition's records, and scores in event-time order.
func TestMergeKnowsPartitionEnd(t *testing.T) {
	for _, tt := range []struct {
		name     string
		end      int64
		activity bool
	}{
		{"at its end", 5, false},
		{"behind its end", 8, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			s, mk := mergeLane(t, 3, rec, nil, nil, "transactions")
			act := Partition{Topic: "activity"}
			if err := s.Assign([]Partition{act}); err != nil {
				t.Fatal(err)
			}
			if err := s.Position(act, 5, tt.end); err != nil {
				t.Fatal(err)
			}
			want := []string{"transactions", "transactions", "transactions"}
			if err := s.Push(mk("transactions", 0, 10, 11, 12)); err != nil {
				t.Fatal(err)
			}
			if tt.activity {
				// the lane has the transactions, and waits for the activity
				// partition's records
				if err := s.Sync(context.Background()); !errors.Is(err, ErrWaiting) {
					t.Fatalf("Sync: %v, want ErrWaiting", err)
				}
				if err := s.Push(mk("activity", 5, 3, 20, 21)); err != nil {
					t.Fatal(err)
				}
				want = []string{"activity", "transactions", "transactions", "transactions", "activity", "activity"}
			}
			waitFor(t, "every prediction", func() bool { return len(rec.snapshot()) == len(want) })
			for i, o := range rec.snapshot() {
				if o.topic != want[i] || o.dead {
					t.Fatalf("outcome %d: %+v, want a prediction of %s (order %v)", i, o, want[i], want)
				}
			}
		})
	}
}

// TestRebuildReplayIsNotLate: a rebuild replays each partition in turn,
// so an entity's activity events come after its later transactions; they
// enter the state in time order and are not late records (none was
// scored). A live record behind a scored later event of its entity is.
func TestRebuildReplayIsNotLate(t *testing.T) {
	rec := &recorder{}
	s, mk := mergeLane(t, 4, rec, nil, nil, "transactions", "activity")
	tps := []Partition{{Topic: "transactions"}, {Topic: "activity"}}
	if err := s.StartRebuild(tps); err != nil {
		t.Fatal(err)
	}
	secs := func(from int) []int {
		out := make([]int, 20)
		for i := range out {
			out[i] = from + i
		}
		return out
	}
	for _, c := range []Chunk[int64]{mk("transactions", 0, secs(100)...), mk("activity", 0, secs(1)...)} {
		if err := s.PushState(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EndRebuild(tps); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replay", func() bool { return s.EntityStats().Replayed == 40 })
	if late := s.EntityStats().Late; late != 0 {
		t.Fatalf("%d late records after a rebuild", late)
	}
	// live, from offset 20 of both (activity at its end): transactions
	// scored at 200…219, then activity at 150…169
	for _, tp := range tps {
		if err := s.Position(tp, 20, 20); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Push(mk("transactions", 20, secs(200)...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the transactions", func() bool { return len(rec.snapshot()) == 20 })
	if err := s.Push(mk("activity", 20, secs(150)...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "late activity counted", func() bool { return len(rec.snapshot()) == 40 && s.EntityStats().Late > 0 })
}

// TestMergeGivesUpWhatItWouldWaitFor: a revoke or a stop cannot wait for
// a partition that is behind, and scoring the records queued behind it
// could leave an earlier event of their entities out of their features.
// They are given up (read again by the next owner, after its rebuild);
// the records the merge may take in order are still scored.
func TestMergeGivesUpWhatItWouldWaitFor(t *testing.T) {
	for _, tt := range []struct {
		name        string
		activityEnd int64 // activity's end at its position 0
		stop        bool
		want        []string // outcomes in order: p(redicted) or a(bandoned), with the offset
	}{
		{"revoke, activity behind", 4, false, []string{"a2", "a1", "a0"}},
		{"stop, activity behind", 4, true, []string{"a2", "a1", "a0"}},
		{"revoke, activity caught up", 0, false, []string{"p0", "p1", "p2"}},
		{"stop, activity caught up", 0, true, []string{"p0", "p1", "p2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			s, mk := mergeLane(t, 10, rec, nil, nil, "transactions")
			act := Partition{Topic: "activity"}
			if err := s.Assign([]Partition{act}); err != nil {
				t.Fatal(err)
			}
			if err := s.Position(act, 0, tt.activityEnd); err != nil {
				t.Fatal(err)
			}
			if err := s.Push(mk("transactions", 0, 10, 11, 12)); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(context.Background()); tt.activityEnd > 0 && !errors.Is(err, ErrWaiting) {
				t.Fatalf("Sync: %v, want ErrWaiting", err)
			}
			var err error
			if tt.stop {
				err = s.Stop(context.Background())
			} else {
				err = s.Flush(context.Background(), []Partition{{Topic: "transactions"}, act})
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range rec.snapshot() {
				kind := "p"
				if o.abandoned {
					kind = "a"
				}
				got = append(got, fmt.Sprintf("%s%d", kind, o.offset))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("outcomes %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPushAllHandsAPollOverAtOnce: the chunks of one poll reach their
// lane together. Each poll brings an activity record and a transaction of
// 5 s later; the lane knows activity as caught up at its previous fetch,
// so a lane that took the transaction's chunk alone would score it ahead
// of the activity fetched with it. The activity comes first every time.
func TestPushAllHandsAPollOverAtOnce(t *testing.T) {
	rec := &recorder{}
	s, mk := mergeLane(t, 1, rec, nil, nil, "transactions", "activity")
	s.PushAll([]Chunk[int64]{{Topic: "activity", HighWatermark: 0}}, nil) // activity is at its end
	const polls = 300
	for i := range polls {
		s.PushAll([]Chunk[int64]{mk("transactions", int64(i), 10*i+5), mk("activity", int64(i), 10*i)}, func(c *Chunk[int64], err error) {
			t.Fatalf("%s: %v", c.Topic, err)
		})
		deadline := time.Now().Add(10 * time.Second)
		for len(rec.snapshot()) < 2*(i+1) {
			if time.Now().After(deadline) {
				t.Fatalf("poll %d: %d outcomes after 10 s, want %d", i, len(rec.snapshot()), 2*(i+1))
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	late := 0
	out := rec.snapshot()
	for i := 0; i+1 < len(out); i += 2 {
		if out[i].topic != "activity" || out[i+1].topic != "transactions" {
			late++
		}
	}
	if late > 0 {
		t.Fatalf("%d of %d transactions scored ahead of the activity fetched with them", late, polls)
	}
}

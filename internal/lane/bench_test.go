package lane

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/models"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// encodingSink encodes every prediction into a reused buffer, as the
// producer's sender does, and counts outcomes.
type encodingSink struct {
	enc     schemas.PredictionEncoder
	buf     []byte
	done    *sync.WaitGroup
	flagged *atomic.Int64 // counts predictions of label 1, when set
}

func (k *encodingSink) Prediction(_ *Item[int64], pred *schemas.Prediction, _ string) {
	var err error
	if k.buf, err = k.enc.Append(k.buf[:0], pred); err != nil {
		panic(err)
	}
	if k.flagged != nil && pred.Label == 1 {
		k.flagged.Add(1)
	}
	k.done.Done()
}

func (k *encodingSink) DeadLetter(*Item[int64], string, error) { k.done.Done() }
func (k *encodingSink) Abandon(*kgo.Record, int64)             { k.done.Done() }

// eventOnlyFraud is the bundled fraud model with its aggregate inputs read
// as plain (absent, so missing) event fields: the record path without the
// entity state, which scoring/entity benchmarks on its own.
func eventOnlyFraud() (*scoring.Scorer, error) {
	sc, err := models.Fraud(scoring.DefaultPolicy)
	if err != nil {
		return nil, err
	}
	specs, err := models.FraudFeatures()
	if err != nil {
		return nil, err
	}
	for i := range specs {
		specs[i].Aggregate = nil
	}
	return scoring.NewScorer(sc.Model(), specs, scoring.DefaultPolicy)
}

// recordPath builds one lane's whole per-record path — decode → window →
// features → the bundled fraud model → encode — on n of loadgen's
// synthetic transactions in enc, in one chunk; run pushes the chunk (at
// the next n offsets) and waits for every outcome. cfg's Core is filled
// in; MaxSize defaults to n. With entities the model's aggregates are
// computed (in the lane's entity state, over an empty activity topic);
// without, they are missing.
func recordPath(tb testing.TB, enc schemas.Encoding, n int, cfg Config, entities bool) (run func()) {
	tb.Helper()
	core := fraudCore(tb, enc, entities, nil)
	evEnc, _ := schemas.NewEventEncoder(enc, schemas.Transaction, schemas.DefaultFieldNames)
	predEnc, _ := schemas.NewPredictionEncoder(enc)
	gen := synth.New(1, 1000, schemas.DefaultFieldNames)
	var chunk Chunk[int64]
	chunk.Topic = "transactions"
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for i := range n {
		var ev schemas.Event
		gen.Transaction(&ev, at.Add(time.Duration(i)*time.Second))
		v, err := evEnc.Append(nil, &ev)
		if err != nil {
			tb.Fatal(err)
		}
		chunk.Records = append(chunk.Records, &kgo.Record{Topic: "transactions", Offset: int64(i), Value: v})
		chunk.Refs = append(chunk.Refs, int64(i))
	}
	var done sync.WaitGroup
	cfg.Core = core
	if cfg.MaxSize == 0 {
		cfg.MaxSize = n
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour
	}
	s, err := NewSet(cfg, func(int32) Sink[int64] {
		return &encodingSink{enc: predEnc, done: &done}
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Stop(context.Background()) })
	if entities {
		assignAtStart(tb, s, "transactions", "activity")
		if err := s.Push(Chunk[int64]{Topic: "activity"}); err != nil { // caught up: empty
			tb.Fatal(err)
		}
	}
	next := int64(0)
	return func() {
		for i, r := range chunk.Records {
			r.Offset = next + int64(i)
		}
		next += int64(n)
		chunk.HighWatermark = next
		done.Add(n)
		if err := s.Push(chunk); err != nil {
			tb.Fatal(err)
		}
		done.Wait()
	}
}

// BenchmarkRecordPath is the whole per-record path of a lane — decode →
// window → features → the bundled fraud model → encode — on loadgen's
// synthetic transactions, in batches of 500, one lane (one core), without
// the entity state (the model's aggregate inputs are missing) and, for
// JSON, with it (the history grows with b.N). It reports ns/event and
// allocs/event (b.N counts events).
func BenchmarkRecordPath(b *testing.B) {
	for _, tt := range []struct {
		enc      schemas.Encoding
		entities bool
	}{{schemas.JSON, false}, {schemas.Avro, false}, {schemas.JSON, true}} {
		name := string(tt.enc)
		if tt.entities {
			name += "+entities"
		}
		b.Run(name, func(b *testing.B) {
			const n = 500
			run := recordPath(b, tt.enc, n, Config{}, tt.entities)
			run() // warm the pools
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += n {
				run()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkCatchUp is one lane catching up on a backlog: 100,000 distinct
// transactions of 10,000 customers in event-time order, in chunks of 500
// (a fetch's), all queued at once, through the whole path with the entity
// state. Unlike BenchmarkRecordPath, whose 500 records stay in the cache,
// every record here is read from memory once and the history grows over
// the run, as in a catch-up of `run`. An op is one catch-up on a fresh
// lane; it reports ns/event and allocs/event. "reasons" explains the
// flagged predictions (REASONS_TOP_K=3, REASONS_FOR=flagged) and reports
// the share flagged: against "plain" in the same run, what reason codes
// cost the lane.
func BenchmarkCatchUp(b *testing.B) {
	for _, tt := range []struct {
		name    string
		explain outcome.Explain
	}{{"plain", outcome.Explain{}}, {"reasons", outcome.Explain{For: outcome.ExplainFlagged, TopK: 3}}} {
		b.Run(tt.name, func(b *testing.B) { catchUp(b, tt.explain) })
	}
}

func catchUp(b *testing.B, explain outcome.Explain) {
	const total, per = 100_000, 500
	core := fraudCore(b, schemas.JSON, true, nil)
	if explain.For != outcome.ExplainNone {
		for _, r := range core.Models().Routes() { // the tables, built once, before the clock
			if _, err := r.Scorer().Explainer(); err != nil {
				b.Fatal(err)
			}
		}
	}
	evEnc, _ := schemas.NewEventEncoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	predEnc, _ := schemas.NewPredictionEncoder(schemas.JSON)
	gen := synth.New(1, 10_000, schemas.DefaultFieldNames)
	gen.Live = true
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	recs := make([]*kgo.Record, total)
	var ev schemas.Event
	for i := range recs {
		gen.Transaction(&ev, at.Add(time.Duration(i)*10*time.Millisecond))
		v, err := evEnc.Append(nil, &ev)
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = &kgo.Record{Topic: "transactions", Offset: int64(i), Value: v}
	}
	refs := make([]int64, per)
	var flagged atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var done sync.WaitGroup
		s, err := NewSet(Config{Core: core, MaxSize: per, Interval: time.Hour, Explain: explain}, func(int32) Sink[int64] {
			return &encodingSink{enc: predEnc, done: &done, flagged: &flagged}
		})
		if err != nil {
			b.Fatal(err)
		}
		assignAtStart(b, s, "transactions", "activity")
		_ = s.Push(Chunk[int64]{Topic: "activity"}) // caught up: empty
		done.Add(total)
		for i := 0; i < total; i += per {
			_ = s.Push(Chunk[int64]{Topic: "transactions", Records: recs[i : i+per], Refs: refs, HighWatermark: int64(i + per)})
		}
		done.Wait()
		_ = s.Stop(context.Background())
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/event")
	b.ReportMetric(100*float64(flagged.Load())/float64(b.N*total), "%flagged")
}

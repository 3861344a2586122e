package lane

import (
	"context"
	"sync"
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

// encodingSink encodes every prediction into a reused buffer, as the
// producer's sender does, and counts outcomes.
type encodingSink struct {
	enc  schemas.PredictionEncoder
	buf  []byte
	done *sync.WaitGroup
}

func (k *encodingSink) Prediction(_ *Item[int64], pred *schemas.Prediction, _ string) {
	var err error
	if k.buf, err = k.enc.Append(k.buf[:0], pred); err != nil {
		panic(err)
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

// BenchmarkRecordPath is the whole per-record path of a lane — decode →
// window → features → the bundled fraud model → encode — on loadgen's
// synthetic transactions, in batches of 500, one lane (one core), without
// the entity state (the model's aggregate inputs are missing). It reports
// ns/event and allocs/event (b.N counts events).
func BenchmarkRecordPath(b *testing.B) {
	for _, enc := range []schemas.Encoding{schemas.JSON, schemas.Avro} {
		b.Run(string(enc), func(b *testing.B) {
			sc, err := eventOnlyFraud()
			if err != nil {
				b.Fatal(err)
			}
			set := modelset.Static(map[string]*scoring.Scorer{"transactions": sc})
			fields := schemas.NewFieldSet(outcome.FieldsFor(set)...)
			dec, _ := schemas.NewDecoder(enc, schemas.Transaction, schemas.DefaultFieldNames, schemas.KeepFields(fields))
			core, err := outcome.New(set, []outcome.Input{{Topic: "transactions", Kind: schemas.Transaction, Decoder: dec}}, fields)
			if err != nil {
				b.Fatal(err)
			}
			evEnc, _ := schemas.NewEventEncoder(enc, schemas.Transaction, schemas.DefaultFieldNames)
			predEnc, _ := schemas.NewPredictionEncoder(enc)
			gen := synth.New(1, 1000, schemas.DefaultFieldNames)
			const n = 500
			var chunk Chunk[int64]
			chunk.Topic = "transactions"
			at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
			for i := range n {
				var ev schemas.Event
				gen.Transaction(&ev, at.Add(time.Duration(i)*time.Second))
				v, err := evEnc.Append(nil, &ev)
				if err != nil {
					b.Fatal(err)
				}
				chunk.Records = append(chunk.Records, &kgo.Record{Topic: "transactions", Offset: int64(i), Value: v})
				chunk.Refs = append(chunk.Refs, int64(i))
			}
			var done sync.WaitGroup
			s, err := NewSet(Config{Core: core, MaxSize: n, Interval: time.Hour}, func(int32) Sink[int64] {
				return &encodingSink{enc: predEnc, done: &done}
			})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Stop(context.Background())
			run := func() {
				done.Add(n)
				if err := s.Push(chunk); err != nil {
					b.Fatal(err)
				}
				done.Wait()
			}
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

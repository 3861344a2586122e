package lane

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/drift"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/internal/quality"
	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// watchingSink is encodingSink that also settles labels and encodes the
// challenger's predictions (as the producer's senders do).
type watchingSink struct{ encodingSink }

func (k *watchingSink) Settle(*kgo.Record, int64) {}

func (k *watchingSink) Shadow(_ *Item[int64], _ *modelset.Route, pred *schemas.Prediction, _ string) {
	var err error
	if k.buf, err = k.enc.Append(k.buf[:0], pred); err != nil {
		panic(err)
	}
}

// eventOnlyFiles writes the bundled fraud model's features file with its
// aggregate inputs read as plain event fields (as eventOnlyFraud) and
// returns the model's and that file's paths.
func eventOnlyFiles(b *testing.B) (model, features string) {
	src, err := os.ReadFile("../../models/fraud.features.yaml")
	if err != nil {
		b.Fatal(err)
	}
	plain := regexp.MustCompile(`(?m)^(\s*- \{name: \w+), aggregate: .*\}$`).ReplaceAll(src, []byte("$1}"))
	features = filepath.Join(b.TempDir(), "fraud.features.yaml")
	if err := os.WriteFile(features, plain, 0o644); err != nil {
		b.Fatal(err)
	}
	model, _ = filepath.Abs("../../models/fraud.json")
	return model, features
}

// BenchmarkRecordPathWatched is BenchmarkRecordPath (JSON) with each
// part of the watching on, and all of them, against none in the same run:
// labels (every prediction kept for its label, and one label per
// prediction joined), drift (a baseline of the model's inputs and score),
// shadow (a challenger — the same model under another name — scored on
// the batch, its predictions encoded). ns/event includes everything.
func BenchmarkRecordPathWatched(b *testing.B) {
	model, features := eventOnlyFiles(b)
	for _, v := range []struct {
		name                  string
		labels, drift, shadow bool
	}{{"none", false, false, false}, {"labels", true, false, false}, {"drift", false, true, false},
		{"shadow", false, false, true}, {"all", true, true, true}} {
		b.Run(v.name, func(b *testing.B) {
			spec := modelset.RouteSpec{Topics: []string{"transactions"}, Path: model, Features: features}
			if v.shadow {
				spec.Shadow = &modelset.ShadowSpec{Path: model, Features: features, Name: "challenger", OutputTopic: "challenger"}
			}
			set, err := modelset.Open([]modelset.RouteSpec{spec}, scoring.DefaultPolicy, []string{"transactions"})
			if err != nil {
				b.Fatal(err)
			}
			route := set.Routes()[0]
			if v.shadow && route.Shadow() == nil {
				b.Fatal(route.ShadowErr())
			}
			fields := schemas.NewFieldSet(outcome.FieldsFor(set)...)
			dec, _ := schemas.NewDecoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames, schemas.KeepFields(fields))
			core, err := outcome.New(set, []outcome.Input{{Topic: "transactions", Kind: schemas.Transaction, Decoder: dec}}, fields)
			if err != nil {
				b.Fatal(err)
			}
			evEnc, _ := schemas.NewEventEncoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
			predEnc, _ := schemas.NewPredictionEncoder(schemas.JSON)
			labelDec, _ := schemas.NewLabelDecoder(schemas.JSON)
			gen := synth.New(1, 1000, schemas.DefaultFieldNames)
			const n = 500
			at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
			var evs []schemas.Event
			for i := range n {
				var ev schemas.Event
				gen.Transaction(&ev, at.Add(time.Duration(i)*time.Second))
				evs = append(evs, ev)
			}
			// each round's events get new ids (a kept prediction per event),
			// and the round after brings their labels
			chunk := func(round int) (Chunk[int64], Chunk[int64]) {
				c := Chunk[int64]{Topic: "transactions"}
				l := Chunk[int64]{Topic: "labels"}
				for i := range evs {
					ev := evs[i]
					ev.ID = ""
					id := "r" + itoa(round) + "-" + itoa(i)
					for k := range ev.Fields {
						if ev.Fields[k].Name == "event_id" {
							ev.Fields[k].Value = schemas.StringValue(id)
						}
					}
					val, err := evEnc.Append(nil, &ev)
					if err != nil {
						b.Fatal(err)
					}
					c.Records = append(c.Records, &kgo.Record{Topic: "transactions", Offset: int64(i), Value: val})
					c.Refs = append(c.Refs, int64(i))
					l.Records = append(l.Records, &kgo.Record{Topic: "labels", Offset: int64(i), Timestamp: time.Now(),
						Value: []byte(`{"event_id":"` + id + `","label":` + itoa(i%2) + `}`)})
					l.Refs = append(l.Refs, int64(i))
				}
				return c, l
			}
			var w *Watch
			if v.labels || v.drift || v.shadow {
				w = &Watch{Shadows: v.shadow}
			}
			if v.labels {
				reg, _ := quality.NewRegistry(quality.Options{LabelWindow: time.Hour})
				w.LabelsTopic, w.Labels, w.Quality = "labels", labelDec, reg
			}
			if v.drift {
				names := route.Scorer().Plan().Names()
				bl := drift.NewBuilder(names)
				row := make([]float64, len(names))
				for i := range 1000 {
					for k := range row {
						row[k] = float64((i * (k + 1)) % 97)
						if i%10 == k {
							row[k] = math.NaN()
						}
					}
					_ = bl.Add(row, float64(i%100)/100)
				}
				base, err := bl.Build(drift.DefaultBins)
				if err != nil {
					b.Fatal(err)
				}
				g := drift.NewGroup(base)
				w.Drift = func(*modelset.Route) *drift.Group { return g }
			}
			var done sync.WaitGroup
			s, err := NewSet(Config{Core: core, MaxSize: n, Interval: time.Hour, Watch: w}, func(int32) Sink[int64] {
				return &watchingSink{encodingSink{enc: predEnc, done: &done}}
			})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Stop(context.Background())
			const warm = 8
			rounds := warm + (b.N+n-1)/n // every event its own id
			chunks := make([][2]Chunk[int64], rounds)
			for r := range chunks {
				chunks[r][0], chunks[r][1] = chunk(r)
			}
			round := 0
			run := func() {
				c := chunks[round%rounds]
				done.Add(n)
				if err := s.Push(c[0]); err != nil {
					b.Fatal(err)
				}
				done.Wait()
				if v.labels {
					_ = s.Push(c[1])
				}
				round++
			}
			for range warm {
				run() // warm the pools and the store
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += n {
				run()
			}
			_ = s.Barrier(context.Background())
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
		})
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var buf [20]byte
	p := len(buf)
	for ; i > 0; i /= 10 {
		p--
		buf[p] = byte('0' + i%10)
	}
	return string(buf[p:])
}

package entity

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// designAggs are DESIGN.md's example aggregates (windows 1h to 30 days).
func designAggs(t testing.TB) []scoring.Aggregate {
	specs, err := scoring.ParseFeatures([]byte(`features:
  - amount
  - name: tx_count_1h
    aggregate: {fn: count, of: transaction, over: 1h}
  - name: amount_sum_24h
    aggregate: {fn: sum, of: transaction, field: amount, over: 24h}
  - name: failed_logins_1h
    aggregate: {fn: count, of: activity, over: 1h, where: {activity_type: login_failed}}
  - name: countries_7d
    aggregate: {fn: count_distinct, of: transaction, field: country, over: 168h}
  - name: secs_since_login
    aggregate: {fn: since_last, of: activity, over: 720h, where: {activity_type: login}}
  - name: amount_max_24h
    aggregate: {fn: max, of: transaction, field: amount, over: 24h}
  - name: last_merchant
    aggregate: {fn: last, of: transaction, field: merchant, over: 24h}
`))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	plan, err := scoring.Compile(names, specs)
	if err != nil {
		t.Fatal(err)
	}
	return plan.Aggregates()
}

// workload is a lane's stream: 70% transactions, event time advancing by
// gap per event on average; a share hotFrac of the events goes to hot
// entities, the rest spread evenly over entities.
type workload struct {
	evs   []schemas.Event
	kinds []schemas.EventType
	span  time.Duration
}

func newWorkload(n, entities, hot int, hotFrac float64, gap time.Duration) *workload {
	r := rand.New(rand.NewPCG(1, 2))
	w := &workload{evs: make([]schemas.Event, n), kinds: make([]schemas.EventType, n)}
	ms := int64(1_700_000_000_000)
	countries := []string{"US", "FR", "DE", "GB", "ES", "IT", "NL"}
	acts := []string{"login", "login_failed", "logout", "password_reset"}
	for i := range w.evs {
		ms += r.Int64N(2*int64(gap/time.Millisecond) + 1)
		ev := &w.evs[i]
		if r.Float64() < hotFrac {
			ev.Entity = fmt.Sprint("hot-", r.IntN(hot))
		} else {
			ev.Entity = fmt.Sprint("customer-", r.IntN(entities))
		}
		ev.Time = time.UnixMilli(ms)
		if r.IntN(10) < 7 {
			w.kinds[i] = schemas.Transaction
			ev.Fields = []schemas.Field{
				{Name: "amount", Value: schemas.NumberValue(float64(r.IntN(50_000)) / 100)},
				{Name: "country", Value: schemas.StringValue(countries[r.IntN(len(countries))])},
				{Name: "merchant", Value: schemas.StringValue(fmt.Sprint("m-", r.IntN(5000)))},
				{Name: "channel", Value: schemas.StringValue("web")},
			}
		} else {
			w.kinds[i] = schemas.Activity
			ev.Fields = []schemas.Field{
				{Name: "activity_type", Value: schemas.StringValue(acts[r.IntN(len(acts))])},
				{Name: "device", Value: schemas.StringValue(fmt.Sprint("d-", r.IntN(100)))},
			}
		}
	}
	w.span = time.Duration(ms-w.evs[0].Time.UnixMilli())*time.Millisecond + gap
	return w
}

// at is record i of the endless stream that repeats the workload shifted
// in time.
func (w *workload) at(i int) (schemas.Event, schemas.EventType, Pos) {
	n := len(w.evs)
	ev := w.evs[i%n]
	ev.Time = ev.Time.Add(time.Duration(i/n) * w.span)
	s := int32(0)
	if w.kinds[i%n] == schemas.Activity {
		s = 1
	}
	return ev, w.kinds[i%n], Pos{Stream: s, Offset: int64(i)}
}

// BenchmarkLane: per event, what a lane does: aggregate every feature of
// DESIGN.md's example (windows 1h to 30 days), observe, and expire every
// 1000 events, on a state warmed with 1M events, all inside the windows
// (50k for runs under 10000 events, such as CI's smoke run). ns/op is ns
// per event, cpu-ns/op the process's CPU time per event (steadier on a
// busy machine); held/entity is the average events an entity holds.
func BenchmarkLane(b *testing.B) {
	aggs := designAggs(b)
	spec := NewSpec(aggs)
	idx := allIdx(len(aggs))
	for _, c := range []struct {
		name     string
		entities int
		hot      int
		hotFrac  float64
	}{
		{"100k-entities", 100_000, 1, 0}, // ~10 events each
		{"10k-entities", 10_000, 1, 0},   // ~100 events each
		{"1k-entities", 1_000, 1, 0},     // ~1000 events each
		{"10k+10-hot", 10_000, 10, 0.05}, // and 10 entities with ~5000 events each
	} {
		b.Run(c.name, func(b *testing.B) {
			w := newWorkload(200_000, c.entities, c.hot, c.hotFrac, 10*time.Millisecond)
			st := NewState(spec, Options{Slack: time.Minute})
			out := make([]schemas.Value, len(idx))
			warm := 1_000_000
			if b.N < 10_000 {
				warm = 50_000
			}
			for i := range warm {
				ev, kind, pos := w.at(i)
				st.Observe(&ev, kind, pos)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := warm; i < warm+b.N; i++ {
				ev, kind, pos := w.at(i)
				st.Aggregate(&ev, idx, out)
				st.Observe(&ev, kind, pos)
				if i%1000 == 0 {
					st.Expire(ev.Time)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			s := st.Stats()
			b.ReportMetric(float64(s.Events)/float64(s.Entities), "held/entity")
			b.ReportMetric(float64(s.Bytes)/float64(s.Events), "bytes/event")
		})
	}
}

// BenchmarkRebuild: Observe alone, as a rebuild replays history into an
// empty state; reports events/s.
func BenchmarkRebuild(b *testing.B) {
	spec := NewSpec(designAggs(b))
	w := newWorkload(200_000, 100_000, 1, 0, 10*time.Millisecond)
	b.ReportAllocs()
	b.ResetTimer()
	var st *State
	cpu := time.Duration(0)
	cpu0 := cpuTime()
	for i := range b.N {
		if i%len(w.evs) == 0 {
			b.StopTimer()
			cpu += cpuTime() - cpu0
			st = NewState(spec, Options{})
			cpu0 = cpuTime()
			b.StartTimer()
		}
		ev, kind, pos := w.at(i)
		st.Observe(&ev, kind, pos)
	}
	cpu += cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
}

// BenchmarkAggregateHeavy: one hot entity with 100k transactions in its
// window: the O(w) functions' cost per event in the window.
func BenchmarkAggregateHeavy(b *testing.B) {
	aggs := designAggs(b)
	spec := NewSpec(aggs)
	st := NewState(spec, Options{})
	ev := &schemas.Event{Entity: "hot"}
	const n = 100_000
	for i := range n {
		ev.Time = time.UnixMilli(1_700_000_000_000 + int64(i))
		ev.Fields = append(ev.Fields[:0],
			schemas.Field{Name: "amount", Value: schemas.NumberValue(float64(i % 977))},
			schemas.Field{Name: "country", Value: schemas.StringValue(fmt.Sprint("c", i%50))},
			schemas.Field{Name: "merchant", Value: schemas.StringValue("m")})
		st.Observe(ev, schemas.Transaction, Pos{Offset: int64(i)})
	}
	ev.Time = ev.Time.Add(time.Millisecond)
	for _, a := range aggs {
		b.Run(a.Fn, func(b *testing.B) {
			idx := []int{spec.Index(a)}
			out := make([]schemas.Value, 1)
			b.ReportAllocs()
			for b.Loop() {
				st.Aggregate(ev, idx, out)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/event-in-window")
		})
	}
}

// BenchmarkBytes: b.N transactions observed into a state, entities
// holding 1, 10 or 100 each; reports the accounted bytes per stored event
// against the heap the state takes (run with -benchtime 200000x or more
// for figures; TestByteAccounting checks them).
func BenchmarkBytes(b *testing.B) {
	spec := NewSpec(designAggs(b))
	for _, per := range []int{1, 10, 100} {
		b.Run(fmt.Sprint(per, "-per-entity"), func(b *testing.B) {
			acc, heap, n := measureBytes(b, spec, max(1, b.N/per), per)
			b.ReportMetric(float64(acc)/float64(n), "accounted-bytes/event")
			b.ReportMetric(float64(heap)/float64(n), "heap-bytes/event")
		})
	}
}

// measureBytes fills a state with ents entities of per transactions each
// and returns its accounted bytes, the heap it takes, and the events.
func measureBytes(tb testing.TB, spec *Spec, ents, per int) (accounted, heap int64, n int) {
	ids := make([]string, ents)
	for i := range ids {
		ids[i] = fmt.Sprint("customer-", i)
	}
	countries := []string{"US", "FR", "DE"}
	merchants := make([]string, 1000)
	for i := range merchants {
		merchants[i] = fmt.Sprint("m-", i)
	}
	ev := &schemas.Event{}
	if b, ok := tb.(*testing.B); ok {
		b.ResetTimer()
	}
	h0 := heapAlloc()
	st := NewState(spec, Options{})
	for j := range per {
		for i := range ents {
			ev.Entity = ids[i]
			ev.Time = time.UnixMilli(int64(1e12) + int64(j*ents+i))
			ev.Fields = append(ev.Fields[:0],
				schemas.Field{Name: "amount", Value: schemas.NumberValue(float64(n))},
				schemas.Field{Name: "country", Value: schemas.StringValue(countries[n%3])},
				schemas.Field{Name: "merchant", Value: schemas.StringValue(merchants[n%1000])})
			st.Observe(ev, schemas.Transaction, Pos{Offset: int64(n)})
			n++
		}
	}
	heap = int64(heapAlloc() - h0)
	accounted = st.Stats().Bytes
	runtime.KeepAlive(st)
	return accounted, heap, n
}

// cpuTime is the process's CPU time (user and system, every thread: the
// collector's too), a measure that holds on a busy machine where wall time
// does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

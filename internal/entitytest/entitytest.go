package entitytest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Features uses every aggregate function over both kinds, with where
// lists, a transform on top of an aggregate and a default.
const Features = `features:
  - amount
  - {name: tx_count_1h, aggregate: {fn: count, of: transaction, over: 1h}}
  - {name: amount_sum_24h, aggregate: {fn: sum, of: transaction, field: amount, over: 24h}}
  - {name: amount_mean_1h, aggregate: {fn: mean, of: transaction, field: amount, over: 1h}}
  - {name: amount_min_2h, aggregate: {fn: min, of: transaction, field: amount, over: 2h}}
  - {name: amount_max_2h, aggregate: {fn: max, of: transaction, field: amount, over: 2h}, default: -1}
  - {name: failed_logins_1h, aggregate: {fn: count, of: activity, over: 1h, where: {activity_type: [login_failed, password_reset]}}}
  - {name: countries_7d, aggregate: {fn: count_distinct, of: transaction, field: country, over: 168h}}
  - {name: last_country_ng, transform: one_hot, value: NG, aggregate: {fn: last, of: transaction, field: country, over: 24h}}
  - {name: secs_since_login, aggregate: {fn: since_last, of: activity, over: 720h, where: {activity_type: login}}}
  - {name: log_sum_1h, transform: log1p, aggregate: {fn: sum, of: transaction, field: amount, over: 1h}}
`

// FirstFinite scores a row as its first finite input (or 0.5): the test
// reads the features the model saw, not the score.
type FirstFinite struct{ N int }

func (m FirstFinite) Info() scoring.Info {
	names := make([]string, m.N)
	return scoring.Info{Name: "agg", Version: "1", Features: names, Output: scoring.Regression, Classes: 1}
}

func (m FirstFinite) Predict(x, out []float32) error {
	for r := range out {
		out[r] = 0.5
		for _, v := range x[r*m.N : (r+1)*m.N] {
			if v == v {
				out[r] = v
				break
			}
		}
	}
	return nil
}

// Event is one event of a synthetic log.
type Event struct {
	Kind   schemas.EventType
	ID     string
	Entity string
	Ms     int64
	Fields map[string]any // amount, country, activity_type (absent: not in the map; nil: null)
}

// Log makes a log of transactions and activity for a few customers
// over several hours: ties at the same millisecond, gaps longer than the
// windows, absent and null fields.
func Log(seed uint64, n int) []Event {
	rng := rand.New(rand.NewPCG(seed, 11))
	t := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC).UnixMilli()
	countries := []string{"NL", "DE", "NG", "BR"}
	kinds := []string{"login", "login_failed", "password_reset", "view"}
	var out []Event
	for i := 0; i < n; i++ {
		switch rng.IntN(20) {
		case 0: // a gap longer than the hour windows
			t += 3 * 3600_000
		case 1, 2: // same millisecond as the previous event
		default:
			t += int64(rng.IntN(120_000))
		}
		e := Event{ID: fmt.Sprintf("e%05d", i), Entity: fmt.Sprintf("c%d", rng.IntN(12)), Ms: t, Fields: map[string]any{}}
		if rng.IntN(3) == 0 {
			e.Kind = schemas.Activity
			if rng.IntN(10) > 0 {
				e.Fields["activity_type"] = kinds[rng.IntN(len(kinds))]
			}
		} else {
			e.Kind = schemas.Transaction
			switch rng.IntN(12) {
			case 0: // absent
			case 1:
				e.Fields["amount"] = nil
			default:
				e.Fields["amount"] = float64(rng.IntN(100000)) / 100
			}
			if rng.IntN(8) > 0 {
				e.Fields["country"] = countries[rng.IntN(len(countries))]
			}
		}
		out = append(out, e)
	}
	return out
}

// Reference evaluates DESIGN.md's definition of each feature of e directly
// over the whole log: the events x of e's entity, of the aggregate's kind,
// matching where, with t − over ≤ time(x) < t. NaN is missing.
func Reference(log []Event, e Event) []float64 {
	type agg struct {
		fn, field string
		kind      schemas.EventType
		over      time.Duration
		where     []string
	}
	window := func(a agg) []Event {
		var xs []Event
		for _, x := range log {
			if x.Entity != e.Entity || x.Kind != a.kind || x.Ms < e.Ms-a.over.Milliseconds() || x.Ms >= e.Ms {
				continue
			}
			if a.where != nil {
				v, ok := x.Fields["activity_type"].(string)
				if !ok || !slices.Contains(a.where, v) {
					continue
				}
			}
			xs = append(xs, x)
		}
		sort.SliceStable(xs, func(i, j int) bool { return xs[i].Ms < xs[j].Ms })
		return xs
	}
	num := func(xs []Event, f string) []float64 {
		var out []float64
		for _, x := range xs {
			if v, ok := x.Fields[f].(float64); ok {
				out = append(out, v)
			}
		}
		return out
	}
	nan := math.NaN()
	value := func(a agg) float64 {
		xs := window(a)
		vs := num(xs, a.field)
		switch a.fn {
		case "count":
			return float64(len(xs))
		case "sum":
			s := 0.0
			for _, v := range vs {
				s += v
			}
			return s
		case "mean":
			if len(vs) == 0 {
				return nan
			}
			s := 0.0
			for _, v := range vs {
				s += v
			}
			return s / float64(len(vs))
		case "min", "max":
			if len(vs) == 0 {
				return nan
			}
			m := vs[0]
			for _, v := range vs {
				if a.fn == "min" {
					m = min(m, v)
				} else {
					m = max(m, v)
				}
			}
			return m
		case "count_distinct":
			set := map[string]bool{}
			for _, x := range xs {
				if v, ok := x.Fields[a.field].(string); ok {
					set[v] = true
				}
			}
			return float64(len(set))
		case "since_last":
			if len(xs) == 0 {
				return nan
			}
			return float64(e.Ms-xs[len(xs)-1].Ms) / 1000
		}
		panic(a.fn)
	}
	tx, act := schemas.Transaction, schemas.Activity
	amount := nan
	if v, ok := e.Fields["amount"].(float64); ok {
		amount = v
	}
	maxAmt := value(agg{fn: "max", kind: tx, field: "amount", over: 2 * time.Hour})
	if math.IsNaN(maxAmt) {
		maxAmt = -1 // the feature's default
	}
	lastNG := nan
	if xs := window(agg{kind: tx, over: 24 * time.Hour}); len(xs) > 0 {
		if v, ok := xs[len(xs)-1].Fields["country"].(string); ok {
			lastNG = 0
			if v == "NG" {
				lastNG = 1
			}
		}
	}
	sum1h := value(agg{fn: "sum", kind: tx, field: "amount", over: time.Hour})
	return []float64{
		amount,
		value(agg{fn: "count", kind: tx, over: time.Hour}),
		value(agg{fn: "sum", kind: tx, field: "amount", over: 24 * time.Hour}),
		value(agg{fn: "mean", kind: tx, field: "amount", over: time.Hour}),
		value(agg{fn: "min", kind: tx, field: "amount", over: 2 * time.Hour}),
		maxAmt,
		value(agg{fn: "count", kind: act, over: time.Hour, where: []string{"login_failed", "password_reset"}}),
		value(agg{fn: "count_distinct", kind: tx, field: "country", over: 168 * time.Hour}),
		lastNG,
		value(agg{fn: "since_last", kind: act, over: 720 * time.Hour, where: []string{"login"}}),
		math.Log1p(sum1h),
	}
}

// Produce writes the log to the transactions and activity topics at once
// (the log is there before a test's run starts), keyed by entity, each
// record's Kafka timestamp its event time.
func Produce(t testing.TB, addrs []string, log []Event) {
	t.Helper()
	testkafka.Produce(t, addrs, Records(t, log)...)
}

// ProduceInOrder writes the log as events happen, while a test's run
// consumes it: each record is acknowledged before the next is sent, so a
// fetch that sees an event sees every earlier one. (Written at once, the
// two topics' records land in any interleaving, and a fetch can see a
// transaction before the activity that preceded it: that activity is then
// a late record, by DESIGN.md's definition.)
func ProduceInOrder(t testing.TB, addrs []string, log []Event) {
	t.Helper()
	cl := testkafka.Client(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, r := range Records(t, log) {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// Records are the log's Kafka records (JSON events).
func Records(t testing.TB, log []Event) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for _, e := range log {
		ev := &schemas.Event{Fields: []schemas.Field{{Name: "event_id", Value: schemas.StringValue(e.ID)},
			{Name: "customer_id", Value: schemas.StringValue(e.Entity)}, {Name: "event_time", Value: schemas.NumberValue(float64(e.Ms))}}}
		for k, v := range e.Fields {
			switch x := v.(type) {
			case nil:
				ev.Fields = append(ev.Fields, schemas.Field{Name: k, Value: schemas.Value{Kind: schemas.Null}})
			case float64:
				ev.Fields = append(ev.Fields, schemas.Field{Name: k, Value: schemas.NumberValue(x)})
			case string:
				ev.Fields = append(ev.Fields, schemas.Field{Name: k, Value: schemas.StringValue(x)})
			}
		}
		enc, _ := schemas.NewEventEncoder(schemas.JSON, e.Kind, schemas.DefaultFieldNames)
		b, err := enc.Append(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		topic := "transactions"
		if e.Kind == schemas.Activity {
			topic = "activity"
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(e.Entity), Value: b, Timestamp: time.UnixMilli(e.Ms)})
	}
	return recs
}

// Names are the features' names, in the order of Features and Reference.
var Names = []string{"amount", "tx_count_1h", "amount_sum_24h", "amount_mean_1h", "amount_min_2h", "amount_max_2h",
	"failed_logins_1h", "countries_7d", "last_country_ng", "secs_since_login", "log_sum_1h"}

// Diff compares the features a prediction carried for e (got[i] is the
// value of Names[i]; NaN is missing) with the reference and describes each
// value that differs. The model computes in float32, so the reference is
// rounded to float32 before the comparison.
func Diff(log []Event, e Event, got []float64) []string {
	want := Reference(log, e)
	if len(got) != len(want) {
		return []string{fmt.Sprintf("%s: %d features, want %d", e.ID, len(got), len(want))}
	}
	var out []string
	for i, w := range want {
		g := got[i]
		w32 := float64(float32(w))
		if math.IsNaN(w) != math.IsNaN(g) || !math.IsNaN(w) && g != w32 && math.Abs(g-w32) > 1e-6*math.Abs(w32) {
			out = append(out, fmt.Sprintf("%s (%s at %d) feature %s = %v, reference %v", e.ID, e.Entity, e.Ms, Names[i], g, w))
		}
	}
	return out
}

// Scorer is FirstFinite over Features, read from a features file as a
// user's would be.
func Scorer(t testing.TB) *scoring.Scorer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "features.yaml")
	if err := os.WriteFile(path, []byte(Features), 0o644); err != nil {
		t.Fatal(err)
	}
	specs, err := scoring.ReadFeatureFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scoring.NewScorer(FirstFinite{N: len(specs)}, specs, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

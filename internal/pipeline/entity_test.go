package pipeline

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// entityFeatures uses every aggregate function over both kinds, with where
// lists, a transform on top of an aggregate and a default.
const entityFeatures = `features:
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

// firstFinite scores a row as its first finite input (or 0.5): the test
// reads the features the model saw, not the score.
type firstFinite struct{ n int }

func (m firstFinite) Info() scoring.Info {
	names := make([]string, m.n)
	return scoring.Info{Name: "agg", Version: "1", Features: names, Output: scoring.Regression, Classes: 1}
}

func (m firstFinite) Predict(x, out []float32) error {
	for r := range out {
		out[r] = 0.5
		for _, v := range x[r*m.n : (r+1)*m.n] {
			if v == v {
				out[r] = v
				break
			}
		}
	}
	return nil
}

// logEvent is one event of a synthetic log.
type logEvent struct {
	kind   schemas.EventType
	id     string
	entity string
	ms     int64
	fields map[string]any // amount, country, activity_type (absent: not in the map; nil: null)
}

// entityLog makes a log of transactions and activity for a few customers
// over several hours: ties at the same millisecond, gaps longer than the
// windows, absent and null fields.
func entityLog(seed uint64, n int) []logEvent {
	rng := rand.New(rand.NewPCG(seed, 11))
	t := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC).UnixMilli()
	countries := []string{"NL", "DE", "NG", "BR"}
	kinds := []string{"login", "login_failed", "password_reset", "view"}
	var out []logEvent
	for i := 0; i < n; i++ {
		switch rng.IntN(20) {
		case 0: // a gap longer than the hour windows
			t += 3 * 3600_000
		case 1, 2: // same millisecond as the previous event
		default:
			t += int64(rng.IntN(120_000))
		}
		e := logEvent{id: fmt.Sprintf("e%05d", i), entity: fmt.Sprintf("c%d", rng.IntN(12)), ms: t, fields: map[string]any{}}
		if rng.IntN(3) == 0 {
			e.kind = schemas.Activity
			if rng.IntN(10) > 0 {
				e.fields["activity_type"] = kinds[rng.IntN(len(kinds))]
			}
		} else {
			e.kind = schemas.Transaction
			switch rng.IntN(12) {
			case 0: // absent
			case 1:
				e.fields["amount"] = nil
			default:
				e.fields["amount"] = float64(rng.IntN(100000)) / 100
			}
			if rng.IntN(8) > 0 {
				e.fields["country"] = countries[rng.IntN(len(countries))]
			}
		}
		out = append(out, e)
	}
	return out
}

// reference evaluates DESIGN.md's definition of each feature of e directly
// over the whole log: the events x of e's entity, of the aggregate's kind,
// matching where, with t − over ≤ time(x) < t. NaN is missing.
func reference(log []logEvent, e logEvent) []float64 {
	type agg struct {
		fn, field string
		kind      schemas.EventType
		over      time.Duration
		where     []string
	}
	window := func(a agg) []logEvent {
		var xs []logEvent
		for _, x := range log {
			if x.entity != e.entity || x.kind != a.kind || x.ms < e.ms-a.over.Milliseconds() || x.ms >= e.ms {
				continue
			}
			if a.where != nil {
				v, ok := x.fields["activity_type"].(string)
				if !ok || !contains(a.where, v) {
					continue
				}
			}
			xs = append(xs, x)
		}
		sort.SliceStable(xs, func(i, j int) bool { return xs[i].ms < xs[j].ms })
		return xs
	}
	num := func(xs []logEvent, f string) []float64 {
		var out []float64
		for _, x := range xs {
			if v, ok := x.fields[f].(float64); ok {
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
				if v, ok := x.fields[a.field].(string); ok {
					set[v] = true
				}
			}
			return float64(len(set))
		case "since_last":
			if len(xs) == 0 {
				return nan
			}
			return float64(e.ms-xs[len(xs)-1].ms) / 1000
		}
		panic(a.fn)
	}
	tx, act := schemas.Transaction, schemas.Activity
	amount := nan
	if v, ok := e.fields["amount"].(float64); ok {
		amount = v
	}
	maxAmt := value(agg{fn: "max", kind: tx, field: "amount", over: 2 * time.Hour})
	if math.IsNaN(maxAmt) {
		maxAmt = -1 // the feature's default
	}
	lastNG := nan
	if xs := window(agg{kind: tx, over: 24 * time.Hour}); len(xs) > 0 {
		if v, ok := xs[len(xs)-1].fields["country"].(string); ok {
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

// produceLog writes the log to the transactions and activity topics,
// keyed by entity, each record's Kafka timestamp its event time.
func produceLog(t *testing.T, addrs []string, log []logEvent) {
	t.Helper()
	var recs []*kgo.Record
	for _, e := range log {
		ev := &schemas.Event{Fields: []schemas.Field{{Name: "event_id", Value: schemas.StringValue(e.id)},
			{Name: "customer_id", Value: schemas.StringValue(e.entity)}, {Name: "event_time", Value: schemas.NumberValue(float64(e.ms))}}}
		for k, v := range e.fields {
			switch x := v.(type) {
			case nil:
				ev.Fields = append(ev.Fields, schemas.Field{Name: k, Value: schemas.Value{Kind: schemas.Null}})
			case float64:
				ev.Fields = append(ev.Fields, schemas.Field{Name: k, Value: schemas.NumberValue(x)})
			case string:
				ev.Fields = append(ev.Fields, schemas.Field{Name: k, Value: schemas.StringValue(x)})
			}
		}
		enc, _ := schemas.NewEventEncoder(schemas.JSON, e.kind, schemas.DefaultFieldNames)
		b, err := enc.Append(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		topic := "transactions"
		if e.kind == schemas.Activity {
			topic = "activity"
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(e.entity), Value: b, Timestamp: time.UnixMilli(e.ms)})
	}
	testkafka.Produce(t, addrs, recs...)
}

func entityConfig(t *testing.T, addrs []string, delivery string) (config.Config, *scoring.Scorer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "features.yaml")
	if err := os.WriteFile(path, []byte(entityFeatures), 0o644); err != nil {
		t.Fatal(err)
	}
	specs, err := scoring.ReadFeatureFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scoring.NewScorer(firstFinite{len(specs)}, specs, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, addrs, "json")
	cfg.Delivery, cfg.PredictionFeatures = delivery, true
	return cfg, sc
}

// checkEntityFeatures compares every prediction's features with the
// reference; each event must have at least one prediction (exactly one
// under exactly-once).
func checkEntityFeatures(t *testing.T, log []logEvent, preds []*kgo.Record, once bool) {
	t.Helper()
	byID := map[string]logEvent{}
	for _, e := range log {
		byID[e.id] = e
	}
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	seen := map[string]int{}
	bad := 0
	for _, r := range preds {
		p, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatalf("decode prediction: %v", err)
		}
		e, ok := byID[p.EventID]
		if !ok {
			t.Fatalf("prediction for unknown event %q", p.EventID)
		}
		seen[p.EventID]++
		if p.Features == nil {
			t.Fatalf("%s: no features in the prediction", p.EventID)
		}
		want := reference(log, e)
		for i, w := range want {
			got := p.Features.Values[i]
			w32 := float64(float32(w)) // the model computes in float32
			if math.IsNaN(w) != math.IsNaN(got) || !math.IsNaN(w) && got != w32 && math.Abs(got-w32) > 1e-6*math.Abs(w32) {
				if bad++; bad < 10 {
					t.Errorf("%s (%s at %d) feature %s = %v, reference %v", e.id, e.entity, e.ms, p.Features.Names[i], got, w)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d feature values differ from the reference", bad)
	}
	for _, e := range log {
		if n := seen[e.id]; n == 0 || once && n != 1 {
			t.Fatalf("event %s: %d predictions", e.id, n)
		}
	}
}

func entityTopics() []testkafka.Topic {
	return []testkafka.Topic{{Name: "transactions", Partitions: 3}, {Name: "activity", Partitions: 3},
		{Name: "predictions", Partitions: 3}, {Name: "predictions-dlq", Partitions: 1}}
}

// TestEntityFeaturesMatchTheReference: a log of both kinds through `run`
// in both delivery modes, stopped and restarted in the middle (the second
// run rebuilds the state from the topics): every prediction's features
// equal the brute-force reference.
func TestEntityFeaturesMatchTheReference(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			addrs := testkafka.Cluster(t, entityTopics()...)
			log := entityLog(7, 1200)
			half := len(log) / 2
			produceLog(t, addrs, log[:half])
			cfg, sc := entityConfig(t, addrs, delivery)
			var readOpts []kgo.Opt
			if delivery == "exactly-once" {
				readOpts = append(readOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			}
			run := func(n int) []*kgo.Record {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithScorer(sc))
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- p.Run(ctx) }()
				recs := testkafka.ReadN(t, addrs, "predictions", n, 60*time.Second, readOpts...)
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("drain: %v", err)
				}
				return recs
			}
			run(half)
			produceLog(t, addrs, log[half:])
			preds := run(len(log))
			checkEntityFeatures(t, log, preds, delivery == "exactly-once")
		})
	}
}

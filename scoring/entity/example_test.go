package entity_test

import (
	"fmt"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/entity"
)

// A lane aggregates each record, then observes it.
func Example() {
	specs, err := scoring.ParseFeatures([]byte(`features:
  - amount
  - name: tx_count_1h
    aggregate: {fn: count, of: transaction, over: 1h}
  - name: amount_sum_24h
    aggregate: {fn: sum, of: transaction, field: amount, over: 24h}
  - name: secs_since_login
    aggregate: {fn: since_last, of: activity, over: 720h, where: {activity_type: login}}
`))
	if err != nil {
		panic(err)
	}
	plan, err := scoring.Compile([]string{"amount", "tx_count_1h", "amount_sum_24h", "secs_since_login"}, specs)
	if err != nil {
		panic(err)
	}
	spec := entity.NewSpec(plan.Aggregates()) // the union of the lane's plans
	idx := make([]int, len(plan.Aggregates()))
	for i, a := range plan.Aggregates() {
		idx[i] = spec.Index(a)
	}
	st := entity.NewState(spec, entity.Options{MaxBytes: 1 << 30, Slack: time.Minute})

	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	records := []struct {
		kind   schemas.EventType
		after  time.Duration
		fields []schemas.Field
	}{
		{schemas.Activity, 0, []schemas.Field{{Name: "activity_type", Value: schemas.StringValue("login")}}},
		{schemas.Transaction, 90 * time.Second, []schemas.Field{{Name: "amount", Value: schemas.NumberValue(25)}}},
		{schemas.Transaction, 2 * time.Hour, []schemas.Field{{Name: "amount", Value: schemas.NumberValue(40)}}},
		{schemas.Transaction, 2 * time.Hour, []schemas.Field{{Name: "amount", Value: schemas.NumberValue(5)}}}, // same millisecond: not counted
	}
	row := make([]float32, plan.Len())
	for off, r := range records {
		ev := &schemas.Event{Type: r.kind, Entity: "c42", Time: t0.Add(r.after), Fields: r.fields}
		ev.Aggs = make([]schemas.Value, len(idx))
		st.Aggregate(ev, idx, ev.Aggs)
		stream := int32(0)
		if r.kind == schemas.Activity {
			stream = 1
		}
		st.Observe(ev, r.kind, entity.Pos{Stream: stream, Offset: int64(off)})
		if r.kind == schemas.Transaction {
			if err := plan.Extract(ev, row); err != nil {
				panic(err)
			}
			fmt.Println(row)
		}
	}
	s := st.Stats()
	fmt.Println(s.Entities, "entity,", s.Events, "events")
	// Output:
	// [25 0 0 90]
	// [40 0 25 7200]
	// [5 0 25 7200]
	// 1 entity, 4 events
}

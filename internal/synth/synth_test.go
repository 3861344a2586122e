package synth

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type logged struct {
	kind     schemas.EventType
	entity   string
	ms       int64
	fields   map[string]schemas.Value
	positive bool
}

func collect(t *testing.T, seed uint64, customers, n int, rate float64) []logged {
	t.Helper()
	g := New(seed, customers, schemas.DefaultFieldNames)
	var out []logged
	err := g.Log(n, start, rate, func(ev *schemas.Event, kind schemas.EventType, positive bool) error {
		l := logged{kind: kind, positive: positive, fields: map[string]schemas.Value{}}
		for _, f := range ev.Fields {
			l.fields[f.Name] = f.Value
		}
		l.entity = l.fields["customer_id"].Str
		l.ms = int64(l.fields["event_time"].Num)
		out = append(out, l)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLogIsDeterministicAndOrdered: a seed makes the same log; the log is
// in event-time order and its ids are unique.
func TestLogIsDeterministicAndOrdered(t *testing.T) {
	var a, b, c bytes.Buffer
	for _, x := range []struct {
		w    *bytes.Buffer
		seed uint64
	}{{&a, 3}, {&b, 3}, {&c, 4}} {
		n := 0
		if _, err := WriteLog(x.w, New(x.seed, 500, schemas.DefaultFieldNames), start, 2, func(schemas.EventType) bool { n++; return n == 20000 }); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same seed made two logs")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("two seeds made one log")
	}
	recs, err := csv.NewReader(&a).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 20001 || recs[0][0] != "event_type" || recs[0][len(recs[0])-1] != TruthColumn {
		t.Fatalf("%d rows, header %v", len(recs), recs[0])
	}
	ids := map[string]bool{}
	prev := ""
	for _, r := range recs[1:] {
		if r[3] < prev { // RFC 3339 in UTC with milliseconds sorts as text
			t.Fatalf("time %s after %s", r[3], prev)
		}
		prev = r[3]
		if ids[r[1]] {
			t.Fatalf("id %s twice", r[1])
		}
		ids[r[1]] = true
	}
}

// TestFraudFollowsHistory: about 2% of transactions are fraud; most of it
// follows failed logins of the same customer within the hour (an account
// takeover), which legitimate transactions rarely do; some fraud looks
// ordinary on its own (an amount within the customer's usual range, card
// present or the customer's own channel).
func TestFraudFollowsHistory(t *testing.T) {
	log := collect(t, 1, 5000, 300000, 0.5)
	var tx, fraud, act, takeover, fraudAfterFails, legitAfterFails int
	lastFail := map[string]int64{}
	for _, e := range log {
		switch e.kind {
		case schemas.Activity:
			act++
			if e.positive {
				takeover++
			}
			if e.fields["activity_type"].Str == "login_failed" {
				lastFail[e.entity] = e.ms
			}
		case schemas.Transaction:
			tx++
			ms, ok := lastFail[e.entity]
			after := ok && e.ms-ms <= 3600_000
			if e.positive {
				fraud++
				if after {
					fraudAfterFails++
				}
			} else if after {
				legitAfterFails++
			}
		}
	}
	share := float64(fraud) / float64(tx)
	t.Logf("%d transactions, %.2f%% fraud, %.0f%% of it after failed logins (legit: %.2f%%); %d activity, %.1f%% takeover",
		tx, 100*share, 100*float64(fraudAfterFails)/float64(fraud), 100*float64(legitAfterFails)/float64(tx-fraud), act, 100*float64(takeover)/float64(act))
	if share < 0.01 || share > 0.035 {
		t.Errorf("fraud share %.4f, want about 0.02", share)
	}
	if as := float64(act) / float64(len(log)); as < 0.25 || as > 0.45 {
		t.Errorf("activity share %.3f", as)
	}
	if f := float64(fraudAfterFails) / float64(fraud); f < 0.4 {
		t.Errorf("%.2f of fraud follows failed logins, want most of the takeovers' share", f)
	}
	if l := float64(legitAfterFails) / float64(tx-fraud); l > 0.05 {
		t.Errorf("%.3f of legitimate transactions follow failed logins", l)
	}
}

// TestNextNeverGoesBack: the live stream's event times follow the clock
// given, whatever the stories schedule.
func TestNextNeverGoesBack(t *testing.T) {
	g := New(9, 50, schemas.DefaultFieldNames)
	g.AttackRate = 0.05
	var ev schemas.Event
	at := start
	last := int64(0)
	positives := 0
	for i := 0; i < 50000; i++ {
		at = at.Add(time.Duration(g.Float64() * float64(2*time.Second)))
		kind, pos := g.Next(&ev, at)
		if pos {
			positives++
		}
		v, _ := ev.Field("event_time")
		if int64(v.Num) < last || int64(v.Num) != at.UnixMilli() {
			t.Fatalf("event %d (%s) at %v, clock %v, previous %v", i, kind, int64(v.Num), at.UnixMilli(), last)
		}
		last = int64(v.Num)
	}
	if positives == 0 {
		t.Fatal("no story was told")
	}
}

// A Live generator dates every event at the time given; otherwise a
// transaction happens on that day at a drawn hour (night hours likelier
// for fraud), which training data needs.
func TestLiveEventTimes(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
	var ev schemas.Event
	live := New(1, 100, schemas.DefaultFieldNames)
	live.Live = true
	shaped := New(1, 100, schemas.DefaultFieldNames)
	later := 0
	for i := 0; i < 2000; i++ {
		live.Transaction(&ev, at)
		if v, _ := ev.Field("event_time"); v.Num != float64(at.UnixMilli()) {
			t.Fatalf("live transaction at %v, given %v", time.UnixMilli(int64(v.Num)).UTC(), at)
		}
		live.Activity(&ev, at)
		if v, _ := ev.Field("event_time"); v.Num != float64(at.UnixMilli()) {
			t.Fatalf("live activity at %v, given %v", time.UnixMilli(int64(v.Num)).UTC(), at)
		}
		shaped.Transaction(&ev, at)
		v, _ := ev.Field("event_time")
		tm := time.UnixMilli(int64(v.Num)).UTC()
		if tm.YearDay() != at.YearDay() {
			t.Fatalf("training transaction on %v, not on the day of %v", tm, at)
		}
		if tm.After(at) {
			later++
		}
	}
	if later < 1800 {
		t.Errorf("only %d of 2000 training transactions drew an hour after 00:30", later)
	}
}

package synth

import (
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
)

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

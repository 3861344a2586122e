package window

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

type step struct {
	op   string // "add", "tick", "close"
	ms   int
	item int
	trig Trigger
}

type closed struct {
	Items   []int
	Trigger Trigger
	Opened  int
}

func TestWindow(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		steps []step
		want  []closed
	}{
		{"exact size closes at once", 3,
			[]step{{op: "add", ms: 0, item: 1}, {op: "add", ms: 1, item: 2}, {op: "add", ms: 2, item: 3}},
			[]closed{{[]int{1, 2, 3}, Size, 0}}},
		{"idle stream emits nothing", 3,
			[]step{{op: "tick", ms: 1000}, {op: "tick", ms: 5000}, {op: "close", trig: Shutdown}},
			nil},
		{"interval measured from the oldest record", 10,
			[]step{{op: "add", ms: 0, item: 1}, {op: "add", ms: 200, item: 2}, {op: "tick", ms: 249}, {op: "tick", ms: 250}, {op: "tick", ms: 400}},
			[]closed{{[]int{1, 2}, Interval, 0}}},
		{"record just before the deadline joins the batch", 10,
			[]step{{op: "add", ms: 0, item: 1}, {op: "add", ms: 249, item: 2}, {op: "tick", ms: 250}},
			[]closed{{[]int{1, 2}, Interval, 0}}},
		{"record at the deadline opens the next batch", 10,
			[]step{{op: "add", ms: 0, item: 1}, {op: "add", ms: 250, item: 2}, {op: "tick", ms: 499}, {op: "tick", ms: 500}},
			[]closed{{[]int{1}, Interval, 0}, {[]int{2}, Interval, 250}}},
		{"burst splits into full batches, remainder waits", 2,
			[]step{{op: "add", ms: 0, item: 1}, {op: "add", ms: 0, item: 2}, {op: "add", ms: 0, item: 3}, {op: "add", ms: 0, item: 4}, {op: "add", ms: 0, item: 5}, {op: "tick", ms: 100}},
			[]closed{{[]int{1, 2}, Size, 0}, {[]int{3, 4}, Size, 0}}},
		{"shutdown flushes the open batch", 10,
			[]step{{op: "add", ms: 0, item: 1}, {op: "add", ms: 10, item: 2}, {op: "close", trig: Shutdown}, {op: "tick", ms: 1000}},
			[]closed{{[]int{1, 2}, Shutdown, 0}}},
		{"revoke flushes and the next record reopens", 10,
			[]step{{op: "add", ms: 0, item: 1}, {op: "close", trig: Revoke}, {op: "add", ms: 5, item: 2}, {op: "tick", ms: 255}},
			[]closed{{[]int{1}, Revoke, 0}, {[]int{2}, Interval, 5}}},
		{"size one", 1,
			[]step{{op: "add", ms: 0, item: 1}, {op: "add", ms: 1, item: 2}},
			[]closed{{[]int{1}, Size, 0}, {[]int{2}, Size, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []closed
			var w *Window[int]
			w, err := New(tt.size, 250*time.Millisecond, func(b Batch[int]) {
				got = append(got, closed{append([]int(nil), b.Items...), b.Trigger, int(b.Opened.Sub(t0) / time.Millisecond)})
				w.Recycle(b.Items)
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.steps {
				switch s.op {
				case "add":
					w.Add(s.item, at(s.ms))
				case "tick":
					w.Tick(at(s.ms))
				case "close":
					w.Close(s.trig)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("batches = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	w, _ := New(5, time.Second, func(Batch[int]) {})
	if _, ok := w.Deadline(); ok {
		t.Fatal("empty window has a deadline")
	}
	w.Add(1, at(100))
	w.Add(2, at(900))
	if d, ok := w.Deadline(); !ok || !d.Equal(at(1100)) {
		t.Errorf("deadline = %v %v, want %v", d, ok, at(1100))
	}
	if w.Len() != 2 {
		t.Errorf("len = %d", w.Len())
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	if _, err := New(0, time.Second, func(Batch[int]) {}); err == nil {
		t.Error("size 0 accepted")
	}
	if _, err := New(1, -time.Second, func(Batch[int]) {}); err == nil {
		t.Error("negative interval accepted")
	}
}

func TestRecycledWindowDoesNotAllocate(t *testing.T) {
	var w *Window[int]
	w, _ = New(100, time.Second, func(b Batch[int]) { w.Recycle(b.Items) })
	allocs := testing.AllocsPerRun(10, func() {
		for i := 0; i < 1000; i++ {
			w.Add(i, t0)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 1000 records", allocs)
	}
}

func ExampleWindow() {
	w, _ := New(3, 250*time.Millisecond, func(b Batch[string]) {
		fmt.Println(b.Trigger, b.Items)
	})
	start := time.Unix(0, 0)
	for i, id := range []string{"a", "b", "c", "d"} {
		w.Add(id, start.Add(time.Duration(i)*time.Millisecond))
	}
	w.Tick(start.Add(time.Second)) // "d" has waited long enough
	// Output:
	// size [a b c]
	// interval [d]
}

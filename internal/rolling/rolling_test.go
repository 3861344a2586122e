package rolling

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestSumMatchesBruteForce adds counts at random (partly out-of-order)
// times and checks every sum against the definition: the counts whose step
// is one of the Slots steps ending with now's.
func TestSumMatchesBruteForce(t *testing.T) {
	type add struct {
		t int64
		k int
		d uint64
	}
	for _, span := range []time.Duration{time.Minute, time.Hour, 7 * 24 * time.Hour} {
		w, err := New(span, 3)
		if err != nil {
			t.Fatal(err)
		}
		step := w.step
		rng := rand.New(rand.NewPCG(1, uint64(span)))
		var adds []add
		now := int64(1_700_000_000_000)
		for i := 0; i < 5000; i++ {
			now += rng.Int64N(3 * step)
			at := now - rng.Int64N(step*Slots/2) // up to half a window late
			a := add{at, rng.IntN(3), uint64(rng.IntN(5))}
			// a count whose slot already holds a newer step is dropped: the
			// brute force drops it too
			if r := w.Row(at); r != nil {
				r[a.k] += a.d
				adds = append(adds, a)
			}
			if i%97 == 0 {
				got := make([]uint64, 3)
				w.Sum(now, got)
				want := make([]uint64, 3)
				cur := now / step
				for _, a := range adds {
					if e := a.t / step; e <= cur && cur-e < Slots {
						want[a.k] += a.d
					}
				}
				if got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
					t.Fatalf("span %v, add %d: sum %v, want %v", span, i, got, want)
				}
			}
		}
	}
}

// TestOldCountDropped: a count for a step whose slot holds a newer step
// is refused rather than counted in the wrong step.
func TestOldCountDropped(t *testing.T) {
	w, _ := New(time.Hour, 1)
	step := w.step
	w.Add(100*step, 0, 1)
	if r := w.Row(40 * step); r != nil { // same slot as step 100
		t.Fatal("a count 60 steps older than the slot's step was accepted")
	}
	got := []uint64{0}
	w.Sum(100*step, got)
	if got[0] != 1 {
		t.Fatalf("sum %d, want 1", got[0])
	}
	got[0] = 0
	w.Sum(160*step, got) // 60 steps later: out of the window
	if got[0] != 0 {
		t.Fatalf("sum after the window passed %d, want 0", got[0])
	}
}

func TestMerge(t *testing.T) {
	a, _ := New(time.Hour, 2)
	b, _ := New(time.Hour, 2)
	step := a.step
	a.Add(10*step, 0, 1)
	b.Add(10*step, 0, 2)
	b.Add(11*step, 1, 5)
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	got := make([]uint64, 2)
	a.Sum(11*step, got)
	if got[0] != 3 || got[1] != 5 {
		t.Fatalf("merged sum %v, want [3 5]", got)
	}
	c, _ := New(24*time.Hour, 2)
	if err := a.Merge(c); err == nil {
		t.Fatal("merging windows of different spans succeeded")
	}
}

func TestNewRefusesBadShape(t *testing.T) {
	if _, err := New(time.Millisecond, 1); err == nil {
		t.Fatal("a 1ms window was accepted")
	}
	if _, err := New(time.Hour, 0); err == nil {
		t.Fatal("a window of width 0 was accepted")
	}
}

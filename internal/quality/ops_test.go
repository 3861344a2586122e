package quality

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestApplyEqualsCalls: the simulation's actions through Apply, in chunks
// of random size and with IDs made by another store of the registry,
// leave a store in the state the Prediction and Label calls leave.
func TestApplyEqualsCalls(t *testing.T) {
	lw, pf := int64(2*24*time.Hour/time.Millisecond), int64(10*time.Minute/time.Millisecond)
	acts := simulate(rand.New(rand.NewPCG(5, 6)), lw, pf, 3000)
	reg, err := NewRegistry(Options{LabelWindow: 2 * 24 * time.Hour, PendingFor: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	calls, batched, hasher := reg.NewStore(), reg.NewStore(), reg.NewStore()
	rng := rand.New(rand.NewPCG(7, 8))
	var ops []Op
	flush := func() {
		batched.Apply(ops)
		ops = ops[:0]
	}
	for _, a := range acts {
		if a.label {
			calls.Label(a.id, a.y, at(a.t))
			ops = append(ops, Op{ID: hasher.ID(a.id), At: at(a.t).UnixMilli(), IsLabel: true, Label: a.y})
		} else {
			k := simSeries[a.series]
			calls.Prediction(a.id, k.model, k.version, a.score, at(a.t))
			ops = append(ops, Op{ID: hasher.ID(a.id), At: at(a.t).UnixMilli(), Model: k.model, Version: k.version, Score: a.score})
		}
		if rng.IntN(50) == 0 {
			flush()
		}
	}
	flush()
	now := at(acts[len(acts)-1].t)
	want, got := calls.Snapshot(now), batched.Snapshot(now)
	if len(want.Series) == 0 || want.Counts.Labels[Joined] == 0 {
		t.Fatalf("the simulation joined nothing: %+v", want.Counts)
	}
	if !reflect.DeepEqual(stripNaN(want), stripNaN(got)) {
		t.Errorf("Apply's snapshot differs:\n got %+v\nwant %+v", got, want)
	}
	batched.ZeroCounts()
	c := batched.Counts()
	if c.Predictions != 0 || c.Labels != [len(outcomeNames)]uint64{} || c.Kept != want.Counts.Kept || c.Pending != want.Counts.Pending {
		t.Errorf("after ZeroCounts: %+v (kept %d, pending %d before)", c, want.Counts.Kept, want.Counts.Pending)
	}
	if other, _ := New(Options{LabelWindow: time.Hour}); other.ID("e1") == hasher.ID("e1") {
		t.Error("a store outside the registry hashes ids with the registry's seeds")
	}
}

// stripNaN replaces NaN measures by -1, so that DeepEqual compares them.
func stripNaN(s Snapshot) Snapshot {
	fix := func(v *float64) {
		if *v != *v {
			*v = -1
		}
	}
	for i := range s.Series {
		for j := range s.Series[i].Windows {
			w := &s.Series[i].Windows[j]
			fix(&w.AUC)
			fix(&w.LogLoss)
			fix(&w.Brier)
			fix(&w.ECE)
			fix(&w.LabelRate)
			fix(&w.JoinRatio)
		}
	}
	return s
}

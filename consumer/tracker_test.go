package consumer

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

var tpA = TopicPartition{"t", 0}

func offsets(c map[TopicPartition]Commit) map[TopicPartition]int64 {
	out := map[TopicPartition]int64{}
	for tp, cm := range c {
		out[tp] = cm.Offset
	}
	return out
}

func TestTrackerCommitsOnlyContiguousAcks(t *testing.T) {
	tr := NewTracker()
	tr.Assign(tpA)
	var toks []Token
	for _, off := range []int64{10, 11, 13, 14} { // a gap (compaction, txn marker) at 12
		tok, ok := tr.Track(tpA, off, 3)
		if !ok {
			t.Fatal("not owned")
		}
		toks = append(toks, tok)
	}
	steps := []struct {
		ack  int
		want int64 // -1: nothing committable
	}{
		{1, -1}, // 11 acked, 10 still pending
		{3, -1}, // 14 acked
		{0, 12}, // 10 and 11 done: commit 12
		{2, 15}, // 13 done, 14 was done: commit 15
	}
	for _, s := range steps {
		tr.Ack(toks[s.ack])
		c := tr.Committable()
		got, ok := c[tpA]
		if s.want == -1 {
			if ok {
				t.Fatalf("after ack %d: committable %v", s.ack, got)
			}
			continue
		}
		if !ok || got.Offset != s.want || got.LeaderEpoch != 3 {
			t.Fatalf("after ack %d: committable %+v, want %d", s.ack, c, s.want)
		}
		tr.Committed(c)
		if again := tr.Committable(); len(again) != 0 {
			t.Fatalf("committed offset offered again: %v", again)
		}
	}
	if tr.InFlight() != 0 {
		t.Errorf("in flight = %d", tr.InFlight())
	}
}

func TestTrackerIgnoresStaleEpochs(t *testing.T) {
	tr := NewTracker()
	tr.Assign(tpA)
	old, _ := tr.Track(tpA, 5, 0)
	tr.Drop(tpA) // revoked
	if _, ok := tr.Track(tpA, 6, 0); ok {
		t.Fatal("tracked a record of a dropped partition")
	}
	tr.Ack(old)
	if c := tr.Committable(); len(c) != 0 {
		t.Fatalf("commit for a dropped partition: %v", c)
	}
	tr.Assign(tpA) // assigned back: a new epoch
	fresh, _ := tr.Track(tpA, 5, 0)
	c0 := tr.Committable()
	tr.Ack(old) // late ack from the earlier assignment
	if c := tr.Committable(); len(c) != 0 || len(c0) != 0 {
		t.Fatalf("stale ack released an offset: %v", c)
	}
	tr.Ack(fresh)
	c := tr.Committable()
	if offsets(c)[tpA] != 6 {
		t.Fatalf("committable = %v", c)
	}
	tr.Drop(tpA)
	tr.Assign(tpA)
	tr.Committed(c) // the commit result of the old epoch must not stick
	tok, _ := tr.Track(tpA, 6, 0)
	tr.Ack(tok)
	if got := offsets(tr.Committable())[tpA]; got != 7 {
		t.Fatalf("committable after reassign = %d", got)
	}
}

func TestTrackerWait(t *testing.T) {
	tr := NewTracker()
	tpB := TopicPartition{"t", 1}
	tr.Assign(tpA, tpB)
	a, _ := tr.Track(tpA, 0, 0)
	b, _ := tr.Track(tpB, 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := tr.Wait(ctx, tpA); err == nil {
		t.Fatal("Wait returned with a record in flight")
	}
	done := make(chan error, 1)
	go func() { done <- tr.Wait(context.Background(), tpA) }()
	tr.Ack(b) // another partition: must not release the waiter
	select {
	case err := <-done:
		t.Fatalf("Wait returned early: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	tr.Ack(a)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the ack")
	}
}

func TestTrackerCompactsLongRuns(t *testing.T) {
	tr := NewTracker()
	tr.Assign(tpA)
	first, _ := tr.Track(tpA, 0, 0)
	var toks []Token
	for off := int64(1); off < 5000; off++ {
		tok, _ := tr.Track(tpA, off, 0)
		toks = append(toks, tok)
	}
	for _, tok := range toks[:3000] {
		tr.Ack(tok)
	}
	if c := tr.Committable(); len(c) != 0 {
		t.Fatalf("committable with offset 0 pending: %v", c)
	}
	tr.Ack(first)
	if got := offsets(tr.Committable())[tpA]; got != 3001 {
		t.Fatalf("committable = %d, want 3001", got)
	}
	for _, tok := range toks[3000:] {
		tr.Ack(tok)
	}
	if got := offsets(tr.Committable())[tpA]; got != 5000 || tr.InFlight() != 0 {
		t.Fatalf("committable = %d, in flight %d", got, tr.InFlight())
	}
}

// TestTrackerRedelivery: a client may deliver offsets it delivered before
// (it rewinds after a leader-epoch change). The redelivered records are
// scored again, but they must not add entries that no ack can release:
// commits keep advancing and Wait returns.
func TestTrackerRedelivery(t *testing.T) {
	tr := NewTracker()
	tr.Assign(tpA)
	var first []Token
	for off := int64(0); off < 5; off++ {
		tok, _ := tr.Track(tpA, off, 0)
		first = append(first, tok)
	}
	tr.Ack(first[0])
	tr.Ack(first[1]) // 0 and 1 released, 2..4 pending
	var again []Token
	for off := int64(1); off < 7; off++ { // rewound to 1: 1..4 again, then 5, 6 new
		tok, ok := tr.Track(tpA, off, 0)
		if !ok {
			t.Fatal("not owned")
		}
		again = append(again, tok)
	}
	for _, tok := range again {
		tr.Ack(tok) // acks of the redelivered copies and of 5, 6
	}
	if got := offsets(tr.Committable())[tpA]; got != 2 {
		t.Fatalf("committable %d, want 2 (offsets 2..4 of the first delivery are not acked)", got)
	}
	for _, tok := range first[2:] {
		tr.Ack(tok)
	}
	if got := offsets(tr.Committable())[tpA]; got != 7 || tr.InFlight() != 0 {
		t.Fatalf("committable %d, in flight %d, want 7 and 0", got, tr.InFlight())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := tr.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// TestTrackerForget: the tail of a poll that will not be processed is
// forgotten: Wait stops waiting for it, nothing at or past it becomes
// committable, and the offsets are tracked afresh when fetched again.
func TestTrackerForget(t *testing.T) {
	tpB := TopicPartition{"t", 1}
	tr := NewTracker()
	tr.Assign(tpA, tpB)
	var toks []Token
	for _, r := range []struct {
		tp  TopicPartition
		off int64
	}{{tpA, 0}, {tpB, 0}, {tpA, 1}, {tpA, 2}, {tpB, 1}, {tpA, 3}} {
		tok, _ := tr.Track(r.tp, r.off, 0)
		toks = append(toks, tok)
	}
	tr.Ack(toks[0])
	tr.Ack(toks[1])
	tr.Ack(toks[2])    // A:0,1 and B:0 done; A:2 is the poll's first unprocessed record
	tr.Forget(toks[0]) // not at the tail: ignored
	if n := tr.InFlight(); n != 3 {
		t.Fatalf("in flight %d, want 3", n)
	}
	tr.Forget(toks[3:]...)
	if n := tr.InFlight(); n != 0 {
		t.Fatalf("in flight after Forget %d, want 0", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := tr.Wait(ctx); err != nil {
		t.Fatalf("Wait after Forget: %v", err)
	}
	if got := offsets(tr.Committable()); got[tpA] != 2 || got[tpB] != 1 {
		t.Fatalf("committable %v, want A:2 B:1", got)
	}
	tok, _ := tr.Track(tpA, 2, 0) // fetched again
	if tr.InFlight(tpA) != 1 {
		t.Fatal("a forgotten offset fetched again is not tracked")
	}
	tr.Ack(tok)
	if got := offsets(tr.Committable(tpA)); got[tpA] != 3 {
		t.Fatalf("committable %v, want A:3", got)
	}
}

// TestTrackerCommitsTheCommittedLeaderEpoch: a commit carries the leader
// epoch of the last record below the committed offset, not that of the
// newest record tracked (a leader change between the two must not be
// claimed for the commit).
func TestTrackerCommitsTheCommittedLeaderEpoch(t *testing.T) {
	tr := NewTracker()
	tr.Assign(tpA)
	a, _ := tr.Track(tpA, 0, 4)
	b, _ := tr.Track(tpA, 1, 5) // the leader changed
	_, _ = tr.Track(tpA, 2, 6)
	tr.Ack(a)
	if c := tr.Committable()[tpA]; c.Offset != 1 || c.LeaderEpoch != 4 {
		t.Fatalf("commit %+v, want offset 1 epoch 4", c)
	}
	tr.Ack(b)
	if c := tr.Committable()[tpA]; c.Offset != 2 || c.LeaderEpoch != 5 {
		t.Fatalf("commit %+v, want offset 2 epoch 5", c)
	}
}

func TestTrackerWaitBelow(t *testing.T) {
	tr := NewTracker()
	tr.Assign(tpA)
	var toks []Token
	for off := range int64(10) {
		tok, _ := tr.Track(tpA, off, 0)
		toks = append(toks, tok)
	}
	done := make(chan error, 1)
	go func() { done <- tr.WaitBelow(context.Background(), 8) }()
	tr.Ack(toks[5]) // not contiguous: nothing released
	tr.Ack(toks[0])
	select {
	case err := <-done:
		t.Fatalf("WaitBelow returned with 9 in flight: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
	tr.Ack(toks[1]) // 8 in flight
	tr.Ack(toks[2]) // 7
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitBelow did not return")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := tr.WaitBelow(ctx, 3); err == nil {
		t.Fatal("WaitBelow(3) returned with 7 in flight")
	}
}

// TestTrackerConcurrentAcks acks a long run of records from many
// goroutines in random order while another partition is tracked: the
// commit reaches the end exactly, and the in-flight count returns to zero.
func TestTrackerConcurrentAcks(t *testing.T) {
	tr := NewTracker()
	tpB := TopicPartition{"t", 1}
	tr.Assign(tpA, tpB)
	const n = 20000
	toks := make([]Token, 0, n)
	for off := range int64(n) {
		tok, _ := tr.Track(tpA, off, 1)
		toks = append(toks, tok)
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(toks), func(i, j int) { toks[i], toks[j] = toks[j], toks[i] })
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				toks[i].Ack()
			}
		}()
	}
	wg.Add(1)
	go func() { // tracking and acking the other partition meanwhile
		defer wg.Done()
		for off := range int64(n) {
			tok, _ := tr.Track(tpB, off, 1)
			tok.Ack()
			_ = tr.Committable(tpA)
		}
	}()
	wg.Wait()
	c := tr.Committable()
	if c[tpA].Offset != n || c[tpB].Offset != n || tr.InFlight() != 0 {
		t.Fatalf("committable %v, in flight %d", c, tr.InFlight())
	}
}

// TestTrackerAckAllocatesNothing: acks run per record on producer
// goroutines.
func TestTrackerAckAllocatesNothing(t *testing.T) {
	tr := NewTracker()
	tr.Assign(tpA)
	h, _ := tr.Partition(tpA)
	off := int64(0)
	if n := testing.AllocsPerRun(1000, func() {
		tok, _ := h.Track(off, 0)
		off++
		tok.Ack()
	}); n > 0 {
		t.Errorf("%v allocations per track and ack", n)
	}
}

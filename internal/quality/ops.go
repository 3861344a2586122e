package quality

import "hash/maphash"

// ID is an event id as a store keeps it: its 128-bit hash (see Store.ID).
type ID = key

// ID hashes an event id for Apply. The stores of one Registry share their
// hash seeds, so an ID made by any of them is valid in all (a lane's
// store is replaced on revoke while the lane's ops wait). Safe for
// concurrent use; it does not allocate or keep eventID.
func (s *Store) ID(eventID string) ID { return s.key(eventID) }

// Op is one prediction or label for Apply: what Prediction and Label take,
// with the event id hashed (Store.ID) and the time in Unix milliseconds,
// so that a caller can gather a batch's (or a transaction's) calls in a
// reused slice and hand them over under one lock.
type Op struct {
	ID ID
	At int64 // unix ms: a prediction's time, or a label record's
	// A prediction (IsLabel false): its model, version and score.
	Model, Version string
	Score          float64
	// A label (IsLabel true): its value.
	IsLabel bool
	Label   int
}

// Apply records ops in order, as the Prediction and Label calls they
// stand for would, under one lock.
func (s *Store) Apply(ops []Op) {
	if len(ops) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range ops {
		op := &ops[i]
		if op.IsLabel {
			s.label(op.ID, op.Label, op.At)
		} else {
			s.prediction(op.ID, op.Model, op.Version, op.Score, op.At)
		}
	}
}

// ZeroCounts sets the cumulative counters to zero, keeping the state
// (predictions, pending labels, pairs): after a rebuild replayed records
// that were counted when they were first read, so that a rebalance does
// not count them twice.
func (s *Store) ZeroCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = Counts{}
}

// newSeeds are a store's two independent hash seeds.
func newSeeds() [2]maphash.Seed { return [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()} }

// ID hashes an event id as the registry's stores do (Store.ID).
func (r *Registry) ID(eventID string) ID {
	return key{maphash.String(r.seeds[0], eventID), maphash.String(r.seeds[1], eventID)}
}

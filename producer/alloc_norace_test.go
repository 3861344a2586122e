//go:build !race

package producer

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/schemas"
)

// TestNewEnvelopeAllocations: an envelope made anew (the pool is empty
// while the records in flight grow, and after garbage collections) holds a
// typical JSON prediction in the buffer it is made with: two allocations,
// not one per doubling of the buffer.
func TestNewEnvelopeAllocations(t *testing.T) {
	enc, err := schemas.NewPredictionEncoder(schemas.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var p envelopes[int64]
	pr, from := pred("tx-1a2b3c-123456", "cust-004711"), &kgo.Record{Topic: "transactions", Value: []byte("{}")}
	var size int
	got := testing.AllocsPerRun(100, func() {
		e := p.get() // never put back: always new
		if err := e.setPrediction(enc, pr, from, "predictions"); err != nil {
			t.Fatal(err)
		}
		size = len(e.buf)
	})
	if got > 2 {
		t.Errorf("%.0f allocations for a new envelope's %d-byte prediction, want 2 (the envelope, its buffer)", got, size)
	}
}

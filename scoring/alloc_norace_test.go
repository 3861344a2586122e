//go:build !race

package scoring

import "testing"

// TestTopReasonsIntoNilAllocatesOnce: from nothing, one allocation for the
// k reasons, not one per append (the race detector adds its own, hence
// the build tag).
func TestTopReasonsIntoNilAllocatesOnce(t *testing.T) {
	c := []float32{0.1, -0.5, 0.3, 0, 0.2, -0.05, 9}
	x := []float32{1, 2, 3, 4, 5, 6}
	var dst []Reason
	if a := testing.AllocsPerRun(100, func() { dst = TopReasons(nil, c, x, 3) }); a != 1 {
		t.Errorf("TopReasons into nil allocates %v times, want 1", a)
	}
	if len(dst) != 3 {
		t.Errorf("%d reasons, want 3", len(dst))
	}
}

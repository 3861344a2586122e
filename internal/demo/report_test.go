package demo

import (
	"strings"
	"testing"
	"time"
)

// The per-second line says what its figures count: events of both kinds
// produced and scored in the second, then totals named as the final
// summary names them.
func TestReportLine(t *testing.T) {
	got := reportLine(3*time.Second, 2000, 1990, 5970, 2, 27*time.Millisecond, 44*time.Millisecond)
	for _, want := range []string{"3s", "produced    2000 events/s", "scored    1990 events/s", "predictions      5970", "dead letters 2", "p50 27ms", "p99 44ms"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}

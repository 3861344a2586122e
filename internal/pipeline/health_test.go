package pipeline

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestHealth(t *testing.T) {
	type step struct {
		at   time.Duration // since the start
		do   func(h *health)
		want string // substring of unready(), or "" for ready
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a deleted topic lasts until the check sees it again", []step{
			{0, func(h *health) { h.checkTopic("in", false, nil) }, `topic "in" does not exist`},
			{time.Hour, nil, `topic "in" does not exist`},
			{time.Hour, func(h *health) { h.checkTopic("in", true, nil) }, ""},
		}},
		{"a transient metadata error changes nothing", []step{
			{0, func(h *health) { h.checkTopic("in", true, kerr.LeaderNotAvailable) }, ""},
			{0, func(h *health) { h.checkTopic("in", false, nil) }, "does not exist"},
			{time.Second, func(h *health) { h.checkTopic("in", true, kerr.LeaderNotAvailable) }, "does not exist"},
		}},
		{"an authorization error from a fetch lasts while it recurs", []step{
			{0, func(h *health) { h.clientError("in", kerr.TopicAuthorizationFailed) }, `not authorized for topic "in"`},
			{8 * time.Second, func(h *health) { h.clientError("in", kerr.TopicAuthorizationFailed) }, "not authorized"},
			{17 * time.Second, nil, "not authorized"},
			{19 * time.Second, nil, ""},
		}},
		{"retriable errors are not conditions", []step{
			{0, func(h *health) { h.clientError("in", kerr.NotLeaderForPartition) }, ""},
			{0, func(h *health) { h.clientError("", fmt.Errorf("commit: %w", kerr.RebalanceInProgress)) }, ""},
		}},
		{"conditions are listed together", []step{
			{0, func(h *health) {
				h.clientError("", fmt.Errorf("commit: %w", kerr.GroupAuthorizationFailed))
				h.checkTopic("out", false, nil)
			}, `not authorized for the consumer group`},
			{0, nil, `topic "out" does not exist`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := newHealth(slog.New(slog.NewTextHandler(&logs, nil)), 10*time.Second)
			start := time.Unix(1_800_000_000, 0)
			for i, s := range tt.steps {
				h.now = func() time.Time { return start.Add(s.at) }
				if s.do != nil {
					s.do(h)
				}
				got := h.unready()
				if s.want == "" && got != "" || !strings.Contains(got, s.want) {
					t.Fatalf("step %d: unready() = %q, want %q", i, got, s.want)
				}
			}
		})
	}
}

// TestHealthLogs: a condition is logged when it starts, not on every
// report, and again when it ends.
func TestHealthLogs(t *testing.T) {
	var logs bytes.Buffer
	h := newHealth(slog.New(slog.NewTextHandler(&logs, nil)), time.Second)
	now := time.Unix(1_800_000_000, 0)
	h.now = func() time.Time { return now }
	for i := 0; i < 50; i++ {
		h.clientError("in", kerr.TopicAuthorizationFailed)
		now = now.Add(100 * time.Millisecond)
	}
	now = now.Add(2 * time.Second)
	h.unready()
	out := logs.String()
	if n := strings.Count(out, "level=ERROR"); n != 1 {
		t.Errorf("%d error lines for one condition:\n%s", n, out)
	}
	if !strings.Contains(out, "level=INFO msg=\"recovered: not authorized") {
		t.Errorf("no recovery line:\n%s", out)
	}
}

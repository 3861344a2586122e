package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
)

// TestDemoScoresWhatItProduces: the demo scores what it produces with the
// bundled models, on co-partitioned topics (the pipeline refuses others
// when the fraud model's aggregates need the entity state), and tells the
// story of a customer whose purchase scores higher after failed logins.
func TestDemoScoresWhatItProduces(t *testing.T) {
	for _, enc := range []schemas.Encoding{schemas.JSON, schemas.Avro} {
		t.Run(string(enc), func(t *testing.T) {
			var out bytes.Buffer
			sum, err := Run(context.Background(), Options{
				Port: 0, Rate: 1000, Duration: 8 * time.Second, Encoding: enc, Out: &out,
				Environ: map[string]string{"BATCH_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s"},
			})
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			text := out.String()
			for _, want := range []string{"embedded Kafka broker listening on 127.0.0.1:", "scored", "latency p50", "sample: fraud", "sample: takeover",
				"transactions -> model fraud", "activity -> model takeover", "stopped after",
				"story: cust-story fails to log in 6 times from NG, on a new device -> takeover", "story: the same purchase scored"} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			// the story: the same purchase, before and after the failed
			// logins, as the fraud model scores it from the history
			if !(sum.StoryBefore < 0.1 && sum.StoryAfter > 0.5) {
				t.Errorf("story: the same purchase scored %v before the failed logins and %v after\n%s", sum.StoryBefore, sum.StoryAfter, text)
			}
			if sum.Predictions < 3000 || sum.DeadLetters != 0 || sum.Consumed != sum.Predictions+sum.DeadLetters || sum.Consumed > sum.Sent {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

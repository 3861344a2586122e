package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
)

func TestDemoScoresWhatItProduces(t *testing.T) {
	for _, enc := range []schemas.Encoding{schemas.JSON, schemas.Avro} {
		t.Run(string(enc), func(t *testing.T) {
			var out bytes.Buffer
			sum, err := Run(context.Background(), Options{
				Port: 0, Rate: 1000, Duration: 6 * time.Second, Encoding: enc, Out: &out,
				Environ: map[string]string{"BATCH_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s"},
			})
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			text := out.String()
			for _, want := range []string{"embedded Kafka broker listening on 127.0.0.1:", "scored", "latency p50", "sample: fraud", "sample: takeover", "transactions -> model fraud", "activity -> model takeover", "stopped after"} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			if sum.Predictions < 3000 || sum.DeadLetters != 0 || sum.Consumed != sum.Predictions+sum.DeadLetters || sum.Consumed > sum.Sent {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

package pipeline

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// TestBackpressurePausesFetching: the broker stops acknowledging
// predictions. Once MAX_IN_FLIGHT_RECORDS (or MAX_IN_FLIGHT_BYTES) is
// reached, fetching pauses: the broker sees no fetch request for a while,
// and no more records are polled than the limit plus one poll. When the
// acknowledgements come back, fetching resumes and every event is
// predicted.
func TestBackpressurePausesFetching(t *testing.T) {
	for _, tt := range []struct {
		name             string
		records, bytes   string
		wantRecordsBound bool
	}{
		{"records limit", "300", "67108864", true},
		{"bytes limit", "100000", "1048576", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, addrs := testkafka.ClusterHandle(t, topics()...)
			want := map[string]sent{}
			// 4000 events with 400-byte values: 1.6 MB, over the 1 MiB bytes limit
			pad := strings.Repeat("p", 300)
			produceEventsPadded(t, addrs, "transactions", 4000, pad, want)
			cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
				"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "BATCH_INTERVAL": "20ms",
				"BATCH_MAX_SIZE": "100", "COMMIT_INTERVAL": "50ms", "MAX_IN_FLIGHT_RECORDS": tt.records, "MAX_IN_FLIGHT_BYTES": tt.bytes})

			// Hold every produce (the events are written already) until release.
			release := make(chan struct{})
			var releaseOnce sync.Once
			t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
			c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				c.SleepControl(func() { <-release })
				return nil, nil, false
			})
			var fetches atomic.Int64
			c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				fetches.Add(1)
				return nil, nil, false
			})

			p, stop := runFor(t, cfg)
			waitFor(t, p.FetchPaused, "fetching paused")
			time.Sleep(300 * time.Millisecond) // a fetch in flight at the pause may still land
			before, polled := fetches.Load(), p.Stats().Consumed.Load()
			time.Sleep(time.Second)
			if after := fetches.Load(); after != before {
				t.Errorf("%d fetch requests while paused", after-before)
			}
			if p.Stats().Consumed.Load() != polled {
				t.Errorf("records polled while paused")
			}
			if tt.wantRecordsBound && polled >= 300+100 {
				t.Errorf("%d records polled with MAX_IN_FLIGHT_RECORDS=300 and BATCH_MAX_SIZE=100", polled)
			}
			if !tt.wantRecordsBound && polled >= 4000 {
				t.Errorf("all %d records polled with MAX_IN_FLIGHT_BYTES=1MiB", polled)
			}
			releaseOnce.Do(func() { close(release) })
			readAllEvents(t, addrs, want)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if n := p.Stats().Predictions.Load(); n < int64(len(want)) {
				t.Fatalf("%d predictions for %d events", n, len(want))
			}
			if p.FetchPaused() || p.Stats().FetchPauses.Load() == 0 {
				t.Errorf("paused at the end %v, pauses %d", p.FetchPaused(), p.Stats().FetchPauses.Load())
			}
			checkCommittedAtEnd(t, addrs, cfg.GroupID)
			t.Logf("%d records polled before the pause; %d pauses over %d events", polled, p.Stats().FetchPauses.Load(), len(want))
		})
	}
}

// produceEventsPadded writes n JSON transactions whose values carry pad in
// an extra field (ignored by the model).
func produceEventsPadded(t *testing.T, addrs []string, topic string, n int, pad string, want map[string]sent) {
	t.Helper()
	produceEventsWith(t, addrs, schemas.JSON, schemas.Transaction, topic, 0, n, want, func(ev *schemas.Event) {
		ev.Fields = append(ev.Fields, schemas.Field{Name: "note", Value: schemas.StringValue(pad)})
	})
}

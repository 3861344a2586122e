package pipeline

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// TestReadinessCommitRefused: the broker answers the group's offset
// commits with UNKNOWN_TOPIC_ID for every partition (the input topic was
// deleted and recreated under the same name). The service turns unready
// with a reason that names the input topic, not an empty one.
func TestReadinessCommitRefused(t *testing.T) {
	c, addrs := testkafka.ClusterHandle(t, topics()...)
	cfg := testConfig(t, addrs, "json")
	cfg.InputTopics = []string{"transactions"}
	p, stop := startReady(t, cfg, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = stop() })
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID // newer versions name topics by id
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownTopicID.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 20, want)
	waitReason(t, p, `topic "transactions" was deleted`)
	if _, reason := p.Ready(); strings.Contains(reason, `topic ""`) {
		t.Fatalf("reason %q names no topic", reason)
	}
}

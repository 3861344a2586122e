package testkafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic is a topic to create with its partition count.
type Topic struct {
	Name       string
	Partitions int32
}

// Cluster starts a kfake cluster with the topics and returns its addresses.
func Cluster(t testing.TB, topics ...Topic) []string {
	t.Helper()
	_, addrs := ClusterHandle(t, topics...)
	return addrs
}

// ClusterHandle is Cluster that also returns the cluster, for tests that
// stop it or inject faults.
func ClusterHandle(t testing.TB, topics ...Topic) (*kfake.Cluster, []string) {
	t.Helper()
	return ClusterWith(t, []kfake.Opt{kfake.NumBrokers(1)}, topics...)
}

// ClusterWith is ClusterHandle with kfake options (brokers, SASL, TLS,
// ACLs) instead of the single plain broker.
func ClusterWith(t testing.TB, opts []kfake.Opt, topics ...Topic) (*kfake.Cluster, []string) {
	t.Helper()
	opts = append([]kfake.Opt{}, opts...)
	for _, tp := range topics {
		opts = append(opts, kfake.SeedTopics(tp.Partitions, tp.Name))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// ClientOpts are options that make clients notice topic changes quickly.
func ClientOpts() []kgo.Opt {
	return []kgo.Opt{kgo.MetadataMinAge(50 * time.Millisecond), kgo.MetadataMaxAge(time.Second)}
}

// Client returns a plain client (closed on cleanup).
func Client(t testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, ClientOpts()...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Produce writes records synchronously and fails the test on any error.
func Produce(t testing.TB, addrs []string, recs ...*kgo.Record) {
	t.Helper()
	cl := Client(t, addrs, kgo.DefaultProduceTopic("unused"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// ReadN reads records of a topic from the start until it has n of them or
// the timeout passes, then also waits briefly for extras (to catch
// duplicates) and returns everything it read.
func ReadN(t testing.TB, addrs []string, topic string, n int, timeout time.Duration, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := Client(t, addrs, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	extra, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	out = append(out, cl.PollFetches(extra).Records()...)
	return out
}

// Committed returns a group's committed offsets.
func Committed(t testing.TB, addrs []string, group string) kadm.OffsetResponses {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := kadm.NewClient(Client(t, addrs)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// EndOffsets returns the end offsets of topics.
func EndOffsets(t testing.TB, addrs []string, topics ...string) kadm.ListedOffsets {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := kadm.NewClient(Client(t, addrs)).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

package producer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultMaxMessageBytes is the batch cap used for a topic whose
// max.message.bytes is unknown: franz-go's default, which matches Kafka's
// default.
const DefaultMaxMessageBytes = 1_000_012

// Limits holds the max.message.bytes of the topics a client produces to.
//
// Kafka refuses a whole record batch that is larger than the topic's
// max.message.bytes, and franz-go does not split a refused batch: one
// oversized prediction would fail the good records batched with it. A
// client built with Opt caps its batches at each topic's limit, so good
// records never share a refused batch, and a single record over the limit
// fails alone (kerr.MessageTooLarge) before it is sent.
//
// franz-go measures a batch before compression and the broker after it,
// so the cap errs on the safe side: with compression on, a record that
// would compress below the limit but is larger than it uncompressed is
// refused too.
//
// Opt must be passed to the client before Load runs, and Load must run
// before the first record is produced: franz-go asks for a topic's cap once,
// when it first produces to one of its partitions. Safe for concurrent use.
type Limits struct {
	m atomic.Pointer[map[string]int32]
}

// Opt is the client option that caps each topic's batches at its limit.
func (l *Limits) Opt() kgo.Opt {
	return kgo.ProducerBatchMaxBytesFn(l.For)
}

// For is the batch cap of topic: its max.message.bytes, or
// DefaultMaxMessageBytes when unknown.
func (l *Limits) For(topic string) int32 {
	if m := l.m.Load(); m != nil {
		if v, ok := (*m)[topic]; ok {
			return v
		}
	}
	return DefaultMaxMessageBytes
}

// Set records limits directly (tests, or a caller that knows them).
func (l *Limits) Set(limits map[string]int32) {
	m := make(map[string]int32, len(limits))
	for t, v := range limits {
		m[t] = min(max(v, 512), 1<<30) // franz-go accepts [512, 1 GiB]
	}
	l.m.Store(&m)
}

// Load reads the topics' max.message.bytes from the brokers
// (DescribeConfigs). On an error (a broker that does not allow
// DescribeConfigs, say) the limits stay unknown and the caller may go on
// with the default cap; the error says which topic failed.
func (l *Limits) Load(ctx context.Context, cl *kgo.Client, topics ...string) error {
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return fmt.Errorf("describe topic configs: %w", err)
	}
	limits := map[string]int32{}
	var errs []error
	for _, rc := range rcs {
		if rc.Err != nil {
			errs = append(errs, fmt.Errorf("topic %q: %w", rc.Name, rc.Err))
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			v, err := strconv.ParseInt(*c.Value, 10, 32)
			if err != nil {
				errs = append(errs, fmt.Errorf("topic %q: max.message.bytes=%q: %w", rc.Name, *c.Value, err))
				continue
			}
			limits[rc.Name] = int32(v)
		}
	}
	l.Set(limits)
	return errors.Join(errs...)
}

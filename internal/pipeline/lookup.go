package pipeline

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/httpapi"
	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/outcome"
)

// entityLookup answers /v1/predict from the lanes' entity state: an
// event's entity is placed in the partition its producer's partitioner
// would choose for the entity id as the key (ENTITY_PARTITIONER), and is
// scored by that partition's lane when this member owns it.
type entityLookup struct {
	p    *Pipeline
	hash func(key []byte, n int) int32
}

func newEntityLookup(p *Pipeline) *entityLookup {
	return &entityLookup{p: p, hash: EntityPartitioner(p.cfg.EntityPartitioner)}
}

// EntityPartitioner is the partition of a key among n, as the producers'
// partitioner named by ENTITY_PARTITIONER places it: murmur2 (Kafka's Java
// client, Kafka Streams, franz-go) or crc32 (librdkafka's default
// consistent_random, kcat). Safe for concurrent use.
func EntityPartitioner(name string) func(key []byte, n int) int32 {
	if name == "crc32" {
		// crc32 of the key, unsigned modulo; franz-go documents this
		// hasher as librdkafka's consistent partitioner on 64-bit platforms
		h := kgo.SaramaHasher(crc32.ChecksumIEEE)
		return func(key []byte, n int) int32 { return int32(h(key, n)) }
	}
	return func(key []byte, n int) int32 {
		// Kafka's own: murmur2, sign bit masked; a keyed record's
		// partition depends on its key only, so one partitioner serves all
		return int32(murmur2.Partition(&kgo.Record{Key: key}, n))
	}
}

var murmur2 = kgo.StickyKeyPartitioner(nil).ForTopic("")

// Score implements httpapi.EntityScorer.
func (l *entityLookup) Score(ctx context.Context, topic string, recs []*outcome.Record, ex outcome.Explain) error {
	n := l.p.partitions[topic]
	if n <= 0 {
		return fmt.Errorf("%w: the partitions of %s are not known yet", httpapi.ErrStateNotReady, topic)
	}
	byPart := map[int32][]*outcome.Record{}
	var mis *httpapi.MisdirectedError
	rn := l.p.current() // one runner for the whole request (a new exactly-once session may replace it)
	for _, r := range recs {
		if r.Dead() {
			continue
		}
		p := l.hash([]byte(r.Event.Entity), n)
		// the lane holds partition p of every input topic: ownership of
		// the request's topic is ownership of the entity's state
		if !rn.owns(lane.Partition{Topic: topic, Partition: p}) {
			if mis == nil {
				mis = &httpapi.MisdirectedError{Topic: topic}
			}
			if !slices.Contains(mis.Partitions, p) {
				mis.Partitions = append(mis.Partitions, p)
				mis.Entities = append(mis.Entities, r.Event.Entity)
			}
			continue
		}
		byPart[p] = append(byPart[p], r)
	}
	if mis != nil {
		return mis
	}
	for p, rs := range byPart {
		err := rn.probe(ctx, lane.Partition{Topic: topic, Partition: p}, rs, ex)
		if errors.Is(err, lane.ErrRebuilding) {
			return fmt.Errorf("%w: partition %d of %s is being rebuilt", httpapi.ErrStateNotReady, p, topic)
		}
		if err != nil {
			return fmt.Errorf("partition %d of %s: %w", p, topic, err)
		}
	}
	return nil
}

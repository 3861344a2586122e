package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/lane"
)

// progress watches that the records waiting in the owned partitions are
// read: a client that answers pings but reads nothing (reconnecting its
// fetches or rejoining the group after a broker restart) makes the
// service unready until its next poll brings records.
//
// The poll loops tell it each polled partition's next offset (once per
// partition and poll, not per record); the pinger checks it once per ping
// interval. The verdict "stalled" is given only when no poll brought
// records for a whole interval while some owned, unpaused partition has
// at least two offsets beyond what was read and committed (one offset
// beyond is the commit marker that ends a producer's transaction), and it
// ends with the next poll that brings records. Safe for concurrent use.
type progress struct {
	mu   sync.Mutex
	next map[lane.Partition]int64 // the offset after the last record polled

	polls   atomic.Int64 // polled partitions with records, ever
	armed   bool         // the last check ran with partitions assigned (the pinger's own)
	checked int64        // polls at the last check (the pinger's own)
	verdict atomic.Pointer[stall]
}

// stall is a verdict: valid while no poll has brought records since.
type stall struct {
	msg   string
	polls int64
}

func newProgress() *progress { return &progress{next: map[lane.Partition]int64{}} }

// polled records that a poll brought records of topic/partition up to
// next−1.
func (pr *progress) polled(topic string, partition int32, next int64) {
	pr.mu.Lock()
	pr.next[lane.Partition{Topic: topic, Partition: partition}] = next
	pr.mu.Unlock()
	pr.polls.Add(1)
}

// stalled returns the verdict's message while it holds, "" otherwise.
func (pr *progress) stalled() string {
	if v := pr.verdict.Load(); v != nil && v.polls == pr.polls.Load() {
		return v.msg
	}
	return ""
}

// positions returns the offsets polled so far.
func (pr *progress) positions() map[lane.Partition]int64 {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	out := make(map[lane.Partition]int64, len(pr.next))
	for tp, o := range pr.next {
		out[tp] = o
	}
	return out
}

// offsetSource is what a check asks the brokers: the end offsets and the
// group's committed offsets of topics.
type offsetSource interface {
	ends(ctx context.Context, topics []string) (map[lane.Partition]int64, error)
	committed(ctx context.Context) (map[lane.Partition]int64, error)
}

// disarm is told that the member owns nothing now (or waits for a
// rebuild, which holds its records on purpose): the next check only sets
// its baseline, so that a verdict always covers a whole interval of
// ownership. It returns the message of the verdict it ends, if any.
func (pr *progress) disarm() (ended string) {
	pr.armed = false
	if v := pr.verdict.Swap(nil); v != nil {
		return v.msg
	}
	return ""
}

// check runs once per ping interval, after a successful ping, while the
// member owns partitions: when no poll brought records since the previous
// check, it compares the owned, unpaused partitions' positions with their
// end offsets. It returns the verdict's message when a stall starts, and
// the old one's when it ends; an unanswered query leaves the verdict as it
// is (the next ping tells whether the brokers answer).
func (pr *progress) check(ctx context.Context, src offsetSource, topics []string, owns func(lane.Partition) bool,
	paused func(lane.Partition) bool, interval time.Duration) (started, ended string) {
	polls := pr.polls.Load()
	last, armed := pr.checked, pr.armed
	pr.checked, pr.armed = polls, true
	if !armed {
		return "", ""
	}
	if polls != last { // records came since the previous check
		if v := pr.verdict.Swap(nil); v != nil {
			return "", v.msg
		}
		return "", ""
	}
	ends, err := src.ends(ctx, topics)
	if err != nil {
		return "", ""
	}
	pos := pr.positions()
	var committed map[lane.Partition]int64
	asked := false // committed is asked for once, if some partition counts
	var waiting []string
	var total int64
	for tp, end := range ends {
		if !owns(tp) || paused(tp) {
			continue
		}
		at, ok := pos[tp]
		if !asked {
			if committed, err = src.committed(ctx); err != nil {
				return "", ""
			}
			asked = true
		}
		if c, has := committed[tp]; has && (!ok || c > at) {
			at, ok = c, true // reassigned since it was polled here, or never polled
		}
		if !ok {
			continue // never read, nothing committed: it starts where the group's reset policy says
		}
		if lag := end - at; lag > 1 {
			waiting = append(waiting, fmt.Sprintf("%s/%d (%d)", tp.Topic, tp.Partition, lag))
			total += lag
		}
	}
	if len(waiting) == 0 {
		if v := pr.verdict.Swap(nil); v != nil {
			return "", v.msg
		}
		return "", ""
	}
	sort.Strings(waiting)
	if len(waiting) > 8 {
		waiting = append(waiting[:8], fmt.Sprintf("and %d more", len(waiting)-8))
	}
	msg := fmt.Sprintf("not consuming: %d records wait in owned partitions (%s) and none was read in the last %v; the Kafka client is reconnecting or rejoining the group",
		total, strings.Join(waiting, ", "), interval.Round(time.Second))
	prev := pr.verdict.Swap(&stall{msg: msg, polls: polls})
	if prev != nil && prev.polls == polls {
		return "", "" // the same stall goes on
	}
	return msg, ""
}

// brokerOffsets asks the brokers through a client.
type brokerOffsets struct {
	cl    *kgo.Client
	group string
}

func (b brokerOffsets) ends(ctx context.Context, topics []string) (map[lane.Partition]int64, error) {
	res, err := kadm.NewClient(b.cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := map[lane.Partition]int64{}
	res.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[lane.Partition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
		}
	})
	return out, nil
}

func (b brokerOffsets) committed(ctx context.Context) (map[lane.Partition]int64, error) {
	res, err := kadm.NewClient(b.cl).FetchOffsets(ctx, b.group)
	if err != nil {
		return nil, err
	}
	out := map[lane.Partition]int64{}
	res.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			out[lane.Partition{Topic: o.Topic, Partition: o.Partition}] = o.At
		}
	})
	return out, nil
}

// pausedNow returns whether a partition's fetching is paused now (by
// backpressure or a merge hold), from the client's own record of it, asked
// at the first call (a check that saw records polled asks nothing).
func pausedNow(cl *kgo.Client) func(lane.Partition) bool {
	var topics map[string]bool
	var parts map[lane.Partition]bool
	return func(tp lane.Partition) bool {
		if topics == nil {
			topics, parts = map[string]bool{}, map[lane.Partition]bool{}
			for _, t := range cl.PauseFetchTopics() {
				topics[t] = true
			}
			for t, ps := range cl.PauseFetchPartitions(nil) {
				for _, p := range ps {
					parts[lane.Partition{Topic: t, Partition: p}] = true
				}
			}
		}
		return topics[tp.Topic] || parts[tp]
	}
}

package devbroker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Why this file exists (kfake at the pinned version):
//
// When kfake loads a data directory whose last stop was not clean (kill -9),
// it replays the segments and treats a transaction with records but no
// control batch (no commit or abort marker) as aborted: it adds an entry to
// the partition's aborted-transaction index, but writes no abort marker.
// A read_committed reader (franz-go, the Java client, librdkafka) that is
// given that entry skips the producer's transactional batches from the
// entry's first offset until it meets an ABORT marker of that producer; a
// commit marker does not end it. A transactional id that starts again keeps
// its producer id in kfake (the epoch is bumped), so everything the new
// session commits in that partition, up to the end of the fetch response,
// is hidden from read_committed readers although it is committed and below
// the last stable offset. And at the next unclean stop the replay pairs the
// old records with the new session's commit marker, so the aborted records
// become visible as committed.
//
// closeCrashedTxns writes the missing abort markers before any client can
// reach the broker: it is given the transactions left without a marker,
// which openTxns finds in the record-batch headers of the segment files
// (the attributes say transactional and control; repair.go), loads the
// directory in a private kfake on loopback ports no client knows, asks it
// which of those it still holds open (a transaction kept across a clean
// stop, which a client can still end), has it write an abort marker for the
// others with WriteTxnMarkers, and closes it cleanly. That clean stop also
// saves the sequence windows the private kfake loaded, so they are
// repaired before it starts (crashseq.go). The broker then starts as usual
// on the repaired directory.

// openTxn is a producer whose transactional records in a partition are not
// followed by a control batch of that producer.
type openTxn struct {
	partitionID
	pid   int64
	epoch int16
}

// openTxns follows, batch by batch in log order, the producers of each
// partition whose last transactional batch is a data batch, with the epoch
// of that batch.
type openTxns map[partitionID]map[int64]int16

func (o openTxns) add(p partitionID, rb *kmsg.RecordBatch) {
	switch {
	case rb.Attributes&attrControl != 0:
		delete(o[p], rb.ProducerID)
	case rb.Attributes&attrTransactional != 0 && rb.ProducerID >= 0:
		if o[p] == nil {
			o[p] = map[int64]int16{}
		}
		o[p][rb.ProducerID] = rb.ProducerEpoch
	}
}

// list returns the open transactions sorted by partition and producer.
func (o openTxns) list() []openTxn {
	var out []openTxn
	for p, pids := range o {
		for pid, epoch := range pids {
			out = append(out, openTxn{p, pid, epoch})
		}
	}
	slices.SortFunc(out, func(a, b openTxn) int {
		return cmp.Or(comparePartitions(a.partitionID, b.partitionID), cmp.Compare(a.pid, b.pid))
	})
	return out
}

// closeCrashedTxns writes an abort marker for each transaction that the
// last unclean stop left without one (see the top of the file), and
// returns how many partitions it wrote one to. open is what scanLog found.
func closeCrashedTxns(o Options, open []openTxn) (int, error) {
	if len(open) == 0 {
		return 0, nil
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(o.Brokers), kfake.Ports(make([]int, o.Brokers)...),
		kfake.ClusterID("streamscore-dev"), kfake.DataDir(o.DataDir))
	if err != nil {
		return 0, err
	}
	defer c.Close() // a clean stop: the repaired state is saved
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	held, err := heldOpen(ctx, cl, open)
	if err != nil {
		return 0, err
	}
	type pe struct {
		pid   int64
		epoch int16
	}
	byProducer := map[pe]map[string][]int32{}
	var order []pe
	n := 0
	for _, t := range open {
		if held[t] {
			continue
		}
		k := pe{t.pid, t.epoch}
		if byProducer[k] == nil {
			byProducer[k] = map[string][]int32{}
			order = append(order, k)
		}
		byProducer[k][t.topic] = append(byProducer[k][t.topic], t.part)
		n++
	}
	if n == 0 {
		return 0, nil
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	for _, k := range order {
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed = k.pid, k.epoch, false
		for topic, parts := range byProducer[k] {
			mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			mt.Topic, mt.Partitions = topic, parts
			m.Topics = append(m.Topics, mt)
		}
		req.Markers = append(req.Markers, m)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("write abort markers: %w", err)
	}
	for _, m := range resp.Markers {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return 0, fmt.Errorf("write abort marker of producer %d to %s-%d: %w", m.ProducerID, t.Topic, p.Partition, err)
				}
			}
		}
	}
	return n, nil
}

// heldOpen returns the open transactions kfake restored as ongoing (kept
// across a clean stop): DescribeProducers lists them as active.
func heldOpen(ctx context.Context, cl *kgo.Client, open []openTxn) (map[openTxn]bool, error) {
	req := kmsg.NewPtrDescribeProducersRequest()
	idx := map[string]int{}
	seen := map[openTxn]bool{}
	for _, t := range open {
		k := openTxn{partitionID: t.partitionID}
		if seen[k] {
			continue
		}
		seen[k] = true
		i, ok := idx[t.topic]
		if !ok {
			i = len(req.Topics)
			idx[t.topic] = i
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic = t.topic
			req.Topics = append(req.Topics, rt)
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, t.part)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("describe producers: %w", err)
	}
	active := map[openTxn]bool{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("describe producers of %s-%d: %w", rt.Topic, rp.Partition, err)
			}
			for _, ap := range rp.ActiveProducers {
				active[openTxn{partitionID: partitionID{rt.Topic, rp.Partition}, pid: ap.ProducerID}] = true
			}
		}
	}
	held := map[openTxn]bool{}
	for _, t := range open {
		if active[openTxn{partitionID: t.partitionID, pid: t.pid}] {
			held[t] = true
		}
	}
	return held, nil
}

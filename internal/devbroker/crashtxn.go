package devbroker

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
// reach the broker: it finds the transactions left without a marker by
// reading the record-batch headers in the segment files (RecordBatch wire
// format: the attributes say transactional and control), loads the
// directory in a private kfake on loopback ports no client knows, asks it
// which of those it still holds open (a transaction kept across a clean
// stop, which a client can still end), has it write an abort marker for the
// others with WriteTxnMarkers, and closes it cleanly. The broker then
// starts as usual on the repaired directory.

// openTxn is a producer whose transactional records in a partition are not
// followed by a control batch of that producer.
type openTxn struct {
	topic string
	part  int32
	pid   int64
	epoch int16
}

// RecordBatch attribute bits (Kafka RecordBatch v2).
const (
	attrTransactional = 0x10
	attrControl       = 0x20
)

// scanOpenTxns reads the segment files of every partition under dataDir.
func scanOpenTxns(dataDir string) ([]openTxn, error) {
	root := filepath.Join(dataDir, "partitions")
	dirs, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []openTxn
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		i := strings.LastIndexByte(d.Name(), '-')
		if i <= 0 {
			continue
		}
		topic, err := url.PathUnescape(d.Name()[:i])
		part, perr := strconv.ParseInt(d.Name()[i+1:], 10, 32)
		if err != nil || perr != nil {
			continue
		}
		open, err := scanPartition(filepath.Join(root, d.Name()))
		if err != nil {
			return nil, fmt.Errorf("partition %s-%d: %w", topic, part, err)
		}
		for pid, epoch := range open {
			out = append(out, openTxn{topic, int32(part), pid, epoch})
		}
	}
	slices.SortFunc(out, func(a, b openTxn) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		if c := cmp.Compare(a.part, b.part); c != 0 {
			return c
		}
		return cmp.Compare(a.pid, b.pid)
	})
	return out, nil
}

// scanPartition returns the producers (with the epoch of their last
// record) whose last transactional batch in the partition's segments is a
// data batch. A truncated or malformed tail ends the scan, as it ends
// kfake's replay.
func scanPartition(dir string) (map[int64]int16, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".dat"); ok {
			if b, err := strconv.ParseInt(name, 10, 64); err == nil {
				bases = append(bases, b)
			}
		}
	}
	slices.Sort(bases)
	open := map[int64]int16{}
	for _, b := range bases {
		if err := scanSegment(filepath.Join(dir, strconv.FormatInt(b, 10)+".dat"), open); err != nil {
			return nil, err
		}
	}
	return open, nil
}

// scanSegment reads one segment file as kfake's replay does: RecordBatch
// wire bytes back to back, each checked against its CRC-32C; the first
// truncated, malformed or corrupt batch ends the segment.
func scanSegment(path string, open map[int64]int16) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rb kmsg.RecordBatch
	for len(raw) >= 12 { // FirstOffset int64, Length int32
		size := 12 + int64(binary.BigEndian.Uint32(raw[8:12]))
		if size > int64(len(raw)) || size < 21 {
			return nil
		}
		batch := raw[:size]
		raw = raw[size:]
		if binary.BigEndian.Uint32(batch[17:21]) != crc32.Checksum(batch[21:], castagnoli) {
			return nil
		}
		if err := rb.ReadFrom(batch); err != nil || rb.Magic != 2 {
			return nil
		}
		switch {
		case rb.Attributes&attrControl != 0:
			delete(open, rb.ProducerID)
		case rb.Attributes&attrTransactional != 0 && rb.ProducerID >= 0:
			open[rb.ProducerID] = rb.ProducerEpoch
		}
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// closeCrashedTxns writes an abort marker for each transaction that the
// last unclean stop left without one (see the top of the file), and
// returns how many partitions it wrote one to.
func closeCrashedTxns(o Options) (int, error) {
	open, err := scanOpenTxns(o.DataDir)
	if err != nil || len(open) == 0 {
		return 0, err
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
		k := openTxn{topic: t.topic, part: t.part}
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
				active[openTxn{topic: rt.Topic, part: rp.Partition, pid: ap.ProducerID}] = true
			}
		}
	}
	held := map[openTxn]bool{}
	for _, t := range open {
		if active[openTxn{topic: t.topic, part: t.part, pid: t.pid}] {
			held[t] = true
		}
	}
	return held, nil
}

package devbroker

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// rawClient is a client for hand-made requests to the broker at addrs. It
// speaks Produce up to v12, which names topics (v13 names topic ids).
func rawClient(t *testing.T, addrs []string) *kgo.Client {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(int16(kmsg.Produce), 12)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.MaxVersions(vs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// initIdempotent asks for an idempotent (not transactional) producer id.
func initIdempotent(t *testing.T, cl *kgo.Client) (int64, int16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("init producer id: %v", err)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// seqBatch is one idempotent produce of n records to a partition of "out",
// the values "<seq>", "<seq+1>", ...: sending it twice must store it once.
type seqBatch struct {
	part  int32
	pid   int64
	epoch int16
	seq   int32
	n     int32
}

func (b seqBatch) wire() []byte {
	var recs []byte
	for i := int32(0); i < b.n; i++ {
		r := kmsg.Record{OffsetDelta: i, Value: []byte(strconv.Itoa(int(b.seq + i)))}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // a one-byte varint length
		recs = r.AppendTo(recs)
	}
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: b.n - 1,
		FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: b.pid, ProducerEpoch: b.epoch, FirstSequence: b.seq,
		NumRecords: b.n, Records: recs,
	}
	w := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(w[8:12], uint32(len(w)-12))
	binary.BigEndian.PutUint32(w[17:21], crc32.Checksum(w[21:], castagnoli))
	return w
}

// produce sends the batch and returns the base offset the broker answers.
func (b seqBatch) produce(t *testing.T, cl *kgo.Client) (int64, error) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "out"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = b.part, b.wire()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.BaseOffset, kerr.ErrorForCode(p.ErrorCode)
}

// mustProduce sends the batch and wants it stored (or answered as a
// duplicate) at offset want.
func (b seqBatch) mustProduce(t *testing.T, cl *kgo.Client, want int64) {
	t.Helper()
	off, err := b.produce(t, cl)
	if err != nil {
		t.Fatalf("produce %+v: %v", b, err)
	}
	if off != want {
		t.Errorf("produce %+v: base offset %d, want %d", b, off, want)
	}
}

// valueCounts reads partitions of "out" from the start (read_uncommitted)
// and counts each record value.
func valueCounts(t *testing.T, addrs []string) map[int32]map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("out"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[int32]map[string]int{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			if out[r.Partition] == nil {
				out[r.Partition] = map[string]int{}
			}
			out[r.Partition][string(r.Value)]++
			n++
		})
		if n == 0 {
			return out
		}
	}
}

// wantOnce checks that partition part holds the values of seqs [0, n)
// exactly once each and nothing else.
func wantOnce(t *testing.T, counts map[int32]map[string]int, part int32, n int) {
	t.Helper()
	got := counts[part]
	for i := range n {
		if c := got[strconv.Itoa(i)]; c != 1 {
			t.Errorf("partition %d holds record %d %d times, want once", part, i, c)
		}
	}
	if len(got) != n {
		t.Errorf("partition %d holds %d distinct records, want %d", part, len(got), n)
	}
}

// retryAfterCrash is the client side of the kill -9: an idempotent
// producer that kept running retries the batches whose answers the crash
// lost (seqs [3, 5) on partition 0), continues with the next sequence, and
// then sends a batch with a gap. last is the batch of partition 1 stored
// before the crash, also retried.
func retryAfterCrash(t *testing.T, addrs []string, pid int64, epoch int16) {
	t.Helper()
	cl := rawClient(t, addrs)
	seqBatch{0, pid, epoch, 3, 2}.mustProduce(t, cl, 3) // a duplicate: answered with its offset
	seqBatch{0, pid, epoch, 0, 3}.mustProduce(t, cl, 0) // still in the window of five
	seqBatch{1, pid, epoch, 0, 4}.mustProduce(t, cl, 0)
	seqBatch{0, pid, epoch, 5, 1}.mustProduce(t, cl, 5) // the next sequence is appended
	if _, err := (seqBatch{0, pid, epoch, 7, 1}).produce(t, cl); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Errorf("a batch after a gap (seq 7, next 6): %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
	}
	counts := valueCounts(t, addrs)
	wantOnce(t, counts, 0, 6)
	wantOnce(t, counts, 1, 4)
}

// produceBeforeCrash has a new idempotent producer append records 0-4 to
// partition 0 (two batches) and 0-3 to partition 1 (one batch), and
// returns its id and epoch.
func produceBeforeCrash(t *testing.T, addrs []string) (int64, int16) {
	t.Helper()
	cl := rawClient(t, addrs)
	pid, epoch := initIdempotent(t, cl)
	seqBatch{0, pid, epoch, 0, 3}.mustProduce(t, cl, 0)
	seqBatch{0, pid, epoch, 3, 2}.mustProduce(t, cl, 3)
	seqBatch{1, pid, epoch, 0, 4}.mustProduce(t, cl, 0)
	return pid, epoch
}

// TestIdempotentRetryAfterCrash: the broker dies (kill -9) after it
// appended an idempotent producer's batches; the producer retries the ones
// whose answers it did not get. The restarted broker must answer them as
// duplicates instead of appending them again, as Kafka does from the
// producer state it rebuilds from the log.
func TestIdempotentRetryAfterCrash(t *testing.T) {
	base := t.TempDir()
	d1, d2 := filepath.Join(base, "1"), filepath.Join(base, "2")
	addrs := startOn(t, d1)
	pid, epoch := produceBeforeCrash(t, addrs)
	copyDir(t, d1, d2) // the kill -9
	retryAfterCrash(t, startOn(t, d2), pid, epoch)
}

// TestIdempotentRetryAfterCleanStopThenCrash: a clean stop saves the
// windows; the broker starts again, appends more, and dies. The saved
// windows are stale then: by them the lost batch is the next one expected.
func TestIdempotentRetryAfterCleanStopThenCrash(t *testing.T) {
	base, port := t.TempDir(), freePort(t)
	d1, d2 := filepath.Join(base, "1"), filepath.Join(base, "2")
	c, addrs := startAt(t, port, d1)
	cl := rawClient(t, addrs)
	pid, epoch := initIdempotent(t, cl)
	seqBatch{0, pid, epoch, 0, 3}.mustProduce(t, cl, 0)
	seqBatch{1, pid, epoch, 0, 4}.mustProduce(t, cl, 0)
	c.Close() // clean: seq_windows.json says partition 0 expects seq 3
	startAt(t, port, d1)
	seqBatch{0, pid, epoch, 3, 2}.mustProduce(t, cl, 3) // the same client, reconnected
	copyDir(t, d1, d2)                                  // the kill -9
	retryAfterCrash(t, startOn(t, d2), pid, epoch)
}

// TestIdempotentRetryAfterCrashWithOpenTxn: the crash also leaves a
// transaction open in partition 1, so the start repairs that too; its
// private broker stops cleanly, which saves the windows it holds and writes
// each partition's snapshot anew (partition 0's then matches its segments,
// as after a clean stop). The idempotent retries to both partitions must
// still be duplicates.
func TestIdempotentRetryAfterCrashWithOpenTxn(t *testing.T) {
	base := t.TempDir()
	d1, d2 := filepath.Join(base, "1"), filepath.Join(base, "2")
	addrs := startOn(t, d1)
	pid, epoch := produceBeforeCrash(t, addrs)
	p := txnProducer(t, addrs)
	produceTxn(t, p, 1001, 1, false) // open at the crash: record 1001 in partition 1
	copyDir(t, d1, d2)               // the kill -9
	p.Close()

	addrs = startOn(t, d2)
	cl := rawClient(t, addrs)
	seqBatch{0, pid, epoch, 3, 2}.mustProduce(t, cl, 3)
	seqBatch{1, pid, epoch, 0, 4}.mustProduce(t, cl, 0)
	seqBatch{0, pid, epoch, 5, 1}.mustProduce(t, cl, 5)
	seqBatch{1, pid, epoch, 4, 1}.mustProduce(t, cl, 6) // behind the open txn's record and its abort marker
	counts := valueCounts(t, addrs)
	wantOnce(t, counts, 0, 6)
	if c := counts[1]["1001"]; c != 1 {
		t.Errorf("partition 1 holds the aborted record %d times, want once (read_uncommitted)", c)
	}
	delete(counts[1], "1001")
	wantOnce(t, counts, 1, 5)
}

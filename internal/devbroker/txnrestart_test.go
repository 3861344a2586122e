package devbroker

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// copyDir copies a data directory as it is on disk at this moment: the
// state a kill -9 of the broker would leave (kfake writes every batch and
// log entry straight to its files, without a user-space buffer).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

var txnTestTopics = []Topic{{"out", 2}}

func startOn(t *testing.T, dir string) []string {
	t.Helper()
	_, addrs := startAt(t, 0, dir)
	return addrs
}

// startAt starts the broker on dir at port (0: any), so that a client of
// an earlier broker there reconnects to it; the cluster is closed at the
// end of the test if the test has not closed it (Close is idempotent).
func startAt(t *testing.T, port int, dir string) (*Cluster, []string) {
	t.Helper()
	c, addrs, err := Start(Options{Port: port, Topics: txnTestTopics, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, addrs
}

// txnProducer is a transactional producer with transactional id "scorer".
func txnProducer(t *testing.T, addrs []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.TransactionalID("scorer"),
		kgo.DefaultProduceTopic("out"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceTxn begins a transaction and writes n records (ids from first) to
// both partitions; it ends the transaction with commit when end is true and
// leaves it open otherwise.
func produceTxn(t *testing.T, cl *kgo.Client, first, n int, end bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := first; i < first+n; i++ {
		r := &kgo.Record{Value: []byte(strconv.Itoa(i)), Partition: int32(i % 2)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if end {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
}

// visible reads "out" from the start with the isolation level and returns
// the record values it saw.
func visible(t *testing.T, addrs []string, committed bool) map[string]bool {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("out"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]bool{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true; n++ })
		if n == 0 {
			return seen
		}
	}
}

// endOffsets lists each partition's end offset for the isolation level
// (1: read_committed, which answers the last stable offset).
func endOffsets(t *testing.T, addrs []string, iso int8) []int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = iso
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "out"
	for p := int32(0); p < 2; p++ {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, p := range resp.Topics[0].Partitions {
		out = append(out, p.Offset)
	}
	return out
}

func missing(seen map[string]bool, first, n int) []int {
	var out []int
	for i := first; i < first+n; i++ {
		if !seen[strconv.Itoa(i)] {
			out = append(out, i)
		}
	}
	return out
}

// TestCrashMidTransactionThenNewSession: the broker dies (kill -9) while a
// transaction has records on disk but no end; it comes back on the same
// data directory, and the same transactional id starts again and commits
// new records. Those must be visible to read_committed readers, and the
// open transaction's records must stay aborted across a second crash.
func TestCrashMidTransactionThenNewSession(t *testing.T) {
	base := t.TempDir()
	d1, d2, d3 := filepath.Join(base, "1"), filepath.Join(base, "2"), filepath.Join(base, "3")

	addrs := startOn(t, d1)
	p := txnProducer(t, addrs)
	produceTxn(t, p, 0, 10, true)    // 0-9 committed
	produceTxn(t, p, 100, 10, false) // 100-109 open at the crash
	copyDir(t, d1, d2)               // the kill -9
	p.Close()

	addrs = startOn(t, d2)
	t.Logf("after the restart: hwm %v lso %v", endOffsets(t, addrs, 0), endOffsets(t, addrs, 1))
	p = txnProducer(t, addrs) // a new session, same transactional id
	produceTxn(t, p, 200, 10, true)
	produceTxn(t, p, 300, 10, true)
	t.Logf("after two commits: hwm %v lso %v", endOffsets(t, addrs, 0), endOffsets(t, addrs, 1))

	rc, ru := visible(t, addrs, true), visible(t, addrs, false)
	t.Logf("read_uncommitted sees %d records, read_committed %d", len(ru), len(rc))
	if m := missing(rc, 0, 10); len(m) > 0 {
		t.Errorf("read_committed misses records committed before the crash: %v", m)
	}
	if m := append(missing(rc, 200, 10), missing(rc, 300, 10)...); len(m) > 0 {
		t.Errorf("read_committed misses records committed after the restart: %v", m)
	}
	if m := missing(rc, 100, 10); len(m) < 10 {
		t.Errorf("read_committed sees records of the transaction open at the crash: %d of 10", 10-len(m))
	}
	p.Close()

	copyDir(t, d2, d3) // a second kill -9, after the new session's commits
	addrs = startOn(t, d3)
	rc = visible(t, addrs, true)
	if m := missing(rc, 100, 10); len(m) < 10 {
		t.Errorf("after a second crash read_committed sees %d of the 10 records of the transaction aborted by the first", 10-len(m))
	}
	if m := append(missing(rc, 200, 10), missing(rc, 300, 10)...); len(m) > 0 {
		t.Errorf("after a second crash read_committed misses records committed after the first: %v", m)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestCleanStopKeepsOpenTransaction: a transaction open at a clean stop is
// kept by kfake (its session state) and the client can still commit it
// after the restart; the repair at start must leave it alone.
func TestCleanStopKeepsOpenTransaction(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	c, addrs := startAt(t, port, dir)
	p := txnProducer(t, addrs)
	produceTxn(t, p, 0, 10, true)
	produceTxn(t, p, 100, 10, false)
	c.Close()
	startAt(t, port, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after the clean restart: %v", err)
	}
	rc := visible(t, addrs, true)
	if m := append(missing(rc, 0, 10), missing(rc, 100, 10)...); len(m) > 0 {
		t.Errorf("read_committed misses committed records: %v", m)
	}
}

// TestOldClientEndsAfterCrash: the client that had the transaction open
// at the crash asks to commit it from the restarted broker. The
// transaction is gone (aborted by the restart); the commit must not be
// reported as done.
func TestOldClientEndsAfterCrash(t *testing.T) {
	base, port := t.TempDir(), freePort(t)
	d1, d2 := filepath.Join(base, "1"), filepath.Join(base, "2")
	c, addrs := startAt(t, port, d1)
	p := txnProducer(t, addrs)
	produceTxn(t, p, 0, 10, true)
	produceTxn(t, p, 100, 10, false)
	copyDir(t, d1, d2)
	c.Close()
	startAt(t, port, d2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := p.EndTransaction(ctx, kgo.TryCommit)
	rc := visible(t, addrs, true)
	t.Logf("commit after the crash: %v; read_committed sees %d of 100-109", err, 10-len(missing(rc, 100, 10)))
	if err == nil && len(missing(rc, 100, 10)) > 0 {
		t.Errorf("the commit is reported done but its records are not committed")
	}
}

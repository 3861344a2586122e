package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "seed brokers")
	from := flag.String("from", "transactions", "topic to read")
	to := flag.String("to", "passthrough-out", "topic to write")
	group := flag.String("group", "passthrough", "consumer group")
	count := flag.Int64("count", 200000, "records to pass through before exiting")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if err := run(*brokers, *from, *to, *group, *count, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "passthrough:", err)
		os.Exit(1)
	}
}

func run(brokers, from, to, group string, count int64, timeout time.Duration) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(brokers, ",")...),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(from),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitMarks(), kgo.AutoCommitInterval(time.Second),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.FetchMaxBytes(4<<20), kgo.MaxConcurrentFetches(2),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var acked atomic.Int64
	done := make(chan struct{})
	var first time.Time
	var last atomic.Int64
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "passthrough: produce:", err)
			return
		}
		cl.MarkCommitRecords(r.Context.Value(srcKey{}).(*kgo.Record))
		if acked.Add(1) == count {
			last.Store(time.Now().UnixNano())
			close(done)
		}
	}
	for {
		select {
		case <-done:
			elapsed := time.Duration(last.Load() - first.UnixNano())
			_ = cl.CommitMarkedOffsets(context.Background())
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			fmt.Printf("passthrough: %d records in %.2fs = %.0f records/s, %.2f us CPU/record\n", count, elapsed.Seconds(),
				float64(count)/elapsed.Seconds(), float64(cpu.Microseconds())/float64(count))
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%d of %d records after %v", acked.Load(), count, timeout)
		default:
		}
		pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		fs := cl.PollRecords(pctx, 10000)
		pcancel()
		fs.EachRecord(func(src *kgo.Record) {
			if first.IsZero() {
				first = time.Now()
			}
			cl.Produce(context.WithValue(ctx, srcKey{}, src), &kgo.Record{Topic: to, Key: src.Key, Value: src.Value}, promise)
		})
	}
}

type srcKey struct{}

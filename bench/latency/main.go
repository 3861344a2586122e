package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/schemas"
)

type coord struct {
	topic     string
	partition int32
	offset    int64
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "seed brokers")
	inputs := flag.String("inputs", "transactions", "input topics, comma-separated")
	output := flag.String("output", "predictions", "predictions topic")
	encoding := flag.String("encoding", "json", "prediction encoding: json or avro")
	flag.Parse()
	enc, err := schemas.ParseEncoding(*encoding)
	if err == nil {
		err = run(strings.Split(*brokers, ","), strings.Split(*inputs, ","), *output, enc)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

// readAll reads topics from the start until nothing new arrives for 2 s.
func readAll(brokers, topics []string, fn func(*kgo.Record) error) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 {
			return nil
		}
		var ferr error
		fs.EachRecord(func(r *kgo.Record) {
			if err := fn(r); err != nil && ferr == nil {
				ferr = err
			}
		})
		if ferr != nil {
			return ferr
		}
	}
}

func run(brokers, inputs []string, output string, enc schemas.Encoding) error {
	in := map[coord]time.Time{}
	var first time.Time
	if err := readAll(brokers, inputs, func(r *kgo.Record) error {
		in[coord{r.Topic, r.Partition, r.Offset}] = r.Timestamp
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		return nil
	}); err != nil {
		return err
	}
	dec, err := schemas.NewPredictionDecoder(enc)
	if err != nil {
		return err
	}
	var all, early []time.Duration
	missing := 0
	if err := readAll(brokers, []string{output}, func(r *kgo.Record) error {
		p, err := dec.Decode(r.Value)
		if err != nil {
			return fmt.Errorf("decode prediction: %w", err)
		}
		ts, ok := in[coord{p.Source.Topic, p.Source.Partition, p.Source.Offset}]
		if !ok {
			missing++
			return nil
		}
		d := r.Timestamp.Sub(ts)
		all = append(all, d)
		if ts.Sub(first) < 2*time.Second {
			early = append(early, d)
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("inputs %d, predictions %d (%d without their input)\n", len(in), len(all), missing)
	report("all events", all)
	report("first 2 s", early)
	return nil
}

func report(what string, ds []time.Duration) {
	if len(ds) == 0 {
		fmt.Printf("%s: none\n", what)
		return
	}
	slices.Sort(ds)
	q := func(f float64) time.Duration { return ds[min(len(ds)-1, int(f*float64(len(ds))))] }
	fmt.Printf("%s (%d): p50 %v  p90 %v  p99 %v  p99.9 %v  max %v\n", what, len(ds),
		q(0.5).Round(time.Millisecond), q(0.9).Round(time.Millisecond), q(0.99).Round(time.Millisecond),
		q(0.999).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}

package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// watch measures a streamscore run from outside: from its first record
// consumed (its metrics, scraped every 10 ms until then) to its last
// output, the newest timestamp on the output topics (the producer stamps
// each record when it is produced). Between the two it scrapes every
// 250 ms: a scrape costs streamscore a few milliseconds of CPU, and
// scraping every 10 ms throughout took a tenth of a core from the run it
// measured.

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/metrics", "streamscore's metrics")
	count := flag.Float64("count", 200000, "outputs to wait for")
	pid := flag.Int("pid", 0, "process whose peak RSS to report")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	brokers := flag.String("brokers", "", "the broker, to read the outputs' timestamps (without: the time the last scrape saw them)")
	outputs := flag.String("outputs", "predictions,predictions-dlq", "the output topics")
	flag.Parse()
	deadline := time.Now().Add(*timeout)
	var t0 time.Time
	for time.Now().Before(deadline) {
		consumed, out, err := scrape(*url)
		if err == nil {
			if t0.IsZero() && consumed > 0 {
				t0 = time.Now()
			}
			if out >= *count {
				d := time.Since(t0)
				if *brokers != "" {
					last, err := newest(*brokers, strings.Split(*outputs, ","))
					if err != nil {
						fmt.Fprintln(os.Stderr, "watch:", err)
						os.Exit(1)
					}
					d = last.Sub(t0)
				}
				fmt.Printf("streamscore: %.0f outputs in %.2fs = %.0f records/s", out, d.Seconds(), out/d.Seconds())
				if *pid > 0 {
					fmt.Printf(", peak RSS %d MiB", peakRSS(*pid)/1024)
				}
				fmt.Println()
				return
			}
		}
		if t0.IsZero() {
			time.Sleep(10 * time.Millisecond)
		} else {
			time.Sleep(250 * time.Millisecond)
		}
	}
	fmt.Fprintln(os.Stderr, "watch: timed out")
	os.Exit(1)
}

// scrape sums records consumed, and predictions plus dead letters.
func scrape(url string) (consumed, out float64, err error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			if j := strings.LastIndexByte(line, ' '); j > 0 {
				rest = line[j+1:]
			}
			name = name[:i]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		switch name {
		case "streamscore_records_consumed_total":
			consumed += v
		case "streamscore_predictions_total", "streamscore_dead_letters_total":
			out += v
		}
	}
	return consumed, out, sc.Err()
}

// peakRSS is VmHWM of /proc/pid/status, in KiB.
func peakRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

// newest is the newest record timestamp on topics: that of the last record
// of each partition.
func newest(brokers string, topics []string) (time.Time, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return time.Time{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		return time.Time{}, err
	}
	want := map[string]map[int32]kgo.Offset{}
	n := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			if want[o.Topic] == nil {
				want[o.Topic] = map[int32]kgo.Offset{}
			}
			want[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset - 1)
			n++
		}
	})
	rd, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ConsumePartitions(want))
	if err != nil {
		return time.Time{}, err
	}
	defer rd.Close()
	var last time.Time
	seen := map[string]bool{}
	for len(seen) < n {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return time.Time{}, fmt.Errorf("reading the last output of each partition: %w", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen[fmt.Sprintf("%s/%d", r.Topic, r.Partition)] = true
			if r.Timestamp.After(last) {
				last = r.Timestamp
			}
		})
	}
	return last, nil
}

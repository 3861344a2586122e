package main

import (
	"bufio"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/metrics", "streamscore's metrics")
	count := flag.Float64("count", 200000, "outputs to wait for")
	pid := flag.Int("pid", 0, "process whose peak RSS to report")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
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
				fmt.Printf("streamscore: %.0f outputs in %.2fs = %.0f records/s", out, d.Seconds(), out/d.Seconds())
				if *pid > 0 {
					fmt.Printf(", peak RSS %d MiB", peakRSS(*pid)/1024)
				}
				fmt.Println()
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
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

package pipeline

import (
	"math"
	"sync/atomic"
	"time"
)

// Stats are the pipeline's live counters, safe for concurrent reads. The
// invariant after a drain: Consumed = Predictions + DeadLetters.
type Stats struct {
	Consumed    atomic.Int64 // input records polled and handed to the pipeline
	Labels      atomic.Int64 // records of LABELS_TOPIC polled (they get no output)
	Predictions atomic.Int64 // predictions acknowledged by the broker
	DeadLetters atomic.Int64 // dead letters acknowledged by the broker
	Batches     atomic.Int64 // batches scored
	FetchPauses atomic.Int64 // times backpressure paused fetching
	// ReloadsOK and ReloadsFailed count model reloads by result.
	ReloadsOK, ReloadsFailed atomic.Int64
	// Latency is the time from a record's Kafka timestamp to the broker's
	// acknowledgement of its prediction or dead letter.
	Latency Histogram
}

// Histogram is a lock-free latency histogram with log-spaced buckets (5%
// apart, 10µs to ~17 min): quantiles are accurate to about 5%.
type Histogram struct {
	counts [histBuckets]atomic.Int64
	total  atomic.Int64
}

const (
	histMin     = 10 * time.Microsecond
	histGrowth  = 1.05
	histBuckets = 380
)

var logGrowth = math.Log(histGrowth)

func bucketOf(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	b := int(math.Log(float64(d)/float64(histMin))/logGrowth) + 1
	return min(b, histBuckets-1)
}

func bucketUpper(b int) time.Duration {
	return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(b)))
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	h.counts[bucketOf(d)].Add(1)
	h.total.Add(1)
}

// Count is the number of observations.
func (h *Histogram) Count() int64 { return h.total.Load() }

// Snapshot copies the bucket counts, for quantiles over an interval
// (subtract two snapshots).
func (h *Histogram) Snapshot() HistSnapshot {
	var s HistSnapshot
	for i := range s {
		s[i] = h.counts[i].Load()
	}
	return s
}

// HistSnapshot is a copy of a histogram's buckets.
type HistSnapshot [histBuckets]int64

// Sub returns the observations made between old and s.
func (s HistSnapshot) Sub(old HistSnapshot) HistSnapshot {
	for i := range s {
		s[i] -= old[i]
	}
	return s
}

// Quantile returns the upper bound of the bucket holding quantile q, or 0
// without observations.
func (s *HistSnapshot) Quantile(q float64) time.Duration {
	var n int64
	for _, c := range s {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i, c := range s {
		seen += c
		if seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(histBuckets - 1)
}

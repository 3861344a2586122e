package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/schemas"
)

// HTTPOptions configure an open-loop HTTP load.
type HTTPOptions struct {
	URL      string // e.g. http://127.0.0.1:8080/v1/predict
	Rate     float64
	Duration time.Duration
	Seed     uint64
	Names    schemas.FieldNames
}

// HTTPResult summarises a run. Latency is measured from each request's
// scheduled send time, so a slow server delays the measurement, not the
// schedule (no coordinated omission).
type HTTPResult struct {
	Sent, OK, Failed int
	Elapsed          time.Duration
	Latencies        []time.Duration // sorted
}

// Quantile returns the q-quantile latency.
func (r HTTPResult) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(r.Latencies)-1))
	return r.Latencies[i]
}

// RunHTTP posts one synthetic transaction per request at a fixed arrival
// rate (open loop: requests leave on schedule whatever the responses do).
func RunHTTP(ctx context.Context, o HTTPOptions) (HTTPResult, error) {
	if o.Rate <= 0 || o.Duration <= 0 {
		return HTTPResult{}, fmt.Errorf("rate and duration must be positive")
	}
	g := synth.New(o.Seed, 10000, o.Names)
	g.Live = true // event times are when the load starts, never in the future
	enc, err := schemas.NewEventEncoder(schemas.JSON, schemas.Transaction, o.Names)
	if err != nil {
		return HTTPResult{}, err
	}
	n := int(o.Rate * o.Duration.Seconds())
	bodies := make([][]byte, n)
	var ev schemas.Event
	for i := range bodies { // prepared up front: generation is not timed
		g.Transaction(&ev, time.Now())
		if bodies[i], err = enc.Append(nil, &ev); err != nil {
			return HTTPResult{}, err
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0}}
	var (
		mu  sync.Mutex
		res HTTPResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / o.Rate)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(body []byte, at time.Time) {
			defer wg.Done()
			resp, err := client.Post(o.URL, "application/json", bytes.NewReader(body))
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			lat := time.Since(at)
			mu.Lock()
			res.Sent++
			if ok {
				res.OK++
				res.Latencies = append(res.Latencies, lat)
			} else {
				res.Failed++
			}
			mu.Unlock()
		}(bodies[i], at)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	sort.Slice(res.Latencies, func(a, b int) bool { return res.Latencies[a] < res.Latencies[b] })
	return res, nil
}

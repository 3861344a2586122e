package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/schemas"
)

// Options configure a run.
type Options struct {
	Encoding          schemas.Encoding
	TransactionsTopic string
	ActivityTopic     string  // empty: transactions only
	ActivityShare     float64 // share of events that are activity (0..1)
	Rate              float64 // events per second; <= 0: as fast as possible
	Count             int64   // stop after this many events; 0: no limit
	Duration          time.Duration
	Names             schemas.FieldNames
	Seed              uint64
	Customers         int
	// Now is the clock that dates each event when it is produced
	// (default time.Now): an event's time is its production time.
	Now func() time.Time
	// EventRate, when > 0, dates the events instead as a history that
	// happened at this many events per second of event time, the last one
	// at the clock's time when the run starts: a backlog with the pace of
	// a real stream (or of the training log, whose --log-rate it mirrors),
	// however fast it is produced. The records' Kafka timestamps stay their
	// production times: an entity-state rebuild and a backfill, which find
	// their ranges by timestamp, see the history as produced just now. It
	// needs Count (at most 100 years of event time), and replaces Now's
	// reading per event.
	EventRate float64
}

// Result counts what a run produced.
type Result struct {
	Sent    int64 // acknowledged by the broker
	Failed  int64
	Elapsed time.Duration
}

// Counter is read while a run is going (the demo shows it).
type Counter struct{ Sent, Failed atomic.Int64 }

// Run produces until the count or duration is reached or ctx ends, then
// flushes. cl must be a producing client; it is not closed.
func Run(ctx context.Context, cl *kgo.Client, o Options, live *Counter) (Result, error) {
	if o.TransactionsTopic == "" {
		return Result{}, errors.New("loadgen: a transactions topic is required")
	}
	if o.ActivityTopic == "" {
		o.ActivityShare = 0
	}
	if live == nil {
		live = &Counter{}
	}
	txEnc, err := schemas.NewEventEncoder(o.Encoding, schemas.Transaction, o.Names)
	if err != nil {
		return Result{}, err
	}
	actEnc, err := schemas.NewEventEncoder(o.Encoding, schemas.Activity, o.Names)
	if err != nil {
		return Result{}, err
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var n int64
	if o.EventRate > 0 {
		if o.Count <= 0 {
			return Result{}, fmt.Errorf("loadgen: an event rate (%v events/s) needs a count of events", o.EventRate)
		}
		if span := float64(o.Count) / o.EventRate; span > 100*365*86400 {
			return Result{}, fmt.Errorf("loadgen: %d events at %v events/s span %.0f years of event time (at most 100)", o.Count, o.EventRate, span/(365*86400))
		}
		step := float64(time.Second) / o.EventRate
		first := o.Now().Add(-time.Duration(float64(o.Count-1) * step))
		o.Now = func() time.Time { return first.Add(time.Duration(float64(n) * step)) }
	}
	g := synth.New(o.Seed, o.Customers, o.Names)
	g.ActivityShare = o.ActivityShare
	start := time.Now()
	var ev schemas.Event
	var firstErr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			live.Failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
			return
		}
		live.Sent.Add(1)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil && (o.Count == 0 || n < o.Count) {
		// events due by now at the target rate
		due := o.Count - n
		if o.Rate > 0 {
			due = int64(o.Rate*time.Since(start).Seconds()) - n
			if due <= 0 {
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
				continue
			}
		}
		if due <= 0 || due > 1000 {
			due = 1000
		}
		for i := int64(0); i < due && (o.Count == 0 || n < o.Count); i++ {
			topic, enc := o.TransactionsTopic, txEnc
			if kind, _ := g.Next(&ev, o.Now()); kind == schemas.Activity {
				if o.ActivityTopic == "" {
					continue // a story's activity step, with no topic for it
				}
				topic, enc = o.ActivityTopic, actEnc
			}
			val, err := enc.Append(nil, &ev)
			if err != nil {
				return Result{}, fmt.Errorf("encode event: %w", err)
			}
			key, _ := ev.Field(o.Names.Entity)
			// Records live in a context that the duration does not end, so
			// that stopping flushes them instead of failing them.
			cl.Produce(context.WithoutCancel(ctx), &kgo.Record{Topic: topic, Key: []byte(key.Str), Value: val}, promise)
			n++
		}
	}
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ferr := cl.Flush(fctx)
	res := Result{Sent: live.Sent.Load(), Failed: live.Failed.Load(), Elapsed: time.Since(start)}
	if e, ok := firstErr.Load().(error); ok && !errors.Is(e, context.Canceled) && !errors.Is(e, context.DeadlineExceeded) {
		return res, fmt.Errorf("%d events failed, first: %w", res.Failed, e)
	}
	if ferr != nil {
		return res, fmt.Errorf("flush: %w", ferr)
	}
	return res, nil
}

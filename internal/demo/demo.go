package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/devbroker"
	"github.com/streamscore/streamscore/internal/kafkaconn"
	"github.com/streamscore/streamscore/internal/loadgen"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/pipeline"
	"github.com/streamscore/streamscore/models"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Options configure a demo run.
type Options struct {
	Port     int           // broker port on 127.0.0.1 (9092; 0 picks a free one)
	Rate     float64       // events per second, both kinds (30% activity events)
	Duration time.Duration // 0: until ctx ends
	Encoding schemas.Encoding
	Out      io.Writer // the live report
	Logger   *slog.Logger
	// Environ is the environment the pipeline's settings are read from
	// (BATCH_INTERVAL, BATCH_MAX_SIZE, SCORE_THRESHOLD, ...); nil: the
	// process environment. Brokers, topics, encodings and the model are
	// the demo's own.
	Environ map[string]string
	// HTTPAddr is where the HTTP API (metrics, health, /v1/predict, Open
	// Inference Protocol) listens, as run's does; empty: HTTP_ADDR of the
	// environment (default :8080).
	HTTPAddr string
	// HTTPListening, when set, is called with the API's address once it
	// listens.
	HTTPListening func(addr string)
}

// Summary is what a demo run did.
type Summary struct {
	Sent, Consumed, Predictions, DeadLetters int64
	Elapsed                                  time.Duration
	// StoryBefore and StoryAfter are the fraud scores of the story's
	// purchase before and after the failed logins (NaN if the run ended
	// before they came back).
	StoryBefore, StoryAfter float64
}

// Run runs the demo until the duration passes or ctx ends.
func Run(ctx context.Context, o Options) (Summary, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// The default topics are co-partitioned (transactions and activity have
	// the same partition count), as entity aggregates need.
	cluster, addrs, err := devbroker.Start(devbroker.Options{Port: o.Port, Brokers: 1, Topics: devbroker.DefaultTopics})
	if err != nil {
		return Summary{}, fmt.Errorf("%w (is another broker on that port? try --port)", err)
	}
	defer cluster.Close()
	fmt.Fprintf(o.Out, "embedded Kafka broker listening on %s (topics: transactions, activity, predictions, predictions-dlq)\n", strings.Join(addrs, ","))
	fmt.Fprintf(o.Out, "  try: kcat -b %s -t predictions -C -o end\n", addrs[0])

	environ := o.Environ
	if environ == nil {
		environ = map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			environ[k] = v
		}
	}
	environ["KAFKA_BROKERS"] = strings.Join(addrs, ",")
	environ["INPUT_TOPICS"] = "transactions,activity"
	environ["OUTPUT_TOPIC"], environ["DLQ_TOPIC"] = "predictions", "predictions-dlq"
	environ["INPUT_ENCODING"], environ["OUTPUT_ENCODING"] = string(o.Encoding), string(o.Encoding)
	environ["MODEL_PATH"] = "(bundled fraud model)"
	environ["KAFKA_GROUP_ID"] = "streamscore-demo"
	cfg, err := config.Load(environ)
	if err != nil {
		return Summary{}, err
	}
	fraud, err := models.Fraud(cfg.Policy())
	if err != nil {
		return Summary{}, fmt.Errorf("bundled model: %w", err)
	}
	takeover, err := models.Takeover(cfg.Policy())
	if err != nil {
		return Summary{}, fmt.Errorf("bundled model: %w", err)
	}
	for _, r := range []struct {
		topic string
		info  scoring.Info
	}{{"transactions", fraud.Info()}, {"activity", takeover.Info()}} {
		fmt.Fprintf(o.Out, "%s -> model %s (%s, version %s, %d features)\n", r.topic, r.info.Name, r.info.Format, r.info.Version, len(r.info.Features))
	}
	fmt.Fprintf(o.Out, "batches of up to %d records or %v\n", cfg.BatchMaxSize, cfg.BatchInterval)

	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	set := modelset.Static(map[string]*scoring.Scorer{"transactions": fraud, "activity": takeover})
	p, err := pipeline.New(ctx, cfg, pipeline.WithModels(set), pipeline.WithLogger(o.Logger))
	if err != nil {
		return Summary{}, err
	}
	httpAddr := o.HTTPAddr
	if httpAddr == "" {
		httpAddr = cfg.HTTPAddr
	}
	stopHTTP, addr, err := serveHTTP(p, httpAddr, o.Logger)
	if err != nil {
		return Summary{}, err
	}
	defer stopHTTP()
	fmt.Fprintf(o.Out, "HTTP API on http://%s: /metrics, /healthz, /readyz, POST /v1/predict, /v2 (Open Inference Protocol)\n", addr)
	fmt.Fprintf(o.Out, "  try: curl -s -d '{\"event_id\":\"e1\",\"customer_id\":\"c1\",\"event_time\":%d,\"amount\":950,\"channel\":\"web\",\"card_present\":false,\"merchant_category\":\"crypto\",\"country\":\"NG\"}' http://%s/v1/predict\n",
		time.Now().UnixMilli(), addr)
	if o.HTTPListening != nil {
		o.HTTPListening(addr)
	}
	prodCl, err := kgo.NewClient(append(kafkaconn.Options(addrs, "streamscore-demo-loadgen"), kgo.ProducerLinger(2*time.Millisecond))...)
	if err != nil {
		return Summary{}, err
	}
	defer prodCl.Close()

	tell := newTeller(o.Out)
	var wg sync.WaitGroup
	var sent loadgen.Counter
	var runErr, genErr, storyErr error
	wg.Add(3)
	go func() {
		defer wg.Done()
		runErr = p.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		// Many customers, so that each one's history is as sparse as in
		// the training log (a customer's events minutes apart, not seconds).
		_, genErr = loadgen.Run(ctx, prodCl, loadgen.Options{
			Encoding: o.Encoding, TransactionsTopic: "transactions", ActivityTopic: "activity", ActivityShare: 0.3, Rate: o.Rate,
			Names: schemas.DefaultFieldNames, Seed: uint64(time.Now().UnixNano()), Customers: 1_000_000,
		}, &sent)
	}()
	go func() {
		defer wg.Done()
		for p.Stats().Predictions.Load() == 0 { // once the pipeline is scoring
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		storyErr = tell.tell(ctx, prodCl, o.Encoding, 100*time.Millisecond)
	}()
	samples := newSampler(addrs, o.Encoding, tell.seen)
	defer samples.close()
	start := time.Now()
	report(ctx, tell, p.Stats(), &sent, samples, start)
	wg.Wait()
	st := p.Stats()
	sum := Summary{Sent: sent.Sent.Load() + tell.sent.Load(), Consumed: st.Consumed.Load(), Predictions: st.Predictions.Load(),
		DeadLetters: st.DeadLetters.Load(), Elapsed: time.Since(start)}
	sum.StoryBefore, sum.StoryAfter = tell.scores()
	all := st.Latency.Snapshot()
	fmt.Fprintf(tell, "\nstopped after %v: %d events produced, %d consumed, %d predictions, %d dead letters; latency p50 %v p99 %v\n",
		sum.Elapsed.Round(time.Millisecond), sum.Sent, sum.Consumed, sum.Predictions, sum.DeadLetters,
		ms(all.Quantile(0.5)), ms(all.Quantile(0.99)))
	if runErr != nil {
		return sum, runErr
	}
	if genErr != nil {
		return sum, genErr
	}
	return sum, storyErr
}

// report prints a line a second and sample predictions every five seconds
// until ctx ends.
func report(ctx context.Context, w io.Writer, st *pipeline.Stats, sent *loadgen.Counter, s *sampler, start time.Time) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastHist, lastPred, lastSent := st.Latency.Snapshot(), int64(0), int64(0)
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		h := st.Latency.Snapshot()
		d := h.Sub(lastHist)
		pred, snt := st.Predictions.Load(), sent.Sent.Load()
		fmt.Fprintln(w, reportLine(time.Since(start), snt-lastSent, pred-lastPred, pred, st.DeadLetters.Load(), d.Quantile(0.5), d.Quantile(0.99)))
		lastHist, lastPred, lastSent = h, pred, snt
		if n%5 == 0 {
			for _, line := range s.latest() {
				fmt.Fprintln(w, "        sample:", line)
			}
		}
	}
}

// reportLine is a second's report: the events (of both kinds) produced
// and scored in that second, the predictions and dead letters so far,
// and the second's latency quantiles.
func reportLine(at time.Duration, produced, scored, predictions, deadLetters int64, p50, p99 time.Duration) string {
	return fmt.Sprintf("%5.0fs  produced %7d events/s  scored %7d events/s  predictions %9d  dead letters %d  latency p50 %-8v p99 %-8v",
		at.Seconds(), produced, scored, predictions, deadLetters, ms(p50), ms(p99))
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// sampler reads the predictions topic like a downstream service would and
// keeps the latest few.
type sampler struct {
	cl     *kgo.Client
	mu     sync.Mutex
	last   map[string][]string // model name -> its latest lines
	cancel context.CancelFunc
	done   chan struct{}
}

func newSampler(addrs []string, enc schemas.Encoding, each func(schemas.Prediction)) *sampler {
	s := &sampler{done: make(chan struct{}), last: map[string][]string{}}
	dec, _ := schemas.NewPredictionDecoder(enc)
	cl, err := kgo.NewClient(append(kafkaconn.Options(addrs, "streamscore-demo-sampler"),
		kgo.ConsumeTopics("predictions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))...)
	if err != nil {
		close(s.done)
		return s
	}
	s.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				p, err := dec.Decode(r.Value)
				if err != nil {
					return
				}
				each(p)
				if p.EntityID == StoryCustomer {
					return // told by the story
				}
				line := fmt.Sprintf("%-8s entity=%s event=%s score=%.4f label=%d risk=%s", p.ModelName, p.EntityID, p.EventID, p.Score, p.Label, p.RiskSegment)
				s.mu.Lock()
				l := append(s.last[p.ModelName], line)
				if len(l) > 2 {
					l = l[len(l)-2:]
				}
				s.last[p.ModelName] = l
				s.mu.Unlock()
			})
		}
	}()
	return s
}

// latest returns the latest two predictions of every model, by model name.
func (s *sampler) latest() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.last))
	for n := range s.last {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		out = append(out, s.last[n]...)
	}
	return out
}

func (s *sampler) close() {
	if s.cancel != nil {
		s.cancel()
	}
	<-s.done
	if s.cl != nil {
		s.cl.Close()
	}
}

// serveHTTP serves the pipeline's HTTP API on addr, as run does, and
// returns a function that shuts it down and the address it listens on (a
// host of its own when addr leaves it open).
func serveHTTP(p *pipeline.Pipeline, addr string, log *slog.Logger) (func(), string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("HTTP_ADDR=%q: %w (is another process on that port? set HTTP_ADDR or --http)", addr, err)
	}
	h, err := p.Handler()
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "err", err)
		}
	}()
	shown := ln.Addr().String()
	if host, port, err := net.SplitHostPort(shown); err == nil && (host == "::" || host == "0.0.0.0" || host == "") {
		shown = net.JoinHostPort("127.0.0.1", port) // every interface: loopback is one
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, shown, nil
}

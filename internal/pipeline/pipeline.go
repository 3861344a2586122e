package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/streamscore/streamscore/consumer"
	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/httpapi"
	"github.com/streamscore/streamscore/internal/kafkaconn"
	"github.com/streamscore/streamscore/internal/metrics"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/window"
)

// Option adjusts a Pipeline.
type Option func(*options)

type options struct {
	log    *slog.Logger
	extra  []kgo.Opt
	scorer *scoring.Scorer
	set    *modelset.Set
	reload <-chan struct{}
	obs    *metrics.Metrics
	ping   time.Duration
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithKafkaOptions adds franz-go options to every client (tests use it for
// short metadata ages).
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(o *options) { o.extra = append(o.extra, opts...) }
}

// WithScorer serves s on every input topic instead of loading MODEL_PATH
// (tests).
func WithScorer(s *scoring.Scorer) Option { return func(o *options) { o.scorer = s } }

// WithModels serves a model set built by the caller (the demo's embedded
// models) instead of MODEL_PATH or MODELS_FILE.
func WithModels(s *modelset.Set) Option { return func(o *options) { o.set = s } }

// WithMetrics records the pipeline's metrics there (default: a private
// registry nobody scrapes).
func WithMetrics(m *metrics.Metrics) Option { return func(o *options) { o.obs = m } }

// WithPingInterval sets how often the brokers are pinged for readiness
// (default 5s; tests shorten it).
func WithPingInterval(d time.Duration) Option { return func(o *options) { o.ping = d } }

// WithReloadSignal reloads every model whenever ch receives (SIGHUP).
func WithReloadSignal(ch <-chan struct{}) Option { return func(o *options) { o.reload = ch } }

// item is one record travelling through the window.
type item struct {
	rec *kgo.Record
	tok consumer.Token
	ev  *schemas.Event
}

// Pipeline is the run command's service.
type Pipeline struct {
	cfg      config.Config
	log      *slog.Logger
	models   *modelset.Set
	reload   <-chan struct{}
	decoders map[string]schemas.Decoder
	group    *consumer.Group
	prod     *producer.Producer
	sess     *kgo.GroupTransactSession // DELIVERY=exactly-once (then group and prod are nil)
	eos      eosState                  // exactly-once: refused records, abort backoff
	predEnc  schemas.PredictionEncoder
	stats    Stats
	obs      *metrics.Metrics
	ping     time.Duration
	ready    atomic.Pointer[string] // nil when the broker answered the last ping
	health   *health                // conditions besides the ping (topics, authorization)
	inBytes  atomic.Int64           // key and value bytes of records polled, not yet acknowledged
	paused   atomic.Bool            // fetching paused by backpressure
	// in-flight gauges: records, bytes (resolved once: set every poll)
	inFlightGauges [2]prometheus.Gauge
	topics         []string // every topic read or written, for the metadata check
	batchSeq       int64    // batches closed so far (under mu)

	// counters resolved once per label set (the hot path does no lookup)
	consumed map[string]prometheus.Counter
	predCtr  map[[2]string]prometheus.Counter // topic, model
	deadCtr  map[string]prometheus.Counter    // stage
	ctrMu    sync.Mutex

	mu    sync.Mutex // owns win, batch, evs, items and the event pool
	win   *window.Window[item]
	batch scoring.Batch
	evs   []*schemas.Event
	items []item // one model's share of a batch
	pool  []*schemas.Event
}

// LoadModels opens MODELS_FILE, or MODEL_PATH with FEATURES_PATH for every
// input topic.
func LoadModels(cfg config.Config) (*modelset.Set, error) {
	var specs []modelset.RouteSpec
	if cfg.ModelsFile != "" {
		var err error
		if specs, err = modelset.ParseFile(cfg.ModelsFile); err != nil {
			return nil, fmt.Errorf("MODELS_FILE=%q: %w", cfg.ModelsFile, err)
		}
	} else {
		specs = []modelset.RouteSpec{{Topics: cfg.Topics(), Path: cfg.ModelPath, Features: cfg.FeaturesPath,
			Format: cfg.ModelFormat, Name: cfg.ModelName}}
	}
	set, err := modelset.Open(specs, cfg.Policy(), cfg.Topics())
	if err != nil {
		if cfg.ModelsFile != "" {
			return nil, fmt.Errorf("MODELS_FILE=%q: %w", cfg.ModelsFile, err)
		}
		return nil, fmt.Errorf("MODEL_PATH=%q, FEATURES_PATH=%q: %w", cfg.ModelPath, cfg.FeaturesPath, err)
	}
	return set, nil
}

// Codecs builds the input decoders (per topic) and the prediction encoder
// of a configuration. With avro-confluent it talks to the schema registry:
// the prediction schema is registered under "<topic>-value" for every
// output topic, and a registry that refuses it fails the start.
func Codecs(ctx context.Context, cfg config.Config, outputTopics []string) (map[string]schemas.Decoder, schemas.PredictionEncoder, error) {
	inputEnc, _ := schemas.ParseEncoding(cfg.InputEncoding)
	outputEnc, _ := schemas.ParseEncoding(cfg.OutputEncoding)
	var reg *sr.Client
	if inputEnc == schemas.AvroConfluent || outputEnc == schemas.AvroConfluent {
		var err error
		if reg, err = schemas.NewRegistry(cfg.SchemaRegistryURL, cfg.SchemaRegistryUser, cfg.SchemaRegistryPass); err != nil {
			return nil, nil, fmt.Errorf("SCHEMA_REGISTRY_URL=%q: %w", cfg.SchemaRegistryURL, err)
		}
	}
	decoders := map[string]schemas.Decoder{}
	inputs, _ := cfg.Inputs()
	for _, in := range inputs {
		var d schemas.Decoder
		var err error
		if inputEnc == schemas.AvroConfluent {
			d, err = schemas.NewConfluentDecoder(in.Type, cfg.FieldNames(), reg)
		} else {
			d, err = schemas.NewDecoder(inputEnc, in.Type, cfg.FieldNames())
		}
		if err != nil {
			return nil, nil, fmt.Errorf("INPUT_TOPICS %s: %w", in.Topic, err)
		}
		decoders[in.Topic] = d
	}
	if outputEnc != schemas.AvroConfluent {
		enc, err := schemas.NewPredictionEncoder(outputEnc)
		return decoders, enc, err
	}
	subjects := make([]string, len(outputTopics))
	for i, t := range outputTopics {
		subjects[i] = t + "-value"
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	enc, err := schemas.NewConfluentPredictionEncoder(rctx, reg, subjects...)
	if err != nil {
		return nil, nil, fmt.Errorf("SCHEMA_REGISTRY_URL=%q: %w", cfg.SchemaRegistryURL, err)
	}
	return decoders, enc, nil
}

// New validates cfg, loads the model, checks that the topics exist, and
// creates the Kafka clients. It fails, naming the cause, on a bad model,
// an unreachable broker or a missing topic.
func New(ctx context.Context, cfg config.Config, opts ...Option) (*Pipeline, error) {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	set := o.set
	switch {
	case set != nil:
	case o.scorer != nil:
		routes := map[string]*scoring.Scorer{}
		for _, t := range cfg.Topics() {
			routes[t] = o.scorer
		}
		set = modelset.Static(routes)
	default:
		var err error
		if set, err = LoadModels(cfg); err != nil {
			return nil, err
		}
	}
	if o.obs == nil {
		o.obs = metrics.New()
	}
	if o.ping <= 0 {
		o.ping = 5 * time.Second
	}
	outTopics := []string{cfg.OutputTopic}
	for _, r := range set.Routes() {
		if r.OutputTopic() != "" {
			outTopics = append(outTopics, r.OutputTopic())
		}
	}
	decoders, predEnc, err := Codecs(ctx, cfg, outTopics)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg, log: o.log, models: set, reload: o.reload, decoders: decoders, ping: o.ping, predEnc: predEnc,
		obs: o.obs, consumed: map[string]prometheus.Counter{}, predCtr: map[[2]string]prometheus.Counter{}, deadCtr: map[string]prometheus.Counter{}}
	for _, t := range cfg.Topics() {
		p.consumed[t] = o.obs.Consumed.WithLabelValues(t)
	}
	p.health = newHealth(o.log, max(3*o.ping, 2*time.Second))
	p.inFlightGauges = [2]prometheus.Gauge{o.obs.InFlight.WithLabelValues("records"), o.obs.InFlight.WithLabelValues("bytes")}
	written := append(append([]string{}, outTopics...), cfg.DLQTopic)
	p.topics = append(append([]string{}, cfg.Topics()...), written...)
	unknown := "no broker ping yet"
	p.ready.Store(&unknown)
	outputEnc, _ := schemas.ParseEncoding(cfg.OutputEncoding)
	win, err := window.New(cfg.BatchMaxSize, cfg.BatchInterval, p.processBatch)
	if err != nil {
		return nil, err
	}
	p.win = win

	base, err := kafkaconn.ForConfig(cfg, "streamscore")
	if err != nil {
		return nil, err
	}
	conn := func(role string) []kgo.Opt {
		opts := append(append([]kgo.Opt{}, base...), kgo.ClientID("streamscore-"+role))
		opts = append(opts, o.extra...)
		return append(opts, o.obs.KafkaHooks())
	}
	if cfg.Delivery == "exactly-once" {
		limits := new(producer.Limits)
		sess, err := p.newSession(append(conn("eos"), limits.Opt()))
		if err != nil {
			return nil, err
		}
		if err := checkTopics(ctx, sess.Client(), p.topics, cfg); err != nil {
			sess.Close()
			return nil, err
		}
		p.loadLimits(ctx, limits, sess.Client(), written)
		p.sess = sess
		o.log.Info("streamscore ready (exactly-once)", "transactional_id", TransactionalID(cfg), "inputs", cfg.InputTopics)
		return p, nil
	}
	prod, err := producer.New(producer.Options{
		Conn: conn("producer"), Compression: cfg.Compression, Encoding: outputEnc, Encoder: predEnc,
		Topic: cfg.OutputTopic, DLQTopic: cfg.DLQTopic,
		MaxBufferedRecords: cfg.MaxInFlightRecords, MaxBufferedBytes: cfg.MaxInFlightBytes,
		OnError: p.produceError,
		Logger:  o.log,
	})
	if err != nil {
		return nil, err
	}
	if err := checkTopics(ctx, prod.Client(), p.topics, cfg); err != nil {
		prod.Close()
		return nil, err
	}
	p.loadLimits(ctx, prod.Limits(), prod.Client(), written)
	group, err := consumer.NewGroup(consumer.Options{
		Topics: cfg.Topics(), Group: cfg.GroupID, InstanceID: cfg.GroupInstanceID,
		StartAtEnd:    cfg.StartOffset == "latest",
		RevokeTimeout: min(cfg.ShutdownTimeout, 45*time.Second),
		Extra:         []kgo.Opt{kgo.FetchMaxBytes(fetchMaxBytes(cfg)), kgo.MaxConcurrentFetches(2)},
		Conn:          conn("consumer"), Logger: o.log,
		OnRevoke:     p.onRevoke,
		OnLost:       p.dropLag,
		OnLag:        o.obs.SetLag,
		OnFetchError: p.fetchError,
	})
	if err != nil {
		prod.Close()
		return nil, err
	}
	p.group, p.prod = group, prod
	for _, r := range set.Routes() {
		info := r.Scorer().Info()
		o.obs.SetModel(routeName(r), info.Name, info.Version, info.Format)
		out := r.OutputTopic()
		if out == "" {
			out = cfg.OutputTopic
		}
		o.log.Info("model in service", "model", info.Name, "version", info.Version, "format", info.Format,
			"features", len(info.Features), "topics", r.Spec.Topics, "output", out)
	}
	o.log.Info("streamscore ready", "inputs", cfg.InputTopics, "batch_max_size", cfg.BatchMaxSize,
		"batch_interval", cfg.BatchInterval)
	return p, nil
}

// fetchMaxBytes bounds what is fetched ahead of processing: a sixteenth of
// MAX_IN_FLIGHT_BYTES per fetch (4 MiB by default), at least 1 MiB. Each
// fetched record costs a few hundred bytes of client structures besides its
// bytes, so fetches are kept well below the in-flight limit; at 100-byte
// records a 4 MiB fetch still holds some 40,000 of them. (Measured: peak
// RSS through a 3M-event backlog 168 MiB with a quarter, 130 MiB with a
// sixteenth, and no throughput difference beyond noise.)
func fetchMaxBytes(cfg config.Config) int32 {
	return int32(min(max(cfg.MaxInFlightBytes/16, 1<<20), 1<<30))
}

// checkTopics fails when the brokers cannot be reached or a topic is missing.
func checkTopics(ctx context.Context, cl *kgo.Client, topics []string, cfg config.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, topics...)
	if err != nil {
		return kafkaconn.Explain(err, cfg)
	}
	var errs []error
	for _, t := range topics {
		d, ok := details[t]
		if !ok || d.Err != nil {
			cause := "does not exist"
			if ok && d.Err != nil {
				cause = d.Err.Error()
			}
			errs = append(errs, fmt.Errorf("topic %q %s (create it, or fix INPUT_TOPICS / OUTPUT_TOPIC / DLQ_TOPIC)", t, cause))
		}
	}
	return errors.Join(errs...)
}

// loadLimits reads the output topics' max.message.bytes so that batches
// never exceed them (see producer.Limits). Without them the default cap
// applies: a broker with smaller limits then refuses whole batches, whose
// records become dead letters.
func (p *Pipeline) loadLimits(ctx context.Context, l *producer.Limits, cl *kgo.Client, topics []string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.Load(ctx, cl, topics...); err != nil {
		p.log.Warn("cannot read max.message.bytes of the output topics; batches are capped at the default",
			"default", producer.DefaultMaxMessageBytes, "err", err)
	}
}

// Stats are the live counters.
func (p *Pipeline) Stats() *Stats { return &p.stats }

// Models are the models in service.
func (p *Pipeline) Models() *modelset.Set { return p.models }

// watchModels reloads changed model files every MODEL_RELOAD_INTERVAL and
// every model on the reload signal, until stop closes.
func (p *Pipeline) watchModels(stop <-chan struct{}) {
	interval := p.cfg.ModelReloadInterval
	if interval <= 0 {
		interval = 24 * time.Hour // polling off: the signal still reloads
	}
	p.models.Poll(stop, interval, p.reload, func(res modelset.Result) {
		name := res.Route.Spec.Path
		if res.Err != nil {
			p.stats.ReloadsFailed.Add(1)
			p.obs.Reloads.WithLabelValues("failed").Inc()
			p.log.Error("model reload failed; the previous model keeps serving", "model", name, "version", res.OldVersion, "err", res.Err)
			return
		}
		p.stats.ReloadsOK.Add(1)
		p.obs.Reloads.WithLabelValues("ok").Inc()
		info := res.Route.Scorer().Info()
		p.obs.SetModel(routeName(res.Route), info.Name, info.Version, info.Format)
		p.log.Info("model reloaded", "model", name, "from_version", res.OldVersion, "to_version", res.NewVersion)
	})
}

// Run consumes until ctx ends, then drains: it closes the open batch, waits
// up to SHUTDOWN_TIMEOUT for every prediction and dead letter to be
// acknowledged, commits, and leaves the group (a static member keeps its
// place). It returns nil after a clean drain.
func (p *Pipeline) Run(ctx context.Context) error {
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() { defer close(watched); p.watchModels(stopWatch) }()
	pinged := make(chan struct{})
	go func() { defer close(pinged); p.pingBroker(stopWatch) }()
	defer func() { close(stopWatch); <-watched; <-pinged }()
	if p.sess != nil {
		return p.runTransactional(ctx)
	}
	defer p.prod.Close()
	nextCommit := time.Now().Add(p.cfg.CommitInterval)
	for ctx.Err() == nil {
		if err := p.backpressure(ctx); err != nil {
			break
		}
		pollCtx, cancel := context.WithDeadline(ctx, p.pollDeadline(nextCommit))
		recs, toks, err := p.group.Poll(pollCtx, p.cfg.BatchMaxSize)
		cancel()
		if err != nil {
			p.group.Close()
			return fmt.Errorf("poll: %w", err)
		}
		now := time.Now()
		p.mu.Lock()
		for i, rec := range recs {
			if p.handle(ctx, rec, toks[i], now) != nil {
				// shutting down while the registry is unavailable: the
				// rest of this poll is not processed, nor waited for
				p.group.Tracker().Forget(toks[i:]...)
				break
			}
		}
		p.win.Tick(time.Now())
		p.mu.Unlock()
		p.group.AllowRebalance()
		if !time.Now().Before(nextCommit) {
			p.commit(ctx)
			nextCommit = time.Now().Add(p.cfg.CommitInterval)
		}
	}
	return p.drain()
}

func (p *Pipeline) pollDeadline(nextCommit time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.win.Deadline(); ok && d.Before(nextCommit) {
		return d
	}
	return nextCommit
}

func (p *Pipeline) commit(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.group.Commit(ctx); err != nil && ctx.Err() == nil {
		if !p.health.clientError("", err) {
			p.log.Warn("commit failed; will retry", "err", err)
		}
	}
}

func (p *Pipeline) drain() error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer cancel()
	p.mu.Lock()
	p.win.Close(window.Shutdown)
	p.mu.Unlock()
	waitErr := p.group.Tracker().Wait(ctx)
	if err := p.group.Commit(ctx); err != nil {
		p.log.Error("final commit failed", "err", err)
	}
	inFlight := p.group.Tracker().InFlight()
	p.group.AllowRebalance()
	p.group.Close()
	p.log.Info("drained", "elapsed", time.Since(start).Round(time.Millisecond), "consumed", p.stats.Consumed.Load(),
		"predictions", p.stats.Predictions.Load(), "dead_letters", p.stats.DeadLetters.Load(), "unacknowledged", inFlight)
	if waitErr != nil {
		return fmt.Errorf("shutdown: %d records not acknowledged within SHUTDOWN_TIMEOUT=%v; they stay uncommitted and will be read again",
			inFlight, p.cfg.ShutdownTimeout)
	}
	return nil
}

// onRevoke closes the open batch so that the revoked partitions' records
// are produced before their acks are awaited.
func (p *Pipeline) onRevoke(_ context.Context, tps []consumer.TopicPartition) {
	p.mu.Lock()
	p.win.Close(window.Revoke)
	p.mu.Unlock()
	p.dropLag(tps)
}

func (p *Pipeline) dropLag(tps []consumer.TopicPartition) {
	for _, tp := range tps {
		p.obs.DropLag(tp.Topic, tp.Partition)
	}
}

// client is the Kafka client that consumes.
func (p *Pipeline) client() *kgo.Client {
	if p.sess != nil {
		return p.sess.Client()
	}
	return p.group.Client()
}

// routeName labels a route in metrics: its topics.
func routeName(r *modelset.Route) string { return strings.Join(r.Spec.Topics, ",") }

// pingBroker checks every few seconds that the brokers answer, for
// readiness.
func (p *Pipeline) pingBroker(stop <-chan struct{}) {
	t := time.NewTicker(p.ping)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), min(3*time.Second, p.ping))
		err := p.client().Ping(ctx)
		cancel()
		if err != nil {
			msg := "brokers unreachable: " + err.Error()
			p.ready.Store(&msg)
		} else {
			p.ready.Store(nil)
			p.recheckTopics()
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// recheckTopics asks the brokers for every topic read or written: a topic
// deleted while running, or one the principal may no longer describe,
// makes the service unready until it is back.
func (p *Pipeline) recheckTopics() {
	ctx, cancel := context.WithTimeout(context.Background(), min(3*time.Second, p.ping))
	defer cancel()
	details, err := kadm.NewClient(p.client()).ListTopics(ctx, p.topics...)
	if err != nil {
		return // the next ping tells whether the brokers answer
	}
	for _, t := range p.topics {
		d, ok := details[t]
		exists := ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition)
		p.health.checkTopic(t, exists, d.Err)
	}
}

// produceError is told every error the producer sees: authorization and
// missing-topic errors become readiness conditions, and so does a dead
// letter that cannot be written (its partition's offset cannot advance).
func (p *Pipeline) produceError(topic string, err error) {
	if !p.health.clientError(topic, err) && topic == p.cfg.DLQTopic {
		p.health.report("client/dlq", fmt.Sprintf("dead letters cannot be written to %q (%v); the offsets of their partitions do not advance", topic, err), false)
	}
}

// fetchError is told the errors returned to polls: authorization and
// missing-topic errors become readiness conditions, others are logged.
func (p *Pipeline) fetchError(topic string, partition int32, err error) {
	if !p.health.clientError(topic, err) {
		p.log.Warn("fetch error; retrying", "topic", topic, "partition", partition, "err", err)
	}
}

// Ready reports whether the service can score: a model is loaded (always,
// once New succeeded), the brokers answer, every topic exists and is
// authorized, and partitions are assigned. The reason says what is
// missing.
func (p *Pipeline) Ready() (bool, string) {
	if msg := p.ready.Load(); msg != nil {
		return false, *msg
	}
	if msg := p.health.unready(); msg != "" {
		return false, msg
	}
	if p.group != nil && p.group.Tracker().OwnedCount() == 0 {
		return false, "no partitions assigned (yet, or more members than partitions)"
	}
	return true, "ok"
}

// handle decodes one record into the window, or dead-letters it.
// It returns ctx's error, and leaves the record alone, if ctx ends while
// the schema registry is unavailable.
func (p *Pipeline) handle(ctx context.Context, rec *kgo.Record, tok consumer.Token, now time.Time) error {
	ev := p.getEvent()
	err := p.decode(ctx, rec, ev)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		p.putEvent(ev)
		return err
	}
	p.stats.Consumed.Add(1)
	p.consumed[rec.Topic].Inc()
	p.inBytes.Add(recordBytes(rec))
	if err != nil {
		p.putEvent(ev)
		p.deadLetter(rec, tok, producer.StageDecode, err)
		return nil
	}
	p.win.Add(item{rec: rec, tok: tok, ev: ev}, now)
	return nil
}

// processBatch scores a closed batch, model by model (a partition belongs
// to one topic, so to one model: its records keep their order), and hands
// every record to the producer. Each model's scorer is read once for the
// batch, so a reload takes effect between batches. Called by the window
// with p.mu held.
func (p *Pipeline) processBatch(b window.Batch[item]) {
	p.batchSeq++
	for _, route := range p.models.Routes() {
		p.items = p.items[:0]
		for _, it := range b.Items {
			if p.models.For(it.rec.Topic) == route {
				p.items = append(p.items, it)
			}
		}
		if len(p.items) > 0 {
			p.scoreGroup(route, p.items)
		}
	}
	for _, it := range b.Items {
		p.putEvent(it.ev)
	}
	p.stats.Batches.Add(1)
	p.obs.Batches.WithLabelValues(b.Trigger.String()).Inc()
	p.obs.BatchSize.Observe(float64(len(b.Items)))
	p.obs.BatchDone(time.Now())
	if p.log.Enabled(context.Background(), slog.LevelDebug) {
		p.log.Debug("batch scored", "batch", p.batchSeq, "records", len(b.Items), "trigger", b.Trigger.String(),
			"waited", time.Since(b.Opened).Round(time.Microsecond), "partitions", partitionsOf(b.Items))
	}
	p.win.Recycle(b.Items)
}

// partitionsOf lists the partitions of a batch with their offset ranges,
// for log lines: "transactions/0:100-163".
func partitionsOf(items []item) []string {
	type span struct{ lo, hi int64 }
	spans := map[consumer.TopicPartition]*span{}
	var order []consumer.TopicPartition
	for _, it := range items {
		tp := consumer.TopicPartition{Topic: it.rec.Topic, Partition: it.rec.Partition}
		if s := spans[tp]; s != nil {
			s.lo, s.hi = min(s.lo, it.rec.Offset), max(s.hi, it.rec.Offset)
			continue
		}
		spans[tp] = &span{it.rec.Offset, it.rec.Offset}
		order = append(order, tp)
	}
	out := make([]string, len(order))
	for i, tp := range order {
		out[i] = fmt.Sprintf("%s/%d:%d-%d", tp.Topic, tp.Partition, spans[tp].lo, spans[tp].hi)
	}
	return out
}

func (p *Pipeline) scoreGroup(route *modelset.Route, items []item) {
	s := route.Scorer()
	model := s.Info().Name
	p.evs = p.evs[:0]
	for _, it := range items {
		p.evs = append(p.evs, it.ev)
	}
	start := time.Now()
	s.Score(p.evs, &p.batch)
	p.obs.ScoringSeconds.WithLabelValues(model).Observe(time.Since(start).Seconds())
	scores := p.obs.Scores.WithLabelValues(model)
	scoredAt := schemas.Millis(time.Now())
	topic := route.OutputTopic()
	var newest time.Time
	for i, it := range items {
		r := &p.batch.Results[i]
		if r.Err != nil {
			p.deadLetter(it.rec, it.tok, r.Stage, r.Err)
			continue
		}
		scores.Observe(r.Score)
		if it.ev.Time.After(newest) {
			newest = it.ev.Time
		}
		pred := s.Prediction(it.ev, r, schemas.Source{Topic: it.rec.Topic, Partition: it.rec.Partition, Offset: it.rec.Offset}, scoredAt)
		rec, tok, ctr := it.rec, it.tok, p.predCounter(it.rec.Topic, model)
		p.prod.Prediction(&pred, rec, topic, func(dead bool) {
			if dead { // refused by the broker: its dead letter is written
				p.acked(rec, tok, &p.stats.DeadLetters, p.deadCounter(producer.StageProduce))
				return
			}
			p.acked(rec, tok, &p.stats.Predictions, ctr)
		})
	}
	if !newest.IsZero() {
		p.obs.EventScored(newest)
	}
}

func (p *Pipeline) deadLetter(rec *kgo.Record, tok consumer.Token, stage string, cause error) {
	p.log.Debug("dead letter", "stage", stage, "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "err", cause)
	ctr := p.deadCounter(stage)
	p.prod.DeadLetter(rec, stage, cause, func() { p.acked(rec, tok, &p.stats.DeadLetters, ctr) })
}

// acked runs in producer callbacks: the record is done.
func (p *Pipeline) acked(rec *kgo.Record, tok consumer.Token, counter interface{ Add(int64) int64 }, ctr prometheus.Counter) {
	p.group.Tracker().Ack(tok)
	p.inBytes.Add(-recordBytes(rec))
	counter.Add(1)
	ctr.Inc()
	e2e := time.Since(rec.Timestamp)
	p.stats.Latency.Observe(e2e)
	p.obs.EndToEnd.Observe(e2e.Seconds())
}

func (p *Pipeline) predCounter(topic, model string) prometheus.Counter {
	p.ctrMu.Lock()
	defer p.ctrMu.Unlock()
	k := [2]string{topic, model}
	c, ok := p.predCtr[k]
	if !ok {
		c = p.obs.Predictions.WithLabelValues(topic, model)
		p.predCtr[k] = c
	}
	return c
}

func (p *Pipeline) deadCounter(stage string) prometheus.Counter {
	p.ctrMu.Lock()
	defer p.ctrMu.Unlock()
	c, ok := p.deadCtr[stage]
	if !ok {
		c = p.obs.DeadLetters.WithLabelValues(stage)
		p.deadCtr[stage] = c
	}
	return c
}

func (p *Pipeline) getEvent() *schemas.Event {
	if n := len(p.pool); n > 0 {
		ev := p.pool[n-1]
		p.pool = p.pool[:n-1]
		return ev
	}
	return &schemas.Event{Fields: make([]schemas.Field, 0, 16)}
}

func (p *Pipeline) putEvent(ev *schemas.Event) {
	if len(p.pool) < 4*p.cfg.BatchMaxSize {
		p.pool = append(p.pool, ev)
	}
}

// Handler is the HTTP API on this pipeline's models, readiness and metrics.
func (p *Pipeline) Handler() (http.Handler, error) {
	inputs, _ := p.cfg.Inputs()
	var ins []httpapi.Input
	for _, in := range inputs {
		ins = append(ins, httpapi.Input{Topic: in.Topic, Type: in.Type})
	}
	return httpapi.New(httpapi.Options{Models: p.models, Inputs: ins, Names: p.cfg.FieldNames(), Ready: p.Ready,
		Metrics: p.obs, MaxBodyBytes: p.cfg.HTTPMaxBodyBytes, MaxBatch: p.cfg.HTTPMaxBatch, Logger: p.log})
}

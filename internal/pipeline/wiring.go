package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/httpapi"
	"github.com/streamscore/streamscore/internal/kafkaconn"
	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/metrics"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/entity"
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

// runner is one delivery mode: at-least-once or exactly-once.
type runner interface {
	// run consumes until ctx ends, then drains within SHUTDOWN_TIMEOUT.
	run(ctx context.Context) error
	// client is the Kafka client that consumes (for pings and metadata).
	client() *kgo.Client
	// assigned is the number of input partitions this member owns.
	assigned() int
	// rebuilding is the number of entity-state rebuilds in progress.
	rebuilding() int64
	// owns reports whether this member owns the input partition.
	owns(tp lane.Partition) bool
	// probe scores recs against the entity state of tp's lane
	// (lane.Set.Probe).
	probe(ctx context.Context, tp lane.Partition, recs []*outcome.Record, ex outcome.Explain) error
}

// Pipeline is the run command's service: a consumer group member whose
// records flow through lanes (decode, window, outcome core, encode) to the
// producer, in one of the two delivery modes.
type Pipeline struct {
	cfg      config.Config
	log      *slog.Logger
	models   *modelset.Set
	core     *outcome.Core
	reload   <-chan struct{}
	predEnc  schemas.PredictionEncoder
	registry *sr.Client // nil unless an encoding is avro-confluent
	stats    Stats
	obs      *metrics.Metrics
	ping     time.Duration
	ready    atomic.Pointer[string] // nil when the broker answered the last ping
	health   *health                // conditions besides the ping (topics, authorization)
	progress *progress              // whether owned partitions are read (readiness)
	topics   []string               // every topic read or written, for the metadata check
	written  []string               // the output and dead-letter topics
	// runner is the delivery mode; exactly-once replaces it after a
	// transaction the brokers did not confirm (Run), so other goroutines
	// read it through current
	runner   runner
	runnerMu sync.RWMutex
	// eosConn connects a replacement exactly-once session's client
	eosConn func() []kgo.Opt
	// the lanes' entity and label-rebuild figures of the current runner,
	// registered as metrics once
	entityFigs carried[metrics.EntityFigures]
	labelFigs  carried[metrics.LabelRebuildFigures]
	// rebuildConn connects the clients that read history back for the
	// entity state (no metrics hooks: they come and go).
	rebuildConn []kgo.Opt
	partitions  map[string]int // every topic's partition count, checked at start
	watch       *watcher       // labels, drift, challengers
	missing     sync.Map       // *scoring.Scorer → metrics.MissingCounters
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
			Format: cfg.ModelFormat, Name: cfg.ModelName, Baseline: cfg.BaselinePath}}
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

// codecs are a configuration's input decoders (per topic), prediction
// encoder, and the schema registry client they share (nil unless an
// encoding is avro-confluent), which the label rebuilder reads
// predictions with.
type codecs struct {
	decoders map[string]schemas.Decoder
	enc      schemas.PredictionEncoder
	reg      *sr.Client
}

// newCodecs builds the input decoders (keeping only the fields of fields
// when it is not nil) and the prediction encoder of a configuration. With
// avro-confluent it talks to the schema registry: the prediction schema is
// registered under "<topic>-value" for every output topic, and a registry
// that refuses it fails the start.
func newCodecs(ctx context.Context, cfg config.Config, outputTopics []string, fields *schemas.FieldSet) (codecs, error) {
	inputEnc, _ := schemas.ParseEncoding(cfg.InputEncoding)
	outputEnc, _ := schemas.ParseEncoding(cfg.OutputEncoding)
	var c codecs
	if inputEnc == schemas.AvroConfluent || outputEnc == schemas.AvroConfluent {
		var err error
		if c.reg, err = schemas.NewRegistry(cfg.SchemaRegistryURL, cfg.SchemaRegistryUser, cfg.SchemaRegistryPass); err != nil {
			return c, fmt.Errorf("SCHEMA_REGISTRY_URL=%q: %w", cfg.SchemaRegistryURL, err)
		}
	}
	c.decoders = map[string]schemas.Decoder{}
	inputs, _ := cfg.Inputs()
	for _, in := range inputs {
		var d schemas.Decoder
		var err error
		if inputEnc == schemas.AvroConfluent {
			d, err = schemas.NewConfluentDecoder(in.Type, cfg.FieldNames(), c.reg, schemas.KeepFields(fields))
		} else {
			d, err = schemas.NewDecoder(inputEnc, in.Type, cfg.FieldNames(), schemas.KeepFields(fields))
		}
		if err != nil {
			return c, fmt.Errorf("INPUT_TOPICS %s: %w", in.Topic, err)
		}
		c.decoders[in.Topic] = d
	}
	var err error
	if outputEnc != schemas.AvroConfluent {
		c.enc, err = schemas.NewPredictionEncoder(outputEnc)
		return c, err
	}
	subjects := make([]string, len(outputTopics))
	for i, t := range outputTopics {
		subjects[i] = t + "-value"
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if c.enc, err = schemas.NewConfluentPredictionEncoder(rctx, c.reg, subjects...); err != nil {
		return c, fmt.Errorf("SCHEMA_REGISTRY_URL=%q: %w", cfg.SchemaRegistryURL, err)
	}
	return c, nil
}

// Core builds the outcome core of a configuration and its models: the
// decoders of every input topic, keeping only the fields the models read.
func Core(ctx context.Context, cfg config.Config, set *modelset.Set, outputTopics []string) (*outcome.Core, schemas.PredictionEncoder, error) {
	core, c, err := newCore(ctx, cfg, set, outputTopics)
	return core, c.enc, err
}

func newCore(ctx context.Context, cfg config.Config, set *modelset.Set, outputTopics []string) (*outcome.Core, codecs, error) {
	fields := schemas.NewFieldSet(outcome.FieldsFor(set)...)
	c, err := newCodecs(ctx, cfg, outputTopics, fields)
	if err != nil {
		return nil, c, err
	}
	inputs, _ := cfg.Inputs()
	var ins []outcome.Input
	for _, in := range inputs {
		ins = append(ins, outcome.Input{Topic: in.Topic, Kind: in.Type, Decoder: c.decoders[in.Topic]})
	}
	core, err := outcome.New(set, ins, fields)
	return core, c, err
}

// OutputTopics are the topics predictions go to: OUTPUT_TOPIC, every
// route's own and every challenger's.
func OutputTopics(cfg config.Config, set *modelset.Set) []string {
	out := []string{cfg.OutputTopic}
	for _, r := range set.Routes() {
		for _, t := range []string{r.OutputTopic(), r.ShadowTopic()} {
			if t != "" && !contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
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
	for _, r := range set.Routes() {
		if err := checkExplain(cfg.ReasonsTopK, r.Scorer()); err != nil {
			return nil, err
		}
	}
	outTopics := OutputTopics(cfg, set)
	core, cods, err := newCore(ctx, cfg, set, outTopics)
	if err != nil {
		return nil, err
	}
	// a reloaded model must keep the entity state's aggregates and, with
	// reasons, explain its scores; otherwise the old one keeps serving
	set.SetAccept(func(s *scoring.Scorer) error {
		if err := core.Accepts(s); err != nil {
			return err
		}
		return checkExplain(cfg.ReasonsTopK, s)
	})
	p := &Pipeline{cfg: cfg, log: o.log, models: set, core: core, reload: o.reload, ping: o.ping, predEnc: cods.enc, registry: cods.reg, obs: o.obs}
	p.entityFigs.add, p.labelFigs.add = addEntityFigures, addLabelFigures
	p.health = newHealth(o.log, max(3*o.ping, 2*time.Second))
	p.progress = newProgress()
	p.written = append(append([]string{}, outTopics...), cfg.DLQTopic)
	if p.watch, err = newWatcher(p); err != nil {
		return nil, err
	}
	p.topics = append(p.watch.consumed(), p.written...)
	unknown := "no broker ping yet"
	p.ready.Store(&unknown)

	base, err := kafkaconn.ForConfig(cfg, "streamscore")
	if err != nil {
		return nil, err
	}
	conn := func(role string) []kgo.Opt {
		opts := append(append([]kgo.Opt{}, base...), kgo.ClientID("streamscore-"+role))
		opts = append(opts, kgo.WithLogger(kgoLogger{o.log}))
		opts = append(opts, o.extra...)
		return append(opts, o.obs.KafkaHooks())
	}
	p.rebuildConn = append(append(append([]kgo.Opt{}, base...), kgo.ClientID("streamscore-rebuild")), o.extra...)
	if cfg.Delivery == "exactly-once" {
		p.eosConn = func() []kgo.Opt { return conn("eos") }
		p.runner, err = newExactlyOnce(ctx, p, p.eosConn())
	} else {
		p.runner, err = newAtLeastOnce(ctx, p, conn("producer"), conn("consumer"))
	}
	if err != nil {
		return nil, err
	}
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
	o.log.Info("streamscore ready", "delivery", cfg.Delivery, "inputs", cfg.InputTopics, "batch_max_size", cfg.BatchMaxSize,
		"batch_interval", cfg.BatchInterval)
	return p, nil
}

// fetchMaxBytes bounds what is fetched ahead of processing: a sixty-fourth
// of MAX_IN_FLIGHT_BYTES per fetch (1 MiB by default), at least 64 KiB.
// The bound is on the batches as stored, compressed, and a poll hands over
// whole fetch responses when entity aggregates merge partitions
// (pollMax), so records in flight overshoot MAX_IN_FLIGHT_RECORDS by what
// two responses decompress to: 4 MiB fetches of lz4-compressed 250-byte
// JSON brought 44,000–97,000 records in flight at a limit of 20,000, and
// peak RSS 174–190 MiB (transactions only) and 261–269 MiB (with activity)
// in a 200,000-event catch-up; 1 MiB fetches 29,000–46,000 records, 150–160
// and 181–205 MiB, throughput within the runs' noise (three alternating
// pairs each). Each fetched record costs a few hundred bytes of client
// structures besides its bytes, and pins its decompressed batch.
func fetchMaxBytes(cfg config.Config) int32 {
	return int32(min(max(cfg.MaxInFlightBytes/64, 64<<10), 64<<20)) // under the client's 100 MiB read limit
}

// fetchOpts are the group consumer's fetch options. With entity
// aggregates each partition gets an equal share of a fetch response (n:
// the input partitions), so that a response brings some of every
// partition rather than filling up with the first ones, and a fetch that
// finds nothing new returns within 50 ms, so that a partition a lane's
// event-time merge waits for, resumed by backpressure (backpressureMerge),
// is fetched soon rather than after a long poll of the others.
func fetchOpts(cfg config.Config, entities bool, counts map[string]int) []kgo.Opt {
	opts := []kgo.Opt{kgo.FetchMaxBytes(fetchMaxBytes(cfg)), kgo.MaxConcurrentFetches(2)}
	n := 0
	for _, t := range cfg.Topics() {
		n += counts[t]
	}
	if entities && n > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(max(fetchMaxBytes(cfg)/int32(n), 64<<10)), kgo.FetchMaxWait(50*time.Millisecond))
	}
	return opts
}

// laneStateBound is each lane's share of ENTITY_STATE_MAX_BYTES, which
// bounds the process: a member owns at most one lane per partition number
// of the (co-partitioned) input topics, so each lane may hold the bound
// divided by that number.
func (p *Pipeline) laneStateBound() int64 {
	total, n := p.cfg.EntityStateMaxBytes, p.maxLanes()
	if total <= 0 || n <= 1 {
		return total
	}
	return max(total/int64(n), 1)
}

// maxLanes is the most lanes a member can own: the largest partition
// count of the input topics.
func (p *Pipeline) maxLanes() int {
	n := 1
	for _, t := range p.cfg.Topics() {
		n = max(n, p.partitions[t])
	}
	return n
}

// partitionCounts checks, with cl, that the brokers answer and every topic
// exists (checkTopics) and is co-partitioned where it must be
// (checkCoPartitioned), and returns their partition counts.
func (p *Pipeline) partitionCounts(ctx context.Context, cl *kgo.Client) (map[string]int, error) {
	counts, err := checkTopics(ctx, cl, p.topics, p.cfg)
	if err == nil {
		err = p.checkCoPartitioned(counts)
	}
	return counts, err
}

// checkCoPartitioned fails, when entity aggregates are configured, unless
// every input topic has the same partition count: a lane keeps the
// history of partition p of every input topic.
func (p *Pipeline) checkCoPartitioned(counts map[string]int) error {
	if p.partitions == nil {
		p.partitions = counts
	} else if !maps.Equal(p.partitions, counts) { // a new exactly-once session: the lookups read the map meanwhile
		return fmt.Errorf("the topics' partition counts changed while running (%v, now %v): restart streamscore", p.partitions, counts)
	}
	topics := p.cfg.Topics()
	if l := p.cfg.LabelsTopic; l != "" {
		// lane p joins partition p of the labels to the predictions of
		// partition p of every input topic
		var desc []string
		same := true
		for _, t := range topics {
			desc = append(desc, fmt.Sprintf("%s has %d", t, counts[t]))
			same = same && counts[t] == counts[l]
		}
		if !same {
			return fmt.Errorf("LABELS_TOPIC %s must be co-partitioned with the input topics (the same partition count, keyed by entity): it has %d partitions, %s",
				l, counts[l], strings.Join(desc, ", "))
		}
	}
	if len(p.core.Spec().Aggregates()) == 0 {
		return nil
	}
	var desc []string
	same := true
	for _, t := range topics {
		desc = append(desc, fmt.Sprintf("%s has %d", t, counts[t]))
		same = same && counts[t] == counts[topics[0]]
	}
	if !same {
		return fmt.Errorf("entity aggregates need co-partitioned input topics (the same partition count, keyed by entity): %s partitions", strings.Join(desc, ", "))
	}
	return nil
}

// pollMax is how many records a poll takes: BATCH_MAX_SIZE, or with
// entity aggregates whole fetch responses. The event-time merge reads a
// partition with nothing buffered as caught up by the high watermark of
// its last fetch; a poll that took part of a response would hand over one
// partition's records while another's, fetched in the same response, wait
// in the client, and the merge would go on without them.
func (p *Pipeline) pollMax() int {
	if len(p.core.Spec().Aggregates()) > 0 {
		return 0 // kgo: everything buffered
	}
	return p.cfg.BatchMaxSize
}

// entityFigures sums the lanes' entity figures for metrics.
func entityFigures[R any](lanes *lane.Set[R], rb *rebuilder[R]) func() metrics.EntityFigures {
	return func() metrics.EntityFigures {
		st := lanes.EntityStats()
		return metrics.EntityFigures{Bytes: st.Bytes, Entities: st.Entities, Late: st.Late, Evicted: st.Evicted,
			Replayed: st.Replayed, Rebuilding: rb.rebuilding(), RebuildSeconds: time.Duration(rb.took.Load()).Seconds()}
	}
}

// checkTopics fails when the brokers cannot be reached or a topic is
// missing. It returns the partition count of every topic.
func checkTopics(ctx context.Context, cl *kgo.Client, topics []string, cfg config.Config) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, topics...)
	if err != nil {
		return nil, kafkaconn.Explain(err, cfg)
	}
	counts := map[string]int{}
	var errs []error
	for _, t := range topics {
		d, ok := details[t]
		if !ok || d.Err != nil {
			cause := "does not exist"
			if ok && d.Err != nil {
				cause = d.Err.Error()
			}
			errs = append(errs, fmt.Errorf("topic %q %s (create it, or fix INPUT_TOPICS / OUTPUT_TOPIC / DLQ_TOPIC)", t, cause))
			continue
		}
		counts[t] = len(d.Partitions)
	}
	return counts, errors.Join(errs...)
}

// loadLimits reads the output topics' max.message.bytes so that batches
// never exceed them (see producer.Limits). Without them the default cap
// applies: a broker with smaller limits then refuses whole batches, whose
// records become dead letters.
func (p *Pipeline) loadLimits(ctx context.Context, l *producer.Limits, cl *kgo.Client) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.Load(ctx, cl, p.written...); err != nil {
		p.log.Warn("cannot read max.message.bytes of the output topics; batches are capped at the default",
			"default", producer.DefaultMaxMessageBytes, "err", err)
	}
}

// laneConfig is the lanes' shared configuration, with the metrics hooks.
func (p *Pipeline) laneConfig(pause, resume func(topic string, partition int32)) lane.Config {
	batches := map[window.Trigger]func(){}
	for _, tr := range []window.Trigger{window.Size, window.Interval, window.Revoke, window.Shutdown, window.Transaction} {
		c := p.obs.Batches.WithLabelValues(tr.String())
		batches[tr] = c.Inc
	}
	return lane.Config{Core: p.core, MaxSize: p.cfg.BatchMaxSize, Interval: p.cfg.BatchInterval, Log: p.log, Explain: p.explain(),
		MaxIdle: p.cfg.EntityMaxIdle, State: entity.Options{MaxBytes: p.laneStateBound(), Slack: p.cfg.EntityRebuildSlack},
		ExpireAtCommit: p.cfg.Delivery == "exactly-once", Features: p.cfg.PredictionFeatures,
		Watch: p.watch.laneWatch(p.cfg.Delivery == "exactly-once"),
		Hooks: lane.Hooks{
			Batch: func(tr window.Trigger, n int, opened, newest time.Time) {
				p.stats.Batches.Add(1)
				if inc := batches[tr]; inc != nil {
					inc()
				}
				p.obs.BatchSize.Observe(float64(n))
				now := time.Now()
				p.obs.BatchDone(now)
				if !newest.IsZero() {
					p.obs.EventScored(newest)
				}
			},
			Unavailable: p.registryDown,
			Available:   func() { p.health.clear(registryCondition) },
			Pause:       pause,
			Resume:      resume,
			Missing:     p.countMissing,
		}}
}

// countMissing adds a batch's missing model inputs to
// streamscore_feature_missing_total; each scorer's counters are resolved
// once (a reload brings a new scorer).
func (p *Pipeline) countMissing(s *scoring.Scorer, counts []uint32) {
	c, ok := p.missing.Load(s)
	if !ok {
		c, _ = p.missing.LoadOrStore(s, p.obs.MissingCounters(s.Info().Name, s.Plan().Names()))
	}
	c.(metrics.MissingCounters).Add(counts)
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

// Run consumes until ctx ends, then drains: the lanes finish and close
// their batches, every output is awaited, offsets are committed and the
// group is left — all within SHUTDOWN_TIMEOUT, even with the brokers gone.
// It returns nil after a clean drain, and an error naming the records
// left unacknowledged otherwise.
func (p *Pipeline) Run(ctx context.Context) error {
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() { defer close(watched); p.watchModels(stopWatch) }()
	pinged := make(chan struct{})
	go func() { defer close(pinged); p.pingBroker(stopWatch) }()
	published := make(chan struct{})
	go func() { defer close(published); p.watch.run(stopWatch) }()
	defer func() { close(stopWatch); <-watched; <-pinged; <-published }()
	restarts, committedAt := 0, p.stats.Consumed.Load()
	for {
		err := p.current().run(ctx)
		if !errors.Is(err, errEndUnconfirmed) || ctx.Err() != nil {
			return err
		}
		if old, ok := p.current().(*exactlyOnce); !ok || !old.closed {
			return err // its client is still open: a second one would share its metrics and member
		}
		if c := p.stats.Consumed.Load(); c != committedAt { // a transaction committed since the last restart
			restarts, committedAt = 0, c
		}
		if restarts++; restarts > maxRestarts {
			return fmt.Errorf("exactly-once: %d sessions in a row ended without committing a transaction: %w", maxRestarts, err)
		}
		p.log.Warn("exactly-once: the brokers did not confirm a transaction's end; the session starts again as a new process would (fence, committed offsets, entity-state rebuild)",
			"restart", restarts, "err", err)
		p.health.report(restartCondition, "exactly-once session starting again after a transaction the brokers did not confirm", false)
		err = p.restartExactlyOnce(ctx, restarts)
		p.health.clear(restartCondition)
		if err != nil || ctx.Err() != nil {
			return err // a shutdown meanwhile: nothing is in flight
		}
	}
}

// maxRestarts bounds the exactly-once sessions started in a row without
// a committed transaction between them: an end the brokers keep leaving
// unconfirmed is then not a restart away from healing.
const maxRestarts = 10

// restartCondition is the readiness condition while a new exactly-once
// session starts.
const restartCondition = "client/session"

// current is the delivery mode in service.
func (p *Pipeline) current() runner {
	p.runnerMu.RLock()
	defer p.runnerMu.RUnlock()
	return p.runner
}

// restartExactlyOnce replaces the exactly-once runner, whose session was
// closed after a transaction the brokers did not confirm, with a new one:
// its producer fences the old one (aborting the transaction if it is
// still open), its member reads the committed offsets and its lanes
// rebuild the entity state, as after a restart of the process. The
// restart-th in a row waits 2^(restart-1)×100 ms first (up to 10 s); while
// the brokers do not answer it tries again, 1 s apart up to 10 s. Another
// failure (a topic deleted, partition counts changed) ends the run. It
// returns nil when ctx ends first (nothing is in flight).
func (p *Pipeline) restartExactlyOnce(ctx context.Context, restart int) error {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(min(100*time.Millisecond<<min(restart-1, 8), 10*time.Second)):
	}
	wait := time.Second
	for {
		e, err := newExactlyOnce(ctx, p, p.eosConn())
		if err == nil {
			p.runnerMu.Lock()
			p.runner = e
			p.runnerMu.Unlock()
			return nil
		}
		if !transient(err) {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("exactly-once: a new session after a transaction the brokers did not confirm: %w", err)
		}
		p.log.Warn("exactly-once: the new session did not start; trying again", "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// transient reports whether a new session failed for what may heal by
// itself: brokers that do not answer, a timeout, a retriable code (a
// coordinator loading after a broker's restart).
func transient(err error) bool {
	var ke *kerr.Error
	return errors.Is(err, kafkaconn.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ke) && ke.Retriable
}

// watchEntities makes fn the source of the entity-state metrics (the
// current runner's lanes), registering them on the first call; the
// counters of a replaced runner carry on in the next one's.
func (p *Pipeline) watchEntities(fn func() metrics.EntityFigures) {
	p.entityFigs.set(fn, p.obs.WatchEntities)
}

// watchLabelRebuild is watchEntities for the label-rebuild metrics.
func (p *Pipeline) watchLabelRebuild(fn func() metrics.LabelRebuildFigures) {
	p.labelFigs.set(fn, p.obs.WatchLabelRebuild)
}

// carried is the source of a set of figures read at every scrape from
// the current runner, whose counters carry on across runners: add(a, b)
// is b's gauges with a's counters added to b's.
type carried[F any] struct {
	fn   atomic.Pointer[func() F]
	base atomic.Pointer[F] // add of the replaced runners' last figures (nil: none)
	once sync.Once
	add  func(a, b F) F
}

// set makes fn the source, registering read with register on the first
// call.
func (c *carried[F]) set(fn func() F, register func(func() F)) {
	if old := c.fn.Load(); old != nil {
		base := c.add(c.baseline(), (*old)())
		c.base.Store(&base)
	}
	c.fn.Store(&fn)
	c.once.Do(func() { register(c.read) })
}

func (c *carried[F]) baseline() F {
	if b := c.base.Load(); b != nil {
		return *b
	}
	var zero F
	return zero
}

func (c *carried[F]) read() F { return c.add(c.baseline(), (*c.fn.Load())()) }

// addEntityFigures is b with a's counters added (carried.add).
func addEntityFigures(a, b metrics.EntityFigures) metrics.EntityFigures {
	b.Late, b.Evicted, b.Replayed, b.RebuildSeconds = a.Late+b.Late, a.Evicted+b.Evicted, a.Replayed+b.Replayed, a.RebuildSeconds+b.RebuildSeconds
	return b
}

// addLabelFigures is b with a's counters added (carried.add).
func addLabelFigures(a, b metrics.LabelRebuildFigures) metrics.LabelRebuildFigures {
	b.Predictions, b.Labels, b.Failed, b.Dropped, b.Seconds = a.Predictions+b.Predictions, a.Labels+b.Labels, a.Failed+b.Failed,
		a.Dropped+b.Dropped, a.Seconds+b.Seconds
	return b
}

// routeName labels a route in metrics: its topics.
func routeName(r *modelset.Route) string { return strings.Join(r.Spec.Topics, ",") }

// Handler is the HTTP API on this pipeline's models, readiness and metrics.
func (p *Pipeline) Handler() (http.Handler, error) {
	inputs, _ := p.cfg.Inputs()
	var ins []httpapi.Input
	for _, in := range inputs {
		ins = append(ins, httpapi.Input{Topic: in.Topic, Type: in.Type})
	}
	return httpapi.New(httpapi.Options{Models: p.models, Inputs: ins, Names: p.cfg.FieldNames(), Ready: p.Ready,
		Metrics: p.obs, MaxBodyBytes: p.cfg.HTTPMaxBodyBytes, MaxBatch: p.cfg.HTTPMaxBatch, Pprof: p.cfg.HTTPPprof, Logger: p.log,
		Features: p.cfg.PredictionFeatures, Explain: p.explain(), Entities: newEntityLookup(p)})
}

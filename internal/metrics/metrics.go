package metrics

import (
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// Metrics are the service's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	Consumed       *prometheus.CounterVec   // topic
	Predictions    *prometheus.CounterVec   // topic, model
	DeadLetters    *prometheus.CounterVec   // stage
	Batches        *prometheus.CounterVec   // trigger
	BatchSize      prometheus.Histogram     // records
	ScoringSeconds *prometheus.HistogramVec // model
	EndToEnd       prometheus.Histogram     // seconds from record timestamp to ack
	Lag            *prometheus.GaugeVec     // topic, partition
	ModelInfo      *prometheus.GaugeVec     // route, name, version, format
	Reloads        *prometheus.CounterVec   // result
	Scores         *prometheus.HistogramVec // model
	HTTPRequests   *prometheus.CounterVec   // handler, code
	HTTPSeconds    *prometheus.HistogramVec // handler
	InFlight       *prometheus.GaugeVec     // unit (records, bytes): polled, not yet acknowledged
	FetchPaused    prometheus.Gauge         // 1 while fetching is paused by backpressure
	FetchPauses    prometheus.Counter       // times fetching was paused
	FeatureMissing *prometheus.CounterVec   // model, feature: scored records with that input missing (see MissingCounters)
	// Reason codes: time spent computing contributions after scoring, and
	// the predictions explained (REASONS_TOP_K, explain=true).
	ExplainSeconds *prometheus.CounterVec // model
	Explained      *prometheus.CounterVec // model

	// Model monitoring (quality.go): challenger outcomes and time added;
	// the quality, drift and agreement gauges are set from snapshots.
	ShadowPredictions *prometheus.CounterVec   // route, model, result (ok, failed, skipped)
	LabelsMalformed   prometheus.Counter       // label records that do not decode
	ShadowSeconds     *prometheus.HistogramVec // route, model
	monitoring        *monitoring

	newestEvent atomic.Int64 // unix ms of the newest event_time scored
	lastBatch   atomic.Int64 // unix ms of the last batch scored
}

// New registers every collector on a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{Registry: reg}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m.Consumed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamscore_records_consumed_total",
		Help: "Input records polled from Kafka and handed to the pipeline."}, []string{"topic"})
	m.Predictions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamscore_predictions_total",
		Help: "Predictions acknowledged by the broker."}, []string{"topic", "model"})
	m.DeadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamscore_dead_letters_total",
		Help: "Dead letters acknowledged by the broker, by the stage that failed (decode, features, score, produce)."}, []string{"stage"})
	m.Batches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamscore_batches_total",
		Help: "Micro-batches closed, by trigger (size, interval, revoke, shutdown, transaction: an exactly-once transaction ending)."}, []string{"trigger"})
	m.BatchSize = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "streamscore_batch_size_records",
		Help: "Records per closed micro-batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 15)})
	m.ScoringSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "streamscore_scoring_seconds",
		Help: "Time to extract features and score one batch's share of one model.", Buckets: prometheus.ExponentialBuckets(0.00001, 2.5, 14)}, []string{"model"})
	m.EndToEnd = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "streamscore_end_to_end_seconds",
		Help:    "Time from an input record's Kafka timestamp to the broker's acknowledgement of its prediction or dead letter.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)})
	m.Lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamscore_consumer_lag_records",
		Help: "Records between the last polled offset and the partition's high watermark, per owned partition."}, []string{"topic", "partition"})
	m.ModelInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamscore_model_info",
		Help: "The model in service per route (value 1)."}, []string{"route", "name", "version", "format"})
	m.Reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamscore_model_reloads_total",
		Help: "Model reloads by result (ok, failed); a failed reload keeps the previous model serving."}, []string{"result"})
	m.Scores = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "streamscore_prediction_score",
		Help: "Distribution of published scores, for drift.", Buckets: prometheus.LinearBuckets(0.05, 0.05, 19)}, []string{"model"})
	m.HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamscore_http_requests_total",
		Help: "HTTP requests by handler and status code."}, []string{"handler", "code"})
	m.HTTPSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "streamscore_http_request_seconds",
		Help: "HTTP request latency by handler.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"handler"})
	m.InFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamscore_in_flight",
		Help: "Input records (unit=records) and their key and value bytes (unit=bytes) polled and not yet acknowledged; bounded by MAX_IN_FLIGHT_RECORDS and MAX_IN_FLIGHT_BYTES."}, []string{"unit"})
	m.FetchPaused = prometheus.NewGauge(prometheus.GaugeOpts{Name: "streamscore_fetch_paused",
		Help: "1 while fetching of the input topics is paused because an in-flight limit is reached."})
	m.FetchPauses = prometheus.NewCounter(prometheus.CounterOpts{Name: "streamscore_fetch_pauses_total",
		Help: "Times fetching of the input topics was paused because an in-flight limit was reached."})
	m.ExplainSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamscore_explain_seconds_total",
		Help: "Time spent computing feature contributions (reason codes) after scoring; rate() beside streamscore_scoring_seconds_sum is the share explaining takes."}, []string{"model"})
	m.Explained = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamscore_explained_predictions_total",
		Help: "Predictions given feature contributions (reasons, or every contribution for explain=true)."}, []string{"model"})
	m.FeatureMissing = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamscore_feature_missing_total",
		Help: "Records scored with this model input missing, without a default: a field absent or null, an unseen category, or an aggregate with no value (mean, min, max, last or since_last over no events in its window, or history the entity state dropped); a misspelt or dropped field shows here."}, []string{"model", "feature"})
	for _, c := range []prometheus.Collector{m.Consumed, m.Predictions, m.DeadLetters, m.Batches, m.BatchSize, m.ScoringSeconds,
		m.EndToEnd, m.Lag, m.ModelInfo, m.Reloads, m.Scores, m.HTTPRequests, m.HTTPSeconds, m.InFlight, m.FetchPaused, m.FetchPauses,
		m.FeatureMissing, m.ExplainSeconds, m.Explained} {
		f(c)
	}
	for _, unit := range []string{"records", "bytes"} { // present from the start, at 0
		m.InFlight.WithLabelValues(unit)
	}
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamscore_event_freshness_seconds",
		Help: "Now minus the newest event_time scored (NaN before the first)."}, func() float64 {
		ms := m.newestEvent.Load()
		if ms == 0 {
			return math.NaN()
		}
		return time.Since(time.UnixMilli(ms)).Seconds()
	}))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamscore_last_batch_timestamp_seconds",
		Help: "Unix time of the last batch scored (0 before the first)."}, func() float64 {
		return float64(m.lastBatch.Load()) / 1000
	}))
	m.registerMonitoring()
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// EntityFigures are what the entity metrics read, summed over the lanes.
type EntityFigures struct {
	Bytes, Entities, Late, Evicted, Replayed, Rebuilding int64
	RebuildSeconds                                       float64
}

// WatchEntities registers the entity-state metrics, read from fn at every
// scrape: streamscore_entity_state_bytes, _entity_state_entities,
// _entity_late_records_total, _entity_evicted_lookups_total,
// _entity_rebuild_records_total, _entity_rebuild_seconds_total and
// _entity_rebuilding (rebuilds in progress).
func (m *Metrics) WatchEntities(fn func() EntityFigures) {
	gauge, counter := readAtScrape(m.Registry, fn)
	gauge("streamscore_entity_state_bytes", "Bytes of entity history kept by the lanes (bounded by ENTITY_STATE_MAX_BYTES).",
		func(f EntityFigures) float64 { return float64(f.Bytes) })
	gauge("streamscore_entity_state_entities", "Entities with history in the lanes' state.", func(f EntityFigures) float64 { return float64(f.Entities) })
	gauge("streamscore_entity_rebuilding", "Entity-state rebuilds in progress (assigned partitions being read back).",
		func(f EntityFigures) float64 { return float64(f.Rebuilding) })
	counter("streamscore_entity_late_records_total", "Records that arrived after a later event of their entity was scored (they enter the state; their entity's earlier scores did not see them).",
		func(f EntityFigures) float64 { return float64(f.Late) })
	counter("streamscore_entity_evicted_lookups_total", "Aggregates answered missing because the entity's history was evicted at ENTITY_STATE_MAX_BYTES.",
		func(f EntityFigures) float64 { return float64(f.Evicted) })
	counter("streamscore_entity_rebuild_records_total", "Records replayed into the entity state by rebuilds.",
		func(f EntityFigures) float64 { return float64(f.Replayed) })
	counter("streamscore_entity_rebuild_seconds_total", "Time spent rebuilding the entity state.",
		func(f EntityFigures) float64 { return f.RebuildSeconds })
}

// KafkaHooks are the kgo options that feed franz-go's client metrics for
// one client (prefix streamscore_kafka_, label client_id). Each client
// needs its own hooks and its own client id.
func (m *Metrics) KafkaHooks() kgo.Opt {
	return kgo.WithHooks(kprom.NewMetrics("streamscore_kafka", kprom.Registry(m.Registry), kprom.WithClientLabel()))
}

// EventScored records the event time of a scored record (freshness).
func (m *Metrics) EventScored(eventTime time.Time) {
	ms := eventTime.UnixMilli()
	for {
		cur := m.newestEvent.Load()
		if ms <= cur || m.newestEvent.CompareAndSwap(cur, ms) {
			return
		}
	}
}

// BatchDone records that a batch was scored now.
func (m *Metrics) BatchDone(now time.Time) { m.lastBatch.Store(now.UnixMilli()) }

// SetLag sets a partition's lag.
func (m *Metrics) SetLag(topic string, partition int32, lag int64) {
	m.Lag.WithLabelValues(topic, strconv.Itoa(int(partition))).Set(float64(lag))
}

// DropLag forgets a partition that is no longer owned.
func (m *Metrics) DropLag(topic string, partition int32) {
	m.Lag.DeleteLabelValues(topic, strconv.Itoa(int(partition)))
}

// SetModel records the model in service for a route, replacing the
// previous version's series.
func (m *Metrics) SetModel(route, name, version, format string) {
	m.ModelInfo.DeletePartialMatch(prometheus.Labels{"route": route})
	m.ModelInfo.WithLabelValues(route, name, version, format).Set(1)
}

// MissingCounters are the streamscore_feature_missing_total counters of one
// model's inputs, in the model's input order (scoring.Plan.Names).
type MissingCounters []prometheus.Counter

// MissingCounters resolves the counters of a model's inputs (creating the
// series at 0, so a dashboard sees them before the first miss). Resolve
// them once per scorer — at start and after a reload swaps one in — not
// per batch: the lookup hashes the labels and takes the vector's lock.
func (m *Metrics) MissingCounters(model string, features []string) MissingCounters {
	out := make(MissingCounters, len(features))
	for i, f := range features {
		out[i] = m.FeatureMissing.WithLabelValues(model, f)
	}
	return out
}

// Add adds one batch's per-input missing counts (scoring.Batch.Missing of
// the scorer the counters were resolved for): an atomic add per input
// that was missing at all, no lock, no allocation. Extra counts (a
// scorer with more inputs) are ignored.
func (c MissingCounters) Add(counts []uint32) {
	for i, n := range counts[:min(len(counts), len(c))] {
		if n != 0 {
			c[i].Add(float64(n))
		}
	}
}

// readAtScrape returns functions that register a gauge and a counter
// whose value is read from a figure of fn at every scrape.
func readAtScrape[F any](reg prometheus.Registerer, fn func() F) (gauge, counter func(name, help string, v func(F) float64)) {
	gauge = func(name, help string, v func(F) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return v(fn()) }))
	}
	counter = func(name, help string, v func(F) float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return v(fn()) }))
	}
	return gauge, counter
}

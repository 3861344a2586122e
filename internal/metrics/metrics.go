// Package metrics defines streamscore's Prometheus metrics (prefix
// streamscore_, units in the names) on a registry of its own, plus
// franz-go's client metrics through the kprom plugin. Nothing is global:
// the pipeline and the HTTP server take a *Metrics.
//
// The counters add up: after a drain, records consumed equal predictions
// plus dead letters.
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

	// Model monitoring (quality.go): challenger outcomes and time added;
	// the quality, drift and agreement gauges are set from snapshots.
	ShadowPredictions *prometheus.CounterVec   // route, model, result (ok, failed)
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
		Help: "Micro-batches closed, by trigger (size, interval, revoke, shutdown)."}, []string{"trigger"})
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
	for _, c := range []prometheus.Collector{m.Consumed, m.Predictions, m.DeadLetters, m.Batches, m.BatchSize, m.ScoringSeconds,
		m.EndToEnd, m.Lag, m.ModelInfo, m.Reloads, m.Scores, m.HTTPRequests, m.HTTPSeconds, m.InFlight, m.FetchPaused, m.FetchPauses} {
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

package metrics

import (
	"math"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/internal/drift"
	"github.com/streamscore/streamscore/internal/quality"
)

// Model monitoring: the quality of each model and version once labels
// arrive (package quality), drift of inputs and score against the
// training baseline (package drift), and a shadow challenger against its
// champion. The gauges come from snapshots that the caller sets every
// few seconds (SetQuality, SetDrift, SetShadow; computing a quality
// snapshot sorts the labelled pairs, so do not compute one per scrape)
// and are emitted as they were last set. A measure that is undefined for
// a window (AUC with one class only, anything of an empty window) has no
// sample rather than NaN.
//
//	streamscore_model_auc{model,version,window}            exact ROC AUC of the pairs joined in the window
//	streamscore_model_log_loss{model,version,window}       mean log loss, probabilities clipped to [1e-15, 1−1e-15]
//	streamscore_model_brier{model,version,window}          mean squared error of the score
//	streamscore_model_ece{model,version,window}            expected calibration error, 10 equal-width bins
//	streamscore_model_label_rate{model,version,window}     share of positive labels
//	streamscore_model_labelled_pairs{model,version,window} joined pairs the measures are computed from
//	streamscore_model_label_join_ratio{model,version,window} share of the predictions made in the window that have a label by now
//	streamscore_model_quality_truncated{model,version,window} 1 when joined pairs were dropped by the memory bound, so the measures cover the newest pairs only
//	streamscore_labels_total{result}                       labels by outcome: joined, joined_pending, duplicate, expired, unknown, invalid
//	streamscore_labels_pending                             labels waiting for their prediction
//	streamscore_label_predictions_kept                     predictions kept for their label
//	streamscore_label_predictions_evicted_total            predictions dropped before LABEL_WINDOW by the memory bound
//	streamscore_feature_psi{model,feature,window}          PSI of an input against the baseline (value bins and a missing bin)
//	streamscore_feature_missing_ratio{model,feature,window} live share of rows where the input is missing
//	streamscore_feature_baseline_missing_ratio{model,feature} the training share, to compare
//	streamscore_score_psi{model,window}                    PSI of the score against the baseline
//	streamscore_drift_rows{model,window}                   live rows the PSIs are computed from
//	streamscore_shadow_agreement_ratio{route,champion,challenger,window} share of events whose labels agree
//	streamscore_shadow_score_abs_diff{route,champion,challenger,window}  mean |champion − challenger score|
//	streamscore_shadow_events{route,champion,challenger,window}          events compared
//	streamscore_labels_malformed_total                     label records that do not decode (counted and logged, never dead letters)
//	streamscore_shadow_predictions_total{route,model,result} challenger outcomes: ok (written), failed (not scored or not written), skipped (not loaded, or held off after its topic failed); none touches the champion
//	streamscore_shadow_seconds{route,model}                time the challenger added to a batch

// monitoring holds the last snapshots set.
type monitoring struct {
	mu      sync.Mutex
	quality *quality.Snapshot
	drift   map[string]driftEntry // by model
	shadow  map[shadowKey][]quality.AgreementWindow
}

type driftEntry struct {
	baselineMissing map[string]float64
	windows         []drift.WindowDrift
}

type shadowKey struct{ route, champion, challenger string }

var (
	qualityLabels = []string{"model", "version", "window"}
	featureLabels = []string{"model", "feature", "window"}
	shadowLabels  = []string{"route", "champion", "challenger", "window"}

	descAUC         = prometheus.NewDesc("streamscore_model_auc", "Exact ROC AUC (Mann–Whitney, ties count one half) of the predictions whose labels joined in the window.", qualityLabels, nil)
	descLogLoss     = prometheus.NewDesc("streamscore_model_log_loss", "Mean log loss of the joined predictions in the window (probabilities clipped to [1e-15, 1-1e-15]).", qualityLabels, nil)
	descBrier       = prometheus.NewDesc("streamscore_model_brier", "Brier score (mean squared error of the score) of the joined predictions in the window.", qualityLabels, nil)
	descECE         = prometheus.NewDesc("streamscore_model_ece", "Expected calibration error over 10 equal-width score bins of the joined predictions in the window.", qualityLabels, nil)
	descLabelRate   = prometheus.NewDesc("streamscore_model_label_rate", "Share of positive labels among the labels joined in the window.", qualityLabels, nil)
	descPairs       = prometheus.NewDesc("streamscore_model_labelled_pairs", "Joined (prediction, label) pairs in the window: the sample the quality measures are computed from.", qualityLabels, nil)
	descJoinRatio   = prometheus.NewDesc("streamscore_model_label_join_ratio", "Share of the predictions made in the window that have a label by now.", qualityLabels, nil)
	descTruncated   = prometheus.NewDesc("streamscore_model_quality_truncated", "1 when the memory bound dropped joined pairs of the window: its measures cover the newest pairs only.", qualityLabels, nil)
	descLabels      = prometheus.NewDesc("streamscore_labels_total", "Labels read from LABELS_TOPIC by outcome: joined, joined_pending (arrived before the prediction), duplicate (first label wins), expired (prediction older than LABEL_WINDOW), unknown (no prediction), invalid (not 0 or 1).", []string{"result"}, nil)
	descPending     = prometheus.NewDesc("streamscore_labels_pending", "Labels waiting for their prediction to arrive.", nil, nil)
	descKept        = prometheus.NewDesc("streamscore_label_predictions_kept", "Predictions kept to be joined with their label.", nil, nil)
	descEvicted     = prometheus.NewDesc("streamscore_label_predictions_evicted_total", "Predictions dropped before LABEL_WINDOW ended because the memory bound was reached.", nil, nil)
	descFeaturePSI  = prometheus.NewDesc("streamscore_feature_psi", "Population stability index of a model input in the window against the training baseline (quantile bins and a missing bin).", featureLabels, nil)
	descMissing     = prometheus.NewDesc("streamscore_feature_missing_ratio", "Share of the window's rows where the model input is missing.", featureLabels, nil)
	descBaseMissing = prometheus.NewDesc("streamscore_feature_baseline_missing_ratio", "Share of the training rows where the model input is missing.", []string{"model", "feature"}, nil)
	descScorePSI    = prometheus.NewDesc("streamscore_score_psi", "Population stability index of the model's score in the window against the training baseline.", []string{"model", "window"}, nil)
	descDriftRows   = prometheus.NewDesc("streamscore_drift_rows", "Scored rows in the window that the drift measures are computed from.", []string{"model", "window"}, nil)
	descAgreement   = prometheus.NewDesc("streamscore_shadow_agreement_ratio", "Share of the events scored by champion and challenger in the window whose labels agree.", shadowLabels, nil)
	descAbsDiff     = prometheus.NewDesc("streamscore_shadow_score_abs_diff", "Mean absolute difference of champion and challenger scores in the window.", shadowLabels, nil)
	descShadowN     = prometheus.NewDesc("streamscore_shadow_events", "Events scored by both champion and challenger in the window.", shadowLabels, nil)
)

// Describe implements prometheus.Collector.
func (mo *monitoring) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAUC, descLogLoss, descBrier, descECE, descLabelRate, descPairs, descJoinRatio, descTruncated,
		descLabels, descPending, descKept, descEvicted, descFeaturePSI, descMissing, descBaseMissing, descScorePSI, descDriftRows,
		descAgreement, descAbsDiff, descShadowN} {
		ch <- d
	}
}

// gauge emits v unless it is NaN (undefined).
func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	if !math.IsNaN(v) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
}

// Collect implements prometheus.Collector.
func (mo *monitoring) Collect(ch chan<- prometheus.Metric) {
	mo.mu.Lock()
	defer mo.mu.Unlock()
	if q := mo.quality; q != nil {
		for _, se := range q.Series {
			for _, w := range se.Windows {
				l := []string{se.Model, se.Version, w.Name}
				gauge(ch, descAUC, w.AUC, l...)
				gauge(ch, descLogLoss, w.LogLoss, l...)
				gauge(ch, descBrier, w.Brier, l...)
				gauge(ch, descECE, w.ECE, l...)
				gauge(ch, descLabelRate, w.LabelRate, l...)
				gauge(ch, descPairs, float64(w.N), l...)
				gauge(ch, descJoinRatio, w.JoinRatio, l...)
				t := 0.0
				if w.Truncated {
					t = 1
				}
				gauge(ch, descTruncated, t, l...)
			}
		}
		for o := quality.Joined; o <= quality.JoinedPending; o++ {
			if o == quality.Pending {
				continue // a gauge, below
			}
			ch <- prometheus.MustNewConstMetric(descLabels, prometheus.CounterValue, float64(q.Counts.Labels[o]), o.String())
		}
		gauge(ch, descPending, float64(q.Counts.Pending))
		gauge(ch, descKept, float64(q.Counts.Kept))
		ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(q.Counts.EvictedPredictions))
	}
	for model, e := range mo.drift {
		for feature, v := range e.baselineMissing {
			gauge(ch, descBaseMissing, v, model, feature)
		}
		for _, w := range e.windows {
			gauge(ch, descDriftRows, float64(w.Rows), model, w.Name)
			gauge(ch, descScorePSI, w.ScorePSI, model, w.Name)
			for _, f := range w.Features {
				gauge(ch, descFeaturePSI, f.PSI, model, f.Name, w.Name)
				gauge(ch, descMissing, f.MissingShare, model, f.Name, w.Name)
			}
		}
	}
	for k, ws := range mo.shadow {
		for _, w := range ws {
			l := []string{k.route, k.champion, k.challenger, w.Name}
			gauge(ch, descShadowN, float64(w.Count), l...)
			gauge(ch, descAgreement, w.Ratio, l...)
			gauge(ch, descAbsDiff, w.MeanAbsDiff, l...)
		}
	}
}

// registerMonitoring adds the model-monitoring collectors to m.
func (m *Metrics) registerMonitoring() {
	m.monitoring = &monitoring{drift: map[string]driftEntry{}, shadow: map[shadowKey][]quality.AgreementWindow{}}
	m.Registry.MustRegister(m.monitoring)
	m.ShadowPredictions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamscore_shadow_predictions_total",
		Help: "Challenger (shadow) predictions by result: ok (written to its topic), failed (the challenger could not score the record, or its topic did not take it), skipped (the challenger is not loaded, or held off after its topic failed); the champion's output and commits are unaffected."},
		[]string{"route", "model", "result"})
	m.ShadowSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "streamscore_shadow_seconds",
		Help: "Time the challenger (shadow) model added to a batch: its features, scoring and encoding.", Buckets: prometheus.ExponentialBuckets(0.00001, 2.5, 14)},
		[]string{"route", "model"})
	m.LabelsMalformed = prometheus.NewCounter(prometheus.CounterOpts{Name: "streamscore_labels_malformed_total",
		Help: "Records of LABELS_TOPIC that do not decode as a label (not the encoding, no event_id, a label that is not an integer): counted and logged, never dead letters."})
	m.Registry.MustRegister(m.ShadowPredictions, m.ShadowSeconds, m.LabelsMalformed)
}

// SetQuality publishes a quality snapshot (quality.Registry.Snapshot).
func (m *Metrics) SetQuality(s quality.Snapshot) {
	m.monitoring.mu.Lock()
	m.monitoring.quality = &s
	m.monitoring.mu.Unlock()
}

// SetDrift publishes the drift of a model (drift.Group.Snapshot) with its
// baseline; it replaces the model's previous series.
func (m *Metrics) SetDrift(model string, b *drift.Baseline, windows []drift.WindowDrift) {
	e := driftEntry{baselineMissing: map[string]float64{}, windows: windows}
	for _, f := range b.Features {
		e.baselineMissing[f.Name] = f.MissingShare
	}
	m.monitoring.mu.Lock()
	m.monitoring.drift[model] = e
	m.monitoring.mu.Unlock()
}

// DropDrift removes a model's drift series (its baseline was removed).
func (m *Metrics) DropDrift(model string) {
	m.monitoring.mu.Lock()
	delete(m.monitoring.drift, model)
	m.monitoring.mu.Unlock()
}

// SetShadow publishes the comparison of a route's challenger with its
// champion (quality.MergeAgreement), replacing the route's previous one
// (a promotion changes the names).
func (m *Metrics) SetShadow(route, champion, challenger string, windows []quality.AgreementWindow) {
	m.monitoring.mu.Lock()
	defer m.monitoring.mu.Unlock()
	for k := range m.monitoring.shadow {
		if k.route == route {
			delete(m.monitoring.shadow, k)
		}
	}
	if windows != nil {
		m.monitoring.shadow[shadowKey{route, champion, challenger}] = windows
	}
}

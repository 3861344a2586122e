package metrics

// LabelRebuildFigures are what the label-rebuild metrics read: the
// rebuilds of the lanes' label state (LABEL_REBUILD) since the start.
type LabelRebuildFigures struct {
	Rebuilding  int64   // rebuilds in progress
	Predictions int64   // predictions read back from the output topics and replayed
	Labels      int64   // labels read back from LABELS_TOPIC and replayed
	Failed      int64   // rebuilds that failed or were cut off at LABEL_REBUILD_TIMEOUT (what they read was replayed)
	Dropped     int64   // predictions and labels a lane dropped while it waited for its rebuild (beyond LABEL_MAX_PREDICTIONS)
	Seconds     float64 // time spent rebuilding
}

// WatchLabelRebuild registers the label-rebuild metrics, read from fn at
// every scrape: streamscore_label_rebuilding,
// streamscore_label_rebuild_predictions_total, _labels_total,
// _failures_total, _dropped_total and _seconds_total.
func (m *Metrics) WatchLabelRebuild(fn func() LabelRebuildFigures) {
	gauge, counter := readAtScrape(m.Registry, fn)
	gauge("streamscore_label_rebuilding", "Label-state rebuilds in progress (assigned partitions' predictions and labels being read back; scoring goes on).",
		func(f LabelRebuildFigures) float64 { return float64(f.Rebuilding) })
	counter("streamscore_label_rebuild_predictions_total", "Predictions read back from the output topics and replayed into the label state by rebuilds.",
		func(f LabelRebuildFigures) float64 { return float64(f.Predictions) })
	counter("streamscore_label_rebuild_labels_total", "Labels read back from LABELS_TOPIC (up to the committed offset) and replayed into the label state by rebuilds.",
		func(f LabelRebuildFigures) float64 { return float64(f.Labels) })
	counter("streamscore_label_rebuild_failures_total", "Label-state rebuilds that failed or were cut off at LABEL_REBUILD_TIMEOUT; what they had read was replayed.",
		func(f LabelRebuildFigures) float64 { return float64(f.Failed) })
	counter("streamscore_label_rebuild_dropped_total", "Predictions and labels a lane dropped while its label state was being rebuilt (more than LABEL_MAX_PREDICTIONS waited).",
		func(f LabelRebuildFigures) float64 { return float64(f.Dropped) })
	counter("streamscore_label_rebuild_seconds_total", "Time spent rebuilding the label state.",
		func(f LabelRebuildFigures) float64 { return f.Seconds })
}

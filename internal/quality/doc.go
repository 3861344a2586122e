// Package quality joins delayed ground-truth labels to the predictions
// they judge and measures a model's online quality per model and version
// over rolling windows of 1 hour, 24 hours and 7 days: exact AUC, log
// loss, Brier score, expected calibration error (10 bins), the label rate
// (share of positive labels), and the share of predictions that got a
// label.
//
// # Where it sits
//
// Labels arrive on LABELS_TOPIC keyed by entity, so they are
// co-partitioned with the inputs: a lane owns a Store and feeds it the
// predictions it publishes (Prediction) and the labels of its partitions
// (Label). A Registry holds the stores of a process; its Snapshot merges
// them for the metrics. A Store is dropped on revoke (Registry.Drop keeps
// its counters in the totals). The state depends only on the calls and
// their times, never on the wall clock, so it could be rebuilt on
// assignment by feeding it the records again; streamscore's run does not
// (see internal/pipeline's watcher): a partition's new owner starts with
// an empty store, and labels of predictions made before the assignment
// end as unknown, counted. A rebuild would replay the lane's
// predictions of the last LabelWindow before the first label it replays,
// and its labels of the longest window (7 days, plus PendingFor), merged
// by record time: the store's clock is the newest time it has seen, so
// feeding all predictions before all labels would expire the predictions
// first. Label records decode with schemas.NewLabelDecoder.
//
// # Times
//
// Every time passed in is a record's own time: for a prediction the time
// it was made (streamscore passes the prediction's scored_at, which a
// rebuild reads back from the predictions topic), for a label its
// record's Kafka timestamp. A store's clock is the newest time it has
// seen; predictions expire LabelWindow after their time by that clock.
// Snapshot(now) takes the windows ending at now.
//
// A lane that gathers its calls (a batch's, or an exactly-once
// transaction's until it commits) hands them over as Ops (Store.Apply,
// one lock for all); Store.ID hashes an event id with seeds shared by the
// stores of a Registry.
//
// # Joining
//
//   - A prediction is kept for LabelWindow: its event id (as a 128-bit
//     hash), score, model and version (as a series index) and time.
//     Measured by BenchmarkKeptPrediction: 83 bytes of heap per kept
//     prediction, whatever the id's length (the ring entry, 48 bytes, and
//     its index entry), plus about 20 bytes per expired id remembered (a 16-byte map key; see
//     Expired). MaxPredictions (default 1,000,000) bounds the count: at
//     83 bytes that is about 80 MiB per lane at most; size it to rate ×
//     LABEL_WINDOW.
//   - A label joins every kept prediction of its event: the champion's
//     and a shadow challenger's, each in its own model's series; and a
//     prediction of another model version (a reload happened in between)
//     in that version's series, not the version now in service.
//   - A label that arrives before its prediction (the label topic can be
//     ahead of the input topic) is Pending for PendingFor (default 10
//     minutes) and joins the prediction when it comes (JoinedPending);
//     otherwise it ends as Unknown. A prediction of an event whose other
//     prediction is already labelled (a challenger scored after the
//     champion's label joined) inherits the label.
//   - Duplicates: the first label wins. A second label for the same event
//     is counted Duplicate and ignored, whatever its value; so is a
//     second prediction of an event by the same model and version (a
//     redelivered input record).
//   - A label whose predictions have expired is Expired: a store
//     remembers the ids of expired predictions for one to two
//     LabelWindows after they expire (at most MaxPredictions per
//     generation). A label for an event nobody scored, or expired longer
//     ago than that, is Pending and then Unknown. Neither is an error.
//   - A label other than 0 or 1 is Invalid. The measures are those of a
//     binary classifier: the score is P(class 1).
//
// # Windows and measures
//
// A joined pair belongs to the windows by the time it was joined (the
// label's time, or for a pending label its prediction's time): the window
// ending at now holds the pairs joined in (now − span, now]. Its measures
// are exact over those pairs: AUC is the Mann–Whitney statistic from
// integer counts (ties count one half), log loss clips probabilities to
// [1e-15, 1−1e-15], ECE bins scores by ⌊10·p⌋ (see Scores). MaxPairs
// (default 1,000,000 per series and store, 16 bytes each) bounds the pairs
// kept; past it the oldest go first and the windows they were in are
// marked Truncated.
//
// The share of predictions that got a label counts predictions by the
// time they were made, in steps of a sixtieth of the window (package
// rolling): Window.Predictions made in the window, Window.Labelled those
// labelled by now.
//
// # Cost
//
// Prediction and Label are O(1) map operations under the store's mutex,
// with no allocation in steady state (about 0.6–1 µs for a prediction and
// a label together on a 2-core machine, dominated by map cache misses).
// Merge (and so Registry.Snapshot) sorts each series' pairs of the
// longest window once: measured about 0.35 s for a million pairs, 3 ms
// for ten thousand; callers that scrape often should cache the result for
// some seconds.
//
// # Concurrency
//
// Store, Registry and Agreement are safe for concurrent use. Each Store
// and Agreement has its own mutex, taken by its lane for every call and by
// a snapshot while it copies that store's pairs; nothing is shared
// between lanes.
package quality

// Package drift compares the live inputs and scores of a model with its
// training data: a baseline (per-input and score histograms of the
// training rows, written by `streamscore baseline`) and a rolling
// population stability index (PSI) per input and for the score, plus the
// live share of rows where each input is missing (a field renamed
// upstream shows as a missing share near 1 and a large PSI).
//
// # Baseline file
//
// JSON, format "streamscore-baseline", version 1:
//
//	{"format": "streamscore-baseline", "version": 1,
//	 "model": "fraud", "model_version": "…", "source": "train.csv", "created_at": "…",
//	 "rows": 200000, "bins": 10,
//	 "features": [{"name": "amount", "edges": [12.5, …], "counts": [20000, …],
//	               "shares": [0.1, …], "missing": 0, "missing_share": 0}, …],
//	 "score": {"edges": […], "counts": […], "shares": […], "missing": 0, "missing_share": 0}}
//
// Features are the model's inputs in order, the values the model sees
// (after the feature plan's transforms, as float32 for float32 models).
// Edges are quantile cut points of the training values (see
// Builder.Build): bin i holds Edges[i−1] < x ≤ Edges[i], so an input with
// few distinct values (one-hot, boolean) gets as many bins as it needs,
// not ten. Counts are per bin, missing rows apart; shares are over all
// rows. Unknown fields are refused when reading.
//
// # PSI
//
// PSI = Σ (a − e)·ln(a/e) over the bins, e the training share, a the
// live share in the window, each floored at Epsilon (1e-4) so that an
// empty bin gives a large finite value rather than +Inf. For an input the
// bins are its value bins plus a missing bin (shares over all rows); for
// the score, its value bins. Rules of thumb: below 0.1 stable, 0.1–0.2
// moderate, above 0.2 a shift worth a look (the alert's threshold).
//
// # Live windows
//
// A Monitor (one per lane and model) counts each scored batch into the
// baseline's bins over rolling windows of 1 hour, 24 hours and 7 days, in
// steps of a sixtieth of the window (package rolling); memory is fixed:
// 3 × 60 × (Σ bins + inputs + score bins + 2) counters. ObserveBatch does
// not allocate; it costs a binary search over at most bins−1 edges per
// value (BenchmarkObserveBatch: about 16 ns per value). A Group holds the
// monitors of one baseline in a process and keeps the counts of dropped
// ones (nothing replays them after a rebalance). Monitor and Group are
// safe for concurrent use.
package drift

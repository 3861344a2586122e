// Package batchscore scores files: the plain batch job behind
// `streamscore score`, on the same outcome core, feature plan, model and
// policy as the stream. It reads CSV or JSON Lines in chunks (constant
// memory), keeps every row in order with all its non-feature columns, adds
// the prediction columns, and writes rows that cannot be scored to
// "<output>.rejects" (JSON Lines: line number, reason, the row).
//
// Output columns, in this order after the kept input columns: with
// features (Options.WithFeatures, `--with-features`) every model input as
// the model saw it, named as in the features file (empty, or null in JSON,
// when missing); then score, label, risk_segment, model_version,
// scored_at, and for multi-class models prob_0 … prob_<K-1>, for
// multi-target models (XGBoost num_target > 1) target_0 … target_<K-1>
// (score and label then follow target 0). With Options.Contributions
// (score --contributions), each row's feature contributions follow
// (ContributionColumns): contrib_<feature> … and contrib_bias, or
// contrib_<k>_<feature> … contrib_<k>_bias for each class or target k.
// Columns are defined here once so
// that every file output (score, backfill) uses them; with a model per
// event kind they are the union of both models' columns, and a column only
// the other model has is empty on a row.
//
// A log of both kinds. When the features have aggregates (or the models
// are given per kind), every row says its kind in the event_type column
// (transaction or activity), and with aggregates the rows are the stream
// in event-time order: each row's identity (id, entity, time fields) is
// taken as the decoders take it, its aggregates are computed from the
// entity state of the rows before it, exactly as a lane computes them, and
// then it enters the state. A row earlier than the previous row stops the
// run naming both lines and times (rows are never reordered); rows at the
// same millisecond are in order, and never see each other. So a file gives
// the features `run` and `backfill` give for the same events, bit for bit.
package batchscore

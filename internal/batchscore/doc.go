// Package batchscore scores files: the plain batch job behind
// `streamscore score`, on the same feature plan, model and policy as the
// stream. It reads CSV or JSON Lines in chunks (constant memory), keeps
// every row in order with all its non-feature columns, adds the prediction
// columns, and writes rows that cannot be scored to "<output>.rejects"
// (JSON Lines: line number, reason, the row).
//
// Output columns, in this order after the kept input columns: score,
// label, risk_segment, model_version, scored_at, and for multi-class
// models prob_0 … prob_<K-1>, for multi-target models (XGBoost num_target
// > 1) target_0 … target_<K-1> (score and label then follow target 0).
// With Options.Contributions (score --contributions), each row's feature
// contributions follow (ContributionColumns): contrib_<feature> … and
// contrib_bias, or contrib_<k>_<feature> … contrib_<k>_bias for each class
// or target k. Columns are defined here once so that every file output
// (score, backfill) uses them.
package batchscore

// Package scoring defines what a model is to streamscore and everything the
// pipeline does around one: the [Model] interface that every format's
// evaluator implements (scoring/xgboost, ...), the compiled feature [Plan]
// that turns a decoded event into a model input row, and the [Policy] that
// turns a model output into score, label and risk segment. Models that can
// explain their scores implement [Explainable]; [Scorer.Explain] and
// [TopReasons] turn a scored event into its reason codes.
//
// The same Plan and Policy serve the stream, backfill, file scoring and HTTP,
// so the modes of inference cannot disagree.
package scoring

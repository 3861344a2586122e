// Package xgboost evaluates XGBoost models saved with save_model as JSON or
// UBJSON, in pure Go and bit-exact with XGBoost's own predictor
// (Booster.predict on a DMatrix):
//
//   - inputs are float32; a NaN goes to the node's default child, otherwise
//     a row goes left iff x < split_condition (strict, float32);
//   - a categorical split (enable_categorical, pandas category columns)
//     sends a category in its list right and anything else left, where a
//     value is its category truncated toward zero and a negative value, one
//     ≥ 2^24 or ±Inf is no category (see categorical.go);
//   - leaf values are summed in float32, in tree order, per output group,
//     starting from the base margin, which is the objective's link of
//     base_score (logit for logistic objectives, natural log for count:poisson,
//     reg:gamma, reg:tweedie, survival:cox and survival:aft, identity
//     otherwise); a dart tree's leaves are first multiplied by its weight
//     (weight_drop) in float32; a gblinear model sums bias, base margin and
//     x·w over the present features in float32;
//   - the transform is applied in float32 as XGBoost does (sigmoid with its
//     88.7 clamp; softmax with a float64 sum of the exponentials; expf, but
//     exp in float64 for survival:aft; 1 for a positive margin, else 0, for
//     binary:hinge).
//
// Margins are exact, and so are the transformed outputs: the transforms use
// an expf that reproduces glibc's (scoring/internal/fmath), as XGBoost calls
// it.
//
// Boosters: gbtree, dart, gblinear. Objectives: binary:logistic,
// binary:logitraw, binary:hinge, reg:logistic, reg:squarederror (and
// reg:linear), reg:squaredlogerror, reg:pseudohubererror, reg:absoluteerror,
// reg:quantileerror and reg:expectileerror (one alpha), count:poisson,
// reg:gamma, reg:tweedie, survival:aft, survival:cox, rank:pairwise,
// rank:ndcg, rank:map (the margin), multi:softprob, multi:softmax.
// Multi-target models (num_target > 1, one tree per target and round, the
// default multi_strategy) have one output per target (scoring.Info.Targets).
// A model trained on a DataFrame by XGBoost ≥ 3.1 stores its category
// names, which Info.Categories reports for the feature plan.
//
// Model.Explainer gives exact feature contributions (scoring.Explainer),
// those of XGBoost's pred_contribs: path-dependent TreeSHAP over the node
// covers (sum_hessian) for gbtree and dart (a dart tree's contributions
// times its weight), x·w and the bias for gblinear; one set of
// features + 1 values per output group, summing to the margin. The served
// algorithm precomputes a table per leaf (shap_fast.go) and agrees with
// XGBoost 1.7.4 to within 1e-5 × max(1, |margin|); the classic algorithm,
// in float32 as XGBoost runs it, is bit-exact with pred_contribs and is
// the tests' reference. A file whose trees lack sum_hessian still scores
// but cannot explain (scoring.ErrCannotExplain, ErrNoCovers).
//
// Refused at load, with an error naming what: vector-leaf trees
// (multi_strategy="multi_output_tree"), several quantile or expectile
// alphas, gblinear with a per-output base_score, other objectives and
// boosters; a model in the legacy binary format (ErrLegacyBinary) or a
// dump_model output (ErrDump), with how to re-save it as JSON.
package xgboost

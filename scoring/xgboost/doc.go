// Package xgboost evaluates XGBoost gradient-boosted tree models saved with
// save_model as JSON or UBJSON, in pure Go and bit-exact with XGBoost's own
// predictor:
//
//   - inputs are float32; a NaN goes to the node's default child, otherwise
//     a row goes left iff x < split_condition (strict, float32);
//   - leaf values are summed in float32, in tree order, per output group,
//     starting from the base margin, which is the objective's link of
//     base_score (logit for logistic objectives, natural log in float32 for
//     count:poisson, reg:gamma and reg:tweedie, identity otherwise);
//   - the transform is applied in float32 as XGBoost does (sigmoid with its
//     88.7 clamp; softmax with a float64 sum of the exponentials).
//
// Margins are exact, and so are probabilities: the transforms use an expf
// that reproduces glibc's (scoring/internal/fmath), as XGBoost calls it.
//
// Objectives: binary:logistic, binary:logitraw, reg:logistic,
// reg:squarederror (and reg:linear), reg:squaredlogerror,
// reg:pseudohubererror, reg:absoluteerror, count:poisson, reg:gamma,
// reg:tweedie, multi:softprob, multi:softmax. Anything else, the dart and
// gblinear boosters, categorical splits and multi-output trees are refused
// at load with an error that names them.
package xgboost

// Package lightgbm evaluates LightGBM text models (the file Booster.save_model
// and the CLI write; headers version=v2, v3 and v4) in pure Go, with the
// double-precision arithmetic of LightGBM's own predict:
//
//   - inputs are float64. As LightGBM's dense-matrix predict does, a value
//     with |x| <= kZeroThreshold (float32(1e-35) widened to double) is 0.
//   - numerical split (decision_type bit 0 clear): missing type
//     (decision_type>>2)&3 is None, Zero or NaN; a NaN at a split whose
//     missing type is not NaN is 0.0; a missing value (NaN for NaN, zero for
//     Zero) goes to the default child (decision_type bit 1: left), anything
//     else goes left iff x <= threshold, compared in float64.
//   - categorical split (bit 0 set): NaN goes right; otherwise the value is
//     truncated to a C int (a value outside the int range becomes INT_MIN, as
//     on the x86 builds LightGBM ships), a negative one goes right, and the
//     row goes left iff that bit is set in the node's bitset
//     (cat_threshold[cat_boundaries[t]:cat_boundaries[t+1]], t = int(threshold));
//     a category beyond the bitset goes right. A tree with num_cat=0 is
//     walked with numerical decisions only, as LightGBM does.
//   - linear trees (linear_tree, is_linear=1): the leaf output is leaf_const
//     plus coeff·x for each of the leaf's features in file order, each
//     product rounded before the addition (no fused multiply-add: LightGBM's
//     x86-64 builds); if any of those features is NaN the leaf_value is used.
//   - the raw score is the float64 sum of the trees in file order, from 0;
//     multi-class trees are interleaved (tree i adds to class i mod
//     num_tree_per_iteration). average_output (boosting rf) divides it by the
//     number of iterations; then the objective's transform: binary and
//     multiclassova 1/(1+exp(-sigmoid·x)), cross_entropy 1/(1+exp(-x)),
//     cross_entropy_lambda log(1+exp(x)), poisson, gamma and tweedie exp(x),
//     multiclass softmax with the maximum subtracted, regression, regression_l1,
//     quantile, fair and mape identity (sign(x)·x² with "sqrt"), huber,
//     lambdarank, rank_xendcg and a model without an objective (a custom
//     objective) identity. exp is glibc's, reproduced bit for bit
//     (scoring/internal/fmath.Exp); log (cross_entropy_lambda only) is
//     math.Log, within an ulp of glibc's.
//   - LightGBM 2.x random forests (version=v2 with average_output) stored the
//     transformed value in their leaves and predicted the plain average with
//     no transform (the behaviour reported in microsoft/LightGBM#1843); such a
//     file is scored that way when every leaf lies in the transform's range,
//     and with the v3/v4 rule (average, then transform) otherwise.
//
// The model outputs float64 (Predict64To64); Predict and Predict64 round the
// result to float32 for callers of the float32 interface. Raw scores
// (PredictMargins64) are predict(raw_score=True): the plain sum, not averaged.
//
// Feature names come from the file's feature_names line; the category lists
// of a pandas_categorical line are reported in Info.Categories for the
// features LightGBM's categorical_feature parameter names (the lists are in
// the order of those features), so a feature plan maps an event's category
// to its code. A numeric input to such a feature is taken as the code itself,
// as LightGBM's predict sees it.
//
// Anything else (another header version, an unknown objective, decision
// types or tree fields LightGBM does not write, malformed trees) is refused
// at load with an error that names it.
//
// Trees are walked eight rows at a time with no branch on the data (see
// complete.go): balanced trees of depth ≤ 10 padded to complete binary
// trees, deeper or lopsided ones (LightGBM's leaf-wise trees) as sparse
// trees whose leaves absorb the walk, up to depth 48; missing values and
// categorical splits are resolved when each row is expanded into slots (on
// amd64 small assembly kernels, elsewhere or with -tags purego the same
// loops in Go). Linear trees, deeper trees and models with more than 8
// distinct categorical bitsets per tree use a flat node walk. All give the
// same bits, checked against each other and against a brute-force
// reference.
//
// Checked against LightGBM's own predictions with the reference set in
// /work/shared/reference/lightgbm (go test -tags external): 81 of 81
// checks; raw scores are bit-exact except on the one linear-tree reference
// made by a build that fuses multiply-adds (2 ulps), transformed outputs
// within 3 ulps (the exp of the machine that made each reference).
package lightgbm

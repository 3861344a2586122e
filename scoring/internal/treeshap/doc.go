// Package treeshap holds the path arithmetic of exact path-dependent
// TreeSHAP (Lundberg et al. 2020, algorithm 2) that the tree evaluators
// share: the unique path of distinct features from a tree's root to the
// current node, with each feature's zero fraction (the share of the
// training data that follows the path's splits on it, when the feature is
// unknown) and one fraction (1 or 0: whether the row follows them), and
// the permutation weights of the subsets of those features.
//
// Extend adds a feature to the path, Unwind takes one out, UnwoundSum is
// the total weight the path would have without one, which times the
// feature's (one − zero) and the leaf value is the feature's share of the
// leaf. The walk over a tree (routing a row, reading covers, recursing)
// stays with each format's evaluator; this package is only the arithmetic.
//
// The operations run in float32 or float64 (the type parameter) in the
// order XGBoost 1.7.4 does them (RegTree::TreeShap's ExtendPath,
// UnwindPath, UnwoundPathSum), each product that feeds a sum rounded by an
// explicit conversion so that no fused multiply-add changes a rounding: in
// float32 the results are XGBoost's bit for bit.
package treeshap

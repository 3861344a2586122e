// Package onnxml runs ONNX models of tabular pipelines in pure Go: the
// ai.onnx.ml operators that skl2onnx and onnxmltools emit (Scaler,
// Imputer, OneHotEncoder, LabelEncoder, FeatureVectorizer,
// ArrayFeatureExtractor, TreeEnsembleClassifier, TreeEnsembleRegressor,
// TreeEnsemble of opset 5, LinearClassifier, LinearRegressor, Normalizer,
// ZipMap) and the default-domain Cast, Concat, Reshape, Flatten, Identity,
// MatMul, Add, Sigmoid, Softmax and ArgMax.
//
// The protobuf is decoded with google.golang.org/protobuf's protowire
// (only the messages and fields needed here). Arithmetic follows
// onnxruntime's CPU kernels (single-threaded, x86-64 with AVX2 and FMA3) so
// that outputs equal onnxruntime's bit for bit: a float graph computes in
// float32 (Scaler subtracts then multiplies in float32; tree leaf weights
// are summed in float32 in tree order), a double graph in float64; the
// linear operators follow MLAS's SGEMM summation order (gemm.go) and, for
// LOGISTIC over two or more classes, MLAS's logistic.
//
// A string input is categorical: its category list is the union of the
// lists of the encoders that read it (Info.Categories), the feature plan
// codes an event's string by its index there, and the encoders turn the
// code back into what they output for that string; a string no encoder
// knows (NaN) gets what the encoder gives an unknown category (zeros, the
// LabelEncoder default), or makes the row unscorable (NaN outputs) where
// onnxruntime fails (OneHotEncoder with zeros = 0).
//
// A regressor with several targets reports Info.Targets; a graph whose only
// input is [N, ?] takes its width from the features file (FitWidth). A
// graph with no estimator (ErrNoEstimator), an operator, attribute or type
// outside this set, or a construct where onnxruntime and the ONNX
// specification disagree, fails at load with an error that names it.
//
// The sizes a file declares are bounded before anything is sized by them
// (bounds.go), and products of declared sizes are computed without
// overflow; a file past a bound fails at load with ErrUnsupported naming
// the attribute and its value:
//   - the graph's inputs have at most 65,536 columns together; every
//     other tensor (a FeatureVectorizer's inputdimensions, a
//     OneHotEncoder's columns × categories, a Reshape's shape, any
//     operator's output), and all its tensors together, at most 2^22
//     values per row (a one-hot encoding of tens of thousands of
//     categories is an ordinary skl2onnx pipeline); Predict scores a batch in
//     chunks of rows that hold at most 2^22 values (about 32 MB a call,
//     however large the batch);
//   - a regressor has at most 65,536 targets (n_targets, targets);
//   - the string input columns' category lists hold at most 2^20 entries,
//     counted per column, and so do the encoders' code tables. The columns
//     an encoder reads share one category list (and one code table) until
//     another encoder reads some of them only.
//
// An initializer may only be an input an operator takes as a constant
// (indices, a shape, weights, one side of Add): it has no batch dimension.
package onnxml

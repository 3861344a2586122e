// Package onnxml runs ONNX models of tabular pipelines in pure Go: the
// ai.onnx.ml operators that skl2onnx and onnxmltools emit (Scaler,
// TreeEnsembleClassifier, TreeEnsembleRegressor, LinearClassifier,
// LinearRegressor, Normalizer, ZipMap, Cast) and the default-domain
// Identity, MatMul, Add, Sigmoid, Softmax and ArgMax that skl2onnx emits
// for linear models with double input.
//
// The protobuf is decoded with google.golang.org/protobuf's protowire
// (only the messages and fields needed here). Arithmetic follows
// onnxruntime's CPU kernels: a float graph computes in float32 (Scaler
// subtracts then multiplies in float32; tree leaf weights are summed in
// float32 in tree order), a double graph in float64, so that outputs equal
// onnxruntime's. An operator or attribute outside this set fails at load
// with an error that names it.
package onnxml

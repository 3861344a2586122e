// Package fmath holds float32 math that must match C libraries bit for
// bit: glibc's expf, which XGBoost and onnxruntime call.
package fmath

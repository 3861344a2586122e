package onnxml

import (
	"fmt"

	"github.com/streamscore/streamscore/scoring"
)

// Explainer implements scoring.Explainable: an ONNX model cannot explain
// its scores. TreeSHAP weighs each path by the share of the training data
// that reached each node (XGBoost's sum_hessian, LightGBM's counts), and
// ONNX-ML's TreeEnsemble operators store no such covers.
func (m *Model) Explainer() (scoring.Explainer, error) {
	return nil, fmt.Errorf("%w: ONNX TreeEnsemble nodes carry no node covers (the training data's weight at each node), which exact TreeSHAP needs; serve the XGBoost model file (JSON or UBJSON) it was converted from to get contributions", scoring.ErrCannotExplain)
}

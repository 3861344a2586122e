// Package linear evaluates linear and logistic regression models stored in
// a small JSON format, so a model can be written by hand or exported from
// scikit-learn in three lines of Python:
//
//	import json
//	json.dump({"format": "streamscore-linear", "link": "logistic", "features": names,
//	           "coefficients": clf.coef_[0].tolist(), "intercept": float(clf.intercept_[0])}, open("m.json", "w"))
//
// Fields:
//
//	format        "streamscore-linear" (required: it tells the loader what the file is)
//	link          "identity" (regression), "logistic" (binary: score = P(class 1))
//	              or "softmax" (multi-class)
//	features      input names, in order
//	coefficients  one number per feature; for softmax, one list per class
//	intercept     a number; for softmax, one per class (default 0)
//	missing       optional: the value used for a missing (NaN) input, per
//	              feature name; a missing input without one makes the score
//	              NaN, which the scorer turns into a dead letter
//	version       optional model version (default: a hash of the file)
//
// Arithmetic is float64: z = intercept, then z += w·x feature by feature in
// order (each product rounded, no fused multiply-add), then the link:
// logistic 1/(1+exp(−z)), softmax exp(z_k − max z)/Σ; the result is rounded
// to float32.
package linear

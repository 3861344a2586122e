// Package modelset holds the models in service, routed by input topic
// (MODELS_FILE), or one model for every topic (MODEL_PATH). Each route
// keeps its current scorer (model plus compiled feature plan plus policy)
// behind an atomic pointer, so a reload swaps all three together and the
// pipeline, which reads the scorer at the start of every batch, never
// scores a batch with a half-swapped model.
//
// Reload is by polling: every interval each route's model and features
// files are resolved through symlinks and compared by identity (path,
// size, modification time), which sees Kubernetes swapping a ConfigMap's
// symlinked directory; SIGHUP (or Reload with force) reloads at once. A
// file that fails to load, or whose feature names do not fit the features
// file, leaves the old model serving.
package modelset

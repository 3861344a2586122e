// Package load opens a model file of any supported format: it detects the
// format from the file (extension and content) unless one is named, and
// calls that format's evaluator. It is its own package because scoring
// cannot import its formats (they import scoring).
package load

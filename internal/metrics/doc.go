// Package metrics defines streamscore's Prometheus metrics (prefix
// streamscore_, units in the names) on a registry of its own, plus
// franz-go's client metrics through the kprom plugin. Nothing is global:
// the pipeline and the HTTP server take a *Metrics.
//
// The counters add up: after a drain, records consumed equal predictions
// plus dead letters.
package metrics

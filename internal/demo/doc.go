// Package demo runs streamscore end to end with no setup: an embedded
// broker (kfake) on loopback with co-partitioned input topics, synthetic
// transactions and activity events at a target rate, the run pipeline
// scoring them with the bundled fraud model (whose aggregates read each
// customer's history in both topics from the lanes' entity state) and
// account-takeover model (routed by topic), run's HTTP API (metrics,
// health, /v1/predict) on HTTP_ADDR, a live terminal report of
// throughput, latency and sample predictions, and a scripted customer
// story: the same purchase scored before and after a burst of failed
// logins.
package demo

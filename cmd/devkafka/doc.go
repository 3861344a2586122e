// Command devkafka runs an in-memory Kafka-compatible broker (franz-go's
// kfake) for local work and tests: brokers on 127.0.0.1 ports P … P+N−1,
// seeded topics, optional persistence. The first line on stdout is
// "listening: 127.0.0.1:P[,...]". SIGINT or SIGTERM stops it cleanly.
// --tls-cert/--tls-key serve TLS; --sasl user:pass requires SASL (PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512) so that the secure paths can be tried
// locally. With --data-dir, a start after an unclean stop (kill -9) first
// repairs what kfake would restore wrongly — abort markers for the
// transactions the stop left open, the idempotent producers' sequence
// windows (internal/devbroker/repair.go) — and says so on stderr. A session
// watchdog removes consumer-group members silent past their session
// timeout, as Kafka does (internal/devbroker/sessions.go).
package main

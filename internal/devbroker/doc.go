// Package devbroker starts franz-go's kfake cluster as a local,
// Kafka-compatible development broker on fixed loopback ports with seeded
// topics (cmd/devkafka and the demo).
package devbroker

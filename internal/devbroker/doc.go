// Package devbroker starts franz-go's kfake cluster as a local,
// Kafka-compatible development broker on fixed loopback ports with seeded
// topics (cmd/devkafka and the demo). Beside the cluster runs a session
// watchdog (sessions.go) that removes classic-group members silent past
// their session timeout, which kfake can miss for a member killed during a
// rebalance.
package devbroker

// Package testkafka starts franz-go's kfake cluster (a real Kafka-protocol
// broker, in-process) for tests, one per test with t.Cleanup, and offers
// small produce and read helpers built on franz-go.
package testkafka

// Package testregistry is a Confluent Schema Registry for tests: franz-go's
// in-memory srfake holding the local transaction schema, which can be made
// to stop answering schema lookups, and the registry-framed events to go
// with it.
package testregistry

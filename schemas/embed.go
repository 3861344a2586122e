package schemas

import (
	_ "embed"
	"fmt"
)

// The Avro schemas, embedded so that the binary needs no files at run time.
var (
	//go:embed transaction.avsc
	TransactionSchema string
	//go:embed activity.avsc
	ActivitySchema string
	//go:embed prediction.avsc
	PredictionSchema string
)

// EventType names an input event kind; it selects the Avro schema of a topic
// and is copied to a prediction's event_type.
type EventType string

// The input event kinds.
const (
	Transaction EventType = "transaction"
	Activity    EventType = "activity"
)

// ParseEventType accepts "transaction" or "activity".
func ParseEventType(s string) (EventType, error) {
	switch EventType(s) {
	case Transaction, Activity:
		return EventType(s), nil
	}
	return "", fmt.Errorf("unknown event type %q (want transaction or activity)", s)
}

// schemaFor returns the embedded Avro schema of an event kind.
func schemaFor(t EventType) (string, error) {
	switch t {
	case Transaction:
		return TransactionSchema, nil
	case Activity:
		return ActivitySchema, nil
	}
	return "", fmt.Errorf("no schema for event type %q", t)
}

// Encoding is a record value format.
type Encoding string

// The encodings. AvroConfluent is the Confluent wire format (schema
// registry); its codecs are built with NewConfluentDecoder and
// NewConfluentPredictionEncoder, which take a registry client.
const (
	Avro          Encoding = "avro"
	AvroConfluent Encoding = "avro-confluent"
	JSON          Encoding = "json"
)

// ParseEncoding accepts the names of the encodings that this build implements.
func ParseEncoding(s string) (Encoding, error) {
	switch Encoding(s) {
	case Avro, JSON, AvroConfluent:
		return Encoding(s), nil
	}
	return "", fmt.Errorf("unknown encoding %q (want avro, avro-confluent or json)", s)
}

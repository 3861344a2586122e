// Package schemas owns the wire formats of streamscore: the Avro schemas of
// the input events and of the predictions (embedded .avsc files), the decoded
// event type that the rest of the pipeline reads, and the codecs that turn
// Kafka record values into events and predictions into record values.
//
// Encodings:
//
//   - "avro": plain Avro binary written with the local schema of the event
//     kind (transaction.avsc, activity.avsc, prediction.avsc).
//   - "json": one JSON object per record. Input needs no schema: fields are
//     looked up by name and unknown fields are ignored. Predictions are
//     written with encoding/json using the field names of prediction.avsc.
//
// A decoded [Event] keeps every top-level field by name as a [Value], so
// feature extraction works the same for every encoding. Decoders are cheap
// to share: they are safe for concurrent use and keep no per-record state.
package schemas

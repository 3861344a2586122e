package schemas

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/linkedin/goavro/v2"
)

// LabelSchema is the Avro schema of a label record (label.avsc).
//
//go:embed label.avsc
var LabelSchema string

// Label is one record of LABELS_TOPIC: the true class of a scored event.
// Its JSON form is {"event_id": "…", "label": 0 or 1}; other fields are
// ignored.
type Label struct {
	EventID string `json:"event_id"`
	Label   int    `json:"label"`
}

// LabelDecoder decodes label records. Implementations are safe for
// concurrent use.
type LabelDecoder interface {
	// DecodeLabel decodes value into l. A record that is not a label (not
	// the encoding, no event_id, a label that is not an integer) is an
	// error wrapping ErrMalformed; the label's value is not checked here
	// (quality counts labels other than 0 and 1 as invalid).
	DecodeLabel(value []byte, l *Label) error
}

// NewLabelDecoder returns the decoder of an encoding: JSON, or plain Avro
// binary with label.avsc.
func NewLabelDecoder(enc Encoding) (LabelDecoder, error) {
	switch enc {
	case JSON:
		return jsonLabels{}, nil
	case Avro:
		c, err := goavro.NewCodec(LabelSchema)
		if err != nil {
			return nil, fmt.Errorf("compile the label schema: %w", err)
		}
		return avroLabels{c}, nil
	}
	return nil, fmt.Errorf("labels: encoding %q is not supported (want json or avro)", enc)
}

type jsonLabels struct{}

func (jsonLabels) DecodeLabel(value []byte, l *Label) error {
	var raw struct {
		EventID *string      `json:"event_id"`
		Label   *json.Number `json:"label"`
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("%w: label: %v", ErrMalformed, err)
	}
	if raw.EventID == nil || *raw.EventID == "" {
		return fmt.Errorf("%w: label: no event_id", ErrMalformed)
	}
	if raw.Label == nil {
		return fmt.Errorf("%w: label: no label", ErrMalformed)
	}
	n, err := raw.Label.Int64()
	if err != nil {
		return fmt.Errorf("%w: label: label %s is not an integer", ErrMalformed, raw.Label.String())
	}
	*l = Label{EventID: *raw.EventID, Label: int(n)}
	return nil
}

type avroLabels struct{ c *goavro.Codec }

func (a avroLabels) DecodeLabel(value []byte, l *Label) error {
	native, rest, err := a.c.NativeFromBinary(value)
	if err != nil {
		return fmt.Errorf("%w: label: avro: %v%s", ErrMalformed, err, jsonHint(value))
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: label: avro: %d trailing bytes after the record", ErrMalformed, len(rest))
	}
	rec, _ := native.(map[string]any)
	id, _ := rec["event_id"].(string)
	y, ok := rec["label"].(int32)
	if id == "" || !ok {
		return fmt.Errorf("%w: label: no event_id or label", ErrMalformed)
	}
	*l = Label{EventID: id, Label: int(y)}
	return nil
}

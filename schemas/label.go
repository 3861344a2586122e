package schemas

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"strconv"
	"sync"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
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

// labelReader is a pooled jsontext reader of label records: once warm,
// decoding a label allocates nothing (its event id is read in place).
type labelReader struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

var labelReaders = sync.Pool{New: func() any { return new(labelReader) }}

// DecodeLabel reads a JSON object strictly (jsontext, as events are read:
// invalid UTF-8 is refused, where encoding/json would replace it); fields
// other than event_id and label are skipped, a name given twice takes its
// later value, and a label may be an integer or a string holding one (as
// encoding/json's json.Number reads it). l.EventID shares memory with
// value unless the id has escapes: copy it to keep it past value.
func (jsonLabels) DecodeLabel(value []byte, l *Label) error {
	r := labelReaders.Get().(*labelReader)
	defer labelReaders.Put(r)
	r.buf = *bytes.NewBuffer(value)
	r.dec.Reset(&r.buf, jsonOpts...)
	err := r.read(l)
	r.buf = bytes.Buffer{} // the pooled reader keeps no reference to value
	return err
}

func (r *labelReader) read(l *Label) error {
	malformed := func(err error) error { return fmt.Errorf("%w: label: %v", ErrMalformed, err) }
	dec := &r.dec
	if k := dec.PeekKind(); k != '{' {
		if _, err := dec.ReadValue(); err != nil {
			return malformed(err)
		}
		return fmt.Errorf("%w: label: value is %s, not an object", ErrMalformed, kindName(k))
	}
	if _, err := dec.ReadToken(); err != nil {
		return malformed(err)
	}
	var id, y jsontext.Value
	for dec.PeekKind() != '}' {
		name, err := dec.ReadValue()
		if err != nil {
			return malformed(err)
		}
		switch string(name) { // no allocation: a comparison
		case `"event_id"`:
			id, err = dec.ReadValue()
		case `"label"`:
			y, err = dec.ReadValue()
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return malformed(err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return malformed(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: label: data after the object", ErrMalformed)
		}
		return malformed(err)
	}
	if id.Kind() != '"' || len(id) <= 2 {
		return fmt.Errorf("%w: label: no event_id", ErrMalformed)
	}
	num := []byte(y)
	switch y.Kind() {
	case '0':
	case '"': // a number in a string, as encoding/json's json.Number takes it
		num = y[1 : len(y)-1]
		if bytes.IndexByte(num, '\\') >= 0 {
			var err error
			if num, err = jsontext.AppendUnquote(nil, y); err != nil {
				return malformed(err)
			}
		}
	case 0, 'n':
		return fmt.Errorf("%w: label: no label", ErrMalformed)
	default:
		return fmt.Errorf("%w: label: label %s is not an integer", ErrMalformed, y)
	}
	n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(num), len(num)), 10, 64)
	if err != nil || !jsonInteger(num) || n != int64(int(n)) {
		return fmt.Errorf("%w: label: label %s is not an integer", ErrMalformed, y)
	}
	inner := id[1 : len(id)-1]
	var eventID string
	if bytes.IndexByte(inner, '\\') < 0 {
		eventID = unsafe.String(unsafe.SliceData(inner), len(inner))
	} else {
		b, err := jsontext.AppendUnquote(nil, id)
		if err != nil {
			return malformed(err)
		}
		if len(b) == 0 {
			return fmt.Errorf("%w: label: no event_id", ErrMalformed)
		}
		eventID = string(b)
	}
	*l = Label{EventID: eventID, Label: int(n)}
	return nil
}

// jsonInteger reports whether b is a JSON number without fraction or
// exponent: -?(0|[1-9][0-9]*).
func jsonInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || b[0] == '0' && len(b) > 1 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
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

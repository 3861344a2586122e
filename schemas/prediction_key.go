package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// PredictionKey is what joins a prediction to its label: the fields a
// reader of the predictions topic needs to rebuild label state, read
// without decoding the rest of the record (the features, reasons, class
// probabilities). The byte slices alias the decoder's scratch: they are
// valid until the next DecodeKey.
type PredictionKey struct {
	EventID, ModelName, ModelVersion []byte
	Score                            float64
	ScoredAt                         int64 // unix milliseconds
	SourceTopic                      []byte
	SourcePartition                  int32
	SourceOffset                     int64
}

// PredictionKeyDecoder reads the PredictionKey of prediction records
// (PredictionEncoder's), and fails, as PredictionDecoder does, on a value
// that is not a prediction. Not safe for concurrent use (it reuses its
// scratch).
type PredictionKeyDecoder interface {
	DecodeKey(value []byte, k *PredictionKey) error
}

// NewPredictionKeyDecoder returns the key decoder of an output encoding:
// JSON or plain Avro (prediction.avsc). With avro-confluent the writer's
// schema is the registry's: use NewConfluentPredictionDecoder.
func NewPredictionKeyDecoder(enc Encoding) (PredictionKeyDecoder, error) {
	switch enc {
	case JSON:
		return &jsonKeyDecoder{}, nil
	case Avro:
		full, err := NewPredictionDecoder(Avro)
		if err != nil {
			return nil, err
		}
		return &avroKeyDecoder{full: full}, nil
	}
	return nil, fmt.Errorf("no prediction key decoder for encoding %q", enc)
}

var errKey = errors.New("not a prediction")

// avroKeyDecoder reads a prediction with goavro and keeps its key.
// (Decoding only the leading fields, with prediction.avsc cut after
// source, costs goavro as much: the fields after it are null or absent in
// most predictions.)
type avroKeyDecoder struct {
	full    PredictionDecoder
	scratch []byte
}

func (d *avroKeyDecoder) DecodeKey(v []byte, k *PredictionKey) error {
	p, err := d.full.Decode(v)
	if err != nil {
		return fmt.Errorf("avro prediction: %w: %v", errKey, err)
	}
	d.scratch = d.scratch[:0]
	*k = PredictionKey{EventID: d.keep(p.EventID), ModelName: d.keep(p.ModelName), ModelVersion: d.keep(p.ModelVersion),
		Score: p.Score, ScoredAt: time.Time(p.ScoredAt).UnixMilli(), SourceTopic: d.keep(p.Source.Topic),
		SourcePartition: p.Source.Partition, SourceOffset: p.Source.Offset}
	return nil
}

func (d *avroKeyDecoder) keep(s string) []byte {
	start := len(d.scratch)
	d.scratch = append(d.scratch, s...)
	return d.scratch[start:len(d.scratch):len(d.scratch)]
}

// jsonKeyDecoder reads the prediction's top-level object with jsontext
// (the strict streaming parser the event decoder uses), keeping the key's
// members and skipping the others, in any order.
type jsonKeyDecoder struct {
	rd      bytes.Reader
	dec     jsontext.Decoder
	scratch []byte // the key's strings, unquoted
	name    []byte // the member name being read, unquoted
}

func (d *jsonKeyDecoder) DecodeKey(v []byte, k *PredictionKey) error {
	if err := d.decodeKey(v, k); err != nil {
		return fmt.Errorf("json prediction: %w: %v", errKey, err)
	}
	return nil
}

func (d *jsonKeyDecoder) decodeKey(v []byte, k *PredictionKey) error {
	*k = PredictionKey{}
	d.scratch = d.scratch[:0]
	d.rd.Reset(v)
	d.dec.Reset(&d.rd, jsonOpts...)
	const want = 63 // event_id, score, model_name, model_version, scored_at, source
	var have uint8
	err := d.object(func(name []byte) (err error) {
		switch string(name) {
		case "event_id":
			k.EventID, err = d.str()
			have |= 1
		case "score":
			k.Score, err = d.number()
			have |= 2
		case "model_name":
			k.ModelName, err = d.str()
			have |= 4
		case "model_version":
			k.ModelVersion, err = d.str()
			have |= 8
		case "scored_at":
			s, err := d.str()
			if err != nil {
				return err
			}
			t, err := time.Parse(time.RFC3339Nano, string(s))
			if err != nil {
				return err
			}
			k.ScoredAt, have = t.UnixMilli(), have|16
		case "source":
			have |= 32
			return d.object(func(name []byte) (err error) {
				switch string(name) {
				case "topic":
					k.SourceTopic, err = d.str()
				case "partition":
					var p float64
					if p, err = d.number(); err == nil && (p != math.Trunc(p) || p < math.MinInt32 || p > math.MaxInt32) {
						err = fmt.Errorf("partition %v", p)
					}
					k.SourcePartition = int32(p)
				case "offset":
					var raw jsontext.Value
					if raw, err = d.dec.ReadValue(); err == nil {
						k.SourceOffset, err = strconv.ParseInt(string(raw), 10, 64)
					}
				default:
					err = d.dec.SkipValue()
				}
				return err
			})
		default:
			err = d.dec.SkipValue()
		}
		return err
	})
	if err != nil {
		return err
	}
	if have != want {
		return fmt.Errorf("missing members")
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return fmt.Errorf("trailing bytes after the object")
	}
	return nil
}

// object reads an object, calling member with each member's name (the
// decoder is then at its value, which member must read or skip).
func (d *jsonKeyDecoder) object(member func(name []byte) error) error {
	if t, err := d.dec.ReadToken(); err != nil {
		return err
	} else if t.Kind() != '{' {
		return fmt.Errorf("want an object, got %v", t.Kind())
	}
	for d.dec.PeekKind() != '}' {
		name, err := d.dec.ReadValue()
		if err != nil {
			return err
		}
		if d.name, err = jsontext.AppendUnquote(d.name[:0], name); err != nil {
			return err
		}
		if err := member(d.name); err != nil {
			return err
		}
	}
	_, err := d.dec.ReadToken()
	return err
}

// str reads a string member's value into the scratch.
func (d *jsonKeyDecoder) str() ([]byte, error) {
	raw, err := d.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	if raw.Kind() != '"' {
		return nil, fmt.Errorf("want a string, got %s", raw)
	}
	start := len(d.scratch)
	if d.scratch, err = jsontext.AppendUnquote(d.scratch, raw); err != nil {
		return nil, err
	}
	return d.scratch[start:len(d.scratch):len(d.scratch)], nil
}

func (d *jsonKeyDecoder) number() (float64, error) {
	raw, err := d.dec.ReadValue()
	if err != nil {
		return 0, err
	}
	if raw.Kind() != '0' {
		return 0, fmt.Errorf("want a number, got %s", raw)
	}
	return strconv.ParseFloat(string(raw), 64)
}

package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/linkedin/goavro/v2"
)

// maxAvroBlockItems bounds the items one block of an Avro array or map may
// declare. goavro allocates a block's declared count before it reads an
// item, so a corrupt count cost as much as the count said: a 50-byte
// prediction declaring 2^27 map entries allocated 10 GB and took 14 s to
// fail. No real block comes near the bound: its items take at least a byte
// each (a zero-size item, an array of nulls, is the exception) and a Kafka
// record holds 1 MiB by default (message.max.bytes), the order of this
// bound. A record over it fails to decode with goavro's error naming both
// counts, as any malformed record does; one declaring the bound itself
// allocates 84 MB before it fails (TestAvroBlockCountBounded). goavro
// reads the bound from a package variable, set here for every decoder of
// this package (the events', the predictions', the labels', with plain or
// registry schemas).
const maxAvroBlockItems = 1 << 20

func init() {
	goavro.MaxBlockCount = min(goavro.MaxBlockCount, maxAvroBlockItems)
}

// avroDecoder reads plain Avro binary written with the local schema.
type avroDecoder struct {
	t      EventType
	names  FieldNames
	codec  *goavro.Codec
	fields *FieldSet
}

func newAvroDecoder(t EventType, names FieldNames, fields *FieldSet) (*avroDecoder, error) {
	schema, err := schemaFor(t)
	if err != nil {
		return nil, err
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		return nil, fmt.Errorf("compile %s schema: %w", t, err)
	}
	for _, f := range []string{names.ID, names.Entity, names.Time} {
		if !schemaHasField(codec, f) {
			return nil, fmt.Errorf("the %s Avro schema has no field %q (check EVENT_ID_FIELD, ENTITY_FIELD, EVENT_TIME_FIELD)", t, f)
		}
	}
	return &avroDecoder{t: t, names: names, codec: codec, fields: fields}, nil
}

// schemaHasField reports whether the record schema declares a field.
func schemaHasField(c *goavro.Codec, name string) bool {
	fields, _ := recordFields(c)
	for _, f := range fields {
		if f.name == name {
			return true
		}
	}
	return false
}

func (d *avroDecoder) Decode(value []byte, ev *Event) error {
	ev.Reset()
	native, rest, err := d.codec.NativeFromBinary(value)
	if err != nil {
		return fmt.Errorf("%w: avro: %v%s", ErrMalformed, err, jsonHint(value))
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: avro: %d trailing bytes after the record", ErrMalformed, len(rest))
	}
	rec, ok := native.(map[string]any)
	if !ok {
		return fmt.Errorf("%w: avro: not a record", ErrMalformed)
	}
	appendAvroFields(ev, rec, d.fields, d.names)
	return finish(ev, d.t, d.names)
}

// appendAvroFields adds the kept fields of a decoded record to ev.
func appendAvroFields(ev *Event, rec map[string]any, set *FieldSet, names FieldNames) {
	keep := set.snapshot()
	ev.KeptGen = keep.generation()
	for name, v := range rec {
		if keep.keeps(name, names) {
			ev.Fields = append(ev.Fields, Field{Name: name, Value: avroValue(v)})
		}
	}
}

// jsonHint says, for a value that fails to decode as Avro but looks like
// a JSON object, that the topic probably holds JSON.
func jsonHint(value []byte) string {
	t := bytes.TrimLeft(value, " \t\r\n")
	if len(t) > 1 && t[0] == '{' && json.Valid(value) {
		return " (the value is a JSON object: if the topic holds JSON, set INPUT_ENCODING=json)"
	}
	return ""
}

// avroValue maps goavro's native form to a Value; unions arrive as a map
// with one key (the branch type name).
func avroValue(v any) Value {
	switch x := v.(type) {
	case nil:
		return Value{Kind: Null}
	case map[string]any:
		if len(x) == 1 {
			for _, inner := range x {
				if _, nested := inner.(map[string]any); !nested {
					return avroValue(inner)
				}
			}
		}
		return Value{Kind: Other}
	case float64:
		return NumberValue(x)
	case float32:
		return NumberValue(float64(x))
	case int32:
		return NumberValue(float64(x))
	case int64:
		return NumberValue(float64(x))
	case int:
		return NumberValue(float64(x))
	case string:
		return StringValue(x)
	case []byte: // Avro promotes bytes to string (goavro reads them as a fresh slice)
		return StringValue(string(x))
	case bool:
		return BoolValue(x)
	case time.Time:
		return NumberValue(float64(x.UnixMilli()))
	}
	return Value{Kind: Other}
}

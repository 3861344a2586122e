package schemas

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"
)

// EventEncoder writes events in an input encoding. It is used by the load
// generator and by tests; the scorer itself only decodes events.
// Implementations are safe for concurrent use.
type EventEncoder interface {
	// Append appends the encoded event to dst. Fields the Avro schema does
	// not declare are dropped; declared fields absent from ev are null.
	Append(dst []byte, ev *Event) ([]byte, error)
}

// NewEventEncoder returns the encoder of an encoding for one event kind.
// The time field is written as timestamp-millis in Avro and as RFC 3339
// with milliseconds in JSON.
func NewEventEncoder(enc Encoding, t EventType, names FieldNames) (EventEncoder, error) {
	switch enc {
	case JSON:
		return jsonEventEncoder{names: names}, nil
	case Avro:
		schema, err := schemaFor(t)
		if err != nil {
			return nil, err
		}
		codec, err := goavro.NewCodec(schema)
		if err != nil {
			return nil, err
		}
		fields, err := recordFields(codec)
		if err != nil {
			return nil, err
		}
		return &avroEventEncoder{codec: codec, fields: fields, names: names}, nil
	}
	return nil, fmt.Errorf("no event encoder for encoding %q", enc)
}

type jsonEventEncoder struct{ names FieldNames }

// Append writes the event as encoding/json writes a map of its fields
// (names sorted, the later of two equal names kept, its string escaping and
// float format: appendJSONString, appendJSONFloat), without building the
// map: loadgen encodes every event it offers on the cores that score them.
func (e jsonEventEncoder) Append(dst []byte, ev *Event) ([]byte, error) {
	var small [32]int
	order := small[:0]
	if len(ev.Fields) > len(small) {
		order = make([]int, 0, len(ev.Fields))
	}
	for i := range ev.Fields {
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(ev.Fields[a].Name, ev.Fields[b].Name) })
	start := len(dst)
	dst = append(dst, '{')
	first := true
	for k, i := range order {
		f := &ev.Fields[i]
		if k+1 < len(order) && ev.Fields[order[k+1]].Name == f.Name {
			continue // a map keeps the later value
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, f.Name)
		dst = append(dst, ':')
		switch v := f.Value; {
		case f.Name == e.names.Time && v.Kind == Number:
			dst = appendJSONTime(dst, Millis(time.UnixMilli(int64(v.Num))))
		case v.Kind == Number:
			if !finite(v.Num) {
				return dst[:start], fmt.Errorf("json: unsupported value: %v (field %q)", v.Num, f.Name)
			}
			dst = appendJSONFloat(dst, v.Num)
		case v.Kind == String:
			dst = appendJSONString(dst, v.Str)
		case v.Kind == Bool && v.Num != 0:
			dst = append(dst, "true"...)
		case v.Kind == Bool:
			dst = append(dst, "false"...)
		default:
			dst = append(dst, "null"...)
		}
	}
	return append(dst, '}'), nil
}

type avroEventEncoder struct {
	codec  *goavro.Codec
	fields []avroField
	names  FieldNames
}

func (e *avroEventEncoder) Append(dst []byte, ev *Event) ([]byte, error) {
	rec := make(map[string]any, len(e.fields))
	for _, f := range e.fields {
		v, _ := ev.Field(f.name)
		n, err := f.native(v)
		if err != nil {
			return dst, fmt.Errorf("field %q: %w", f.name, err)
		}
		rec[f.name] = n
	}
	return e.codec.BinaryFromNative(dst, rec)
}

// avroField is one top-level field of a record schema, reduced to what the
// event encoder needs: its primitive type and whether null is allowed.
type avroField struct {
	name     string
	typ      string // "string", "double", "long", "boolean", "int", "float", "timestamp-millis"
	nullable bool
}

func (f avroField) native(v Value) (any, error) {
	if v.Kind == Null {
		if !f.nullable {
			return nil, fmt.Errorf("is required")
		}
		return nil, nil
	}
	var n any
	switch f.typ {
	case "string":
		if v.Kind != String {
			return nil, fmt.Errorf("want string, got %s", v.Kind)
		}
		n = v.Str
	case "boolean":
		if v.Kind != Bool {
			return nil, fmt.Errorf("want boolean, got %s", v.Kind)
		}
		n = v.Num != 0
	case "double", "float", "long", "int", "timestamp-millis":
		if v.Kind != Number {
			return nil, fmt.Errorf("want number, got %s", v.Kind)
		}
		switch f.typ {
		case "double":
			n = v.Num
		case "float":
			n = float32(v.Num)
		case "long":
			n = int64(v.Num)
		case "int":
			n = int32(v.Num)
		default:
			n = time.UnixMilli(int64(v.Num)).UTC()
		}
	default:
		return nil, fmt.Errorf("unsupported Avro type %s", f.typ)
	}
	if f.nullable {
		return goavro.Union(f.typ, n), nil
	}
	return n, nil
}

// recordFields lists the top-level fields of a codec's record schema.
func recordFields(c *goavro.Codec) ([]avroField, error) {
	var rec struct {
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(c.Schema()), &rec); err != nil {
		return nil, fmt.Errorf("read record schema: %w", err)
	}
	out := make([]avroField, 0, len(rec.Fields))
	for _, f := range rec.Fields {
		af := avroField{name: f.Name}
		var branches []json.RawMessage
		if json.Unmarshal(f.Type, &branches) == nil {
			for _, b := range branches {
				if string(b) == `"null"` {
					af.nullable = true
				} else {
					af.typ = primitiveName(b)
				}
			}
		} else {
			af.typ = primitiveName(f.Type)
		}
		out = append(out, af)
	}
	return out, nil
}

func primitiveName(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Type        string `json:"type"`
		LogicalType string `json:"logicalType"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		if obj.LogicalType != "" {
			return obj.LogicalType
		}
		return obj.Type
	}
	return ""
}

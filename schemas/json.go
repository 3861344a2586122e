package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
)

// JSON events are read with go-json-experiment's jsontext (the streaming
// layer of encoding/json/v2): one pass over the bytes that validates them
// strictly (RFC 8259 syntax and UTF-8, like encoding/json and stricter than
// lenient fast parsers, which accept "01" or "1." as numbers), and
// allocates nothing once warm: the decoder and its buffer come from a
// pool, values are read in place, field names are interned and value
// strings are copied into the event's arena. Benchmarked against
// valyala/fastjson (lenient on numbers and escapes; full validation costs
// a second pass), buger/jsonparser (no validation of skipped values) and
// tidwall/gjson (allocates): see BenchmarkDecode and the README's figures.

// jsonOpts: a name that occurs twice is not an error (encoding/json takes
// the later one, and so does Event.Field).
var jsonOpts = []jsontext.Options{jsontext.AllowDuplicateNames(true)}

type jsonReader struct {
	buf   bytes.Buffer
	dec   jsontext.Decoder
	names map[string]string // interned field names (the same in every record)
	// slots remembers, per position in the object, the last name seen
	// there and whether the field set kept it: records of a topic list
	// their fields in the same order, so most names are matched by one
	// comparison, without hashing.
	slots []nameSlot
}

type nameSlot struct {
	raw  string // the name as written (no escapes)
	snap *fieldSnapshot
	kept bool
}

// maxInterned bounds a reader's interned names: records with ever new
// names (a map serialised as an object) must not grow it without end.
const maxInterned = 256

var jsonReaders = sync.Pool{New: func() any { return &jsonReader{names: map[string]string{}} }}

// jsonDecoder reads one JSON object per record; fields by name.
type jsonDecoder struct {
	t      EventType
	names  FieldNames
	fields *FieldSet
}

func (d jsonDecoder) Decode(value []byte, ev *Event) error {
	if err := decodeJSON(value, ev, d.fields, d.names); err != nil {
		return err
	}
	return finish(ev, d.t, d.names)
}

// DecodeJSONFields resets ev and fills its fields from a JSON object,
// without looking for identity fields (file scoring needs none). Errors
// wrap ErrMalformed.
func DecodeJSONFields(value []byte, ev *Event) error {
	return decodeJSON(value, ev, nil, FieldNames{})
}

func decodeJSON(value []byte, ev *Event, keep *FieldSet, names FieldNames) error {
	ev.Reset()
	r := jsonReaders.Get().(*jsonReader)
	defer jsonReaders.Put(r)
	r.buf = *bytes.NewBuffer(value)
	r.dec.Reset(&r.buf, jsonOpts...)
	err := r.readObject(ev, keep, names)
	r.buf = bytes.Buffer{} // the pooled reader keeps no reference to value
	if err != nil {
		return fmt.Errorf("%w: json: %v", ErrMalformed, err)
	}
	return nil
}

func (r *jsonReader) readObject(ev *Event, set *FieldSet, names FieldNames) error {
	dec := &r.dec
	keep := set.snapshot()
	ev.KeptGen = keep.generation()
	switch k := dec.PeekKind(); k {
	case '{':
	case 'n':
		return errors.New("value is null, not an object")
	case 0:
		if _, err := dec.ReadToken(); err != nil && err != io.EOF {
			return err
		}
		return errors.New("empty value, not an object")
	default:
		if _, err := dec.ReadValue(); err != nil {
			return err
		}
		return fmt.Errorf("value is %s, not an object", kindName(k))
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for pos := 0; dec.PeekKind() != '}'; pos++ {
		raw, err := dec.ReadValue() // the name
		if err != nil {
			return err
		}
		name, kept, err := r.field(ev, raw, pos, keep, names)
		if err != nil {
			return err
		}
		if !kept {
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		raw, err = dec.ReadValue()
		if err != nil {
			return err
		}
		v, err := jsonValue(ev, raw)
		if err != nil {
			return fmt.Errorf("field %q: %v", name, err)
		}
		ev.Fields = append(ev.Fields, Field{Name: name, Value: v})
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			return errors.New("data after the object")
		}
		return err
	}
	return nil
}

// field resolves the name at position pos and whether keep keeps it,
// from the position's slot when the same name was there last time.
func (r *jsonReader) field(ev *Event, raw jsontext.Value, pos int, keep *fieldSnapshot, names FieldNames) (string, bool, error) {
	inner := raw[1 : len(raw)-1]
	if pos < len(r.slots) {
		if sl := &r.slots[pos]; sl.raw == string(inner) && sl.snap == keep {
			return sl.raw, sl.kept, nil
		}
	}
	name, err := r.name(ev, raw)
	if err != nil {
		return "", false, err
	}
	kept := keep.keeps(name, names)
	if pos < maxInterned && bytes.IndexByte(inner, '\\') < 0 {
		for len(r.slots) <= pos {
			r.slots = append(r.slots, nameSlot{})
		}
		r.slots[pos] = nameSlot{raw: r.names[name], snap: keep, kept: kept}
		if r.slots[pos].raw == "" { // not interned (too many names): no slot
			r.slots[pos] = nameSlot{}
		}
	}
	return name, kept, nil
}

// name resolves a field name: interned when it has no escapes, else
// unquoted into ev's arena.
func (r *jsonReader) name(ev *Event, raw jsontext.Value) (string, error) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		return unquote(ev, raw)
	}
	if s, ok := r.names[string(inner)]; ok {
		return s, nil
	}
	if len(r.names) >= maxInterned {
		return ev.str(inner), nil
	}
	s := string(inner)
	r.names[s] = s
	return s, nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case '[':
		return "an array"
	}
	return "not an object"
}

// unquote turns a raw JSON string (validated by the decoder) into a string
// in ev's arena.
func unquote(ev *Event, raw jsontext.Value) (string, error) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return ev.str(inner), nil
	}
	start := len(ev.arena)
	var err error
	if ev.arena, err = jsontext.AppendUnquote(ev.arena, raw); err != nil {
		ev.arena = ev.arena[:start]
		return "", err
	}
	if len(ev.arena) == start {
		return "", nil
	}
	return unsafe.String(&ev.arena[start], len(ev.arena)-start), nil
}

// jsonValue classifies one raw JSON value. Numbers that overflow float64
// become ±Inf (the feature stage rejects non-finite numbers with a reason).
func jsonValue(ev *Event, raw jsontext.Value) (Value, error) {
	switch raw.Kind() {
	case 'n':
		return Value{Kind: Null}, nil
	case 't':
		return BoolValue(true), nil
	case 'f':
		return BoolValue(false), nil
	case '"':
		s, err := unquote(ev, raw)
		if err != nil {
			return Value{}, err
		}
		return StringValue(s), nil
	case '{', '[':
		return Value{Kind: Other}, nil
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return NumberValue(f), nil // ±Inf or a denormal rounded to 0
		}
		return Value{}, err
	}
	if math.IsNaN(f) { // unreachable for valid JSON; keep the invariant
		return Value{}, errors.New("NaN is not JSON")
	}
	return NumberValue(f), nil
}

// SetField adds or replaces a field of an event (file readers build events
// field by field).
func (e *Event) SetField(name string, v Value) { e.set(name, v) }

package schemas

import (
	"math"
	"strconv"
	"time"
	"unsafe"
)

// Kind is the type of a decoded field value.
type Kind uint8

// Value kinds. Other is anything that is neither a scalar nor null (a JSON
// object or array, Avro bytes or a nested record): using it as a feature is
// a type error.
const (
	Null Kind = iota
	Number
	String
	Bool
	Other
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Number:
		return "number"
	case String:
		return "string"
	case Bool:
		return "boolean"
	}
	return "object"
}

// Value is one decoded field. Num holds numbers (possibly non-finite: the
// feature stage rejects those) and booleans as 0 or 1; Str holds strings.
type Value struct {
	Kind Kind
	Num  float64
	Str  string
}

// NumberValue, StringValue and BoolValue build values.
func NumberValue(f float64) Value { return Value{Kind: Number, Num: f} }

// StringValue builds a string value.
func StringValue(s string) Value { return Value{Kind: String, Str: s} }

// BoolValue builds a boolean value.
func BoolValue(b bool) Value {
	if b {
		return Value{Kind: Bool, Num: 1}
	}
	return Value{Kind: Bool}
}

// Field is a named value of an event.
type Field struct {
	Name  string
	Value Value
}

// Event is a decoded input record. ID, Entity and Time are taken from the
// configured id, entity and time fields and are always set on an event that
// a decoder returned without error. Fields holds the top-level fields in
// record order (including those three; a decoder given a field set keeps
// only those), for feature extraction by name. When a name occurs twice
// the later field wins, as in encoding/json.
//
// An Event is reusable: Reset keeps its field storage and the byte arena
// that decoders copy strings into, so a warm event decodes without
// allocating. The strings of an event are valid until its next Reset.
type Event struct {
	Type   EventType
	ID     string
	Entity string
	Time   time.Time
	Fields []Field
	// KeptGen is the FieldSet generation the decoder kept fields by (0:
	// every field was kept).
	KeptGen uint64
	// Aggs are the values of the entity aggregates the scoring plan reads,
	// in its order (scoring.Plan.Aggregates), computed from the entity's
	// history before the event is scored; Null is missing.
	Aggs  []Value
	arena []byte // string bytes of Fields (see str)
}

// Reset clears the event for reuse, keeping its capacity.
func (e *Event) Reset() {
	clear(e.Fields)
	*e = Event{Fields: e.Fields[:0], Aggs: e.Aggs[:0], arena: e.arena[:0]}
}

// str copies b into the event's arena and returns it as a string that
// lives until the next Reset. The arena only grows by append: a string
// handed out earlier keeps pointing at the bytes it was made from (the old
// array stays alive while referenced), so no string is ever overwritten.
func (e *Event) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	start := len(e.arena)
	e.arena = append(e.arena, b...)
	return unsafe.String(&e.arena[start], len(b))
}

// Field returns the value of the named field and whether it is present.
// Events have few fields, so a linear scan beats a map here; it runs from
// the end so that the later of two fields with one name wins.
func (e *Event) Field(name string) (Value, bool) {
	for i := len(e.Fields) - 1; i >= 0; i-- {
		if e.Fields[i].Name == name {
			return e.Fields[i].Value, true
		}
	}
	return Value{}, false
}

// set adds or replaces a field.
func (e *Event) set(name string, v Value) {
	for i := len(e.Fields) - 1; i >= 0; i-- {
		if e.Fields[i].Name == name {
			e.Fields[i].Value = v
			return
		}
	}
	e.Fields = append(e.Fields, Field{Name: name, Value: v})
}

// idString renders an id or entity field: a non-empty string, or an integral
// number (JSON producers often send numeric ids), formatted into the
// event's arena.
func (e *Event) idString(v Value) (string, bool) {
	switch v.Kind {
	case String:
		return v.Str, v.Str != ""
	case Number:
		if v.Num == math.Trunc(v.Num) && math.Abs(v.Num) < 1<<53 {
			start := len(e.arena)
			e.arena = strconv.AppendInt(e.arena, int64(v.Num), 10)
			return unsafe.String(&e.arena[start], len(e.arena)-start), true
		}
	}
	return "", false
}

// TimeOf interprets a value as a point in time: a number is Unix epoch
// milliseconds, a string is RFC 3339.
func TimeOf(v Value) (time.Time, bool) {
	switch v.Kind {
	case Number:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) || math.Abs(v.Num) > 1e15 {
			return time.Time{}, false
		}
		return time.UnixMilli(int64(v.Num)).UTC(), true
	case String:
		t, err := time.Parse(time.RFC3339Nano, v.Str)
		if err != nil {
			return time.Time{}, false
		}
		return t.UTC(), true
	}
	return time.Time{}, false
}

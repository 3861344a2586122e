package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// jsonDecoder reads one JSON object per record; fields by name.
type jsonDecoder struct {
	t     EventType
	names FieldNames
}

func (d jsonDecoder) Decode(value []byte, ev *Event) error {
	if err := DecodeJSONFields(value, ev); err != nil {
		return err
	}
	return finish(ev, d.t, d.names)
}

// DecodeJSONFields resets ev and fills its fields from a JSON object,
// without looking for identity fields (file scoring needs none). Errors
// wrap ErrMalformed.
func DecodeJSONFields(value []byte, ev *Event) error {
	ev.Reset()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil {
		return fmt.Errorf("%w: json: %v", ErrMalformed, err)
	}
	if obj == nil {
		return fmt.Errorf("%w: json: value is null, not an object", ErrMalformed)
	}
	for name, raw := range obj {
		v, err := jsonValue(raw)
		if err != nil {
			return fmt.Errorf("%w: json field %q: %v", ErrMalformed, name, err)
		}
		ev.Fields = append(ev.Fields, Field{Name: name, Value: v})
	}
	return nil
}

// SetField adds or replaces a field of an event (file readers build events
// field by field).
func (e *Event) SetField(name string, v Value) { e.set(name, v) }

// jsonValue classifies one raw JSON value. Numbers that overflow float64
// become ±Inf (the feature stage rejects non-finite numbers with a reason).
func jsonValue(raw json.RawMessage) (Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return Value{}, fmt.Errorf("empty value")
	}
	switch raw[0] {
	case 'n':
		return Value{Kind: Null}, nil
	case 't':
		return BoolValue(true), nil
	case 'f':
		return BoolValue(false), nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Value{}, err
		}
		return StringValue(s), nil
	case '{', '[':
		return Value{Kind: Other}, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		var ne *strconv.NumError
		if asNumErr(err, &ne) && ne.Err == strconv.ErrRange {
			return NumberValue(f), nil // ±Inf or a denormal rounded to 0
		}
		return Value{}, err
	}
	if math.IsNaN(f) { // unreachable for valid JSON; keep the invariant
		return Value{}, fmt.Errorf("NaN is not JSON")
	}
	return NumberValue(f), nil
}

func asNumErr(err error, target **strconv.NumError) bool {
	ne, ok := err.(*strconv.NumError)
	if ok {
		*target = ne
	}
	return ok
}

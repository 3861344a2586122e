package schemas

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// referenceJSONEvent is the JSON event encoding stated directly: a map of
// the fields (the time field as FormatTime's text) through encoding/json.
func referenceJSONEvent(names FieldNames, ev *Event) ([]byte, error) {
	obj := make(map[string]any, len(ev.Fields))
	for _, f := range ev.Fields {
		v := f.Value
		switch {
		case f.Name == names.Time && v.Kind == Number:
			obj[f.Name] = FormatTime(time.UnixMilli(int64(v.Num)))
		case v.Kind == Number:
			obj[f.Name] = v.Num
		case v.Kind == String:
			obj[f.Name] = v.Str
		case v.Kind == Bool:
			obj[f.Name] = v.Num != 0
		default:
			obj[f.Name] = nil
		}
	}
	return json.Marshal(obj)
}

// TestJSONEventEncoderMatchesEncodingJSON: events of random fields (names
// out of order and repeated, strings that need escaping, floats of every
// magnitude, booleans, nulls, the time field) encode to the bytes of the
// reference, byte for byte.
func TestJSONEventEncoderMatchesEncodingJSON(t *testing.T) {
	e, err := NewEventEncoder(JSON, Transaction, DefaultFieldNames)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{DefaultFieldNames.Time, "amount", "merchant_category", "z", "a", "é", "<tag>", "b\"q", "n", "count"}
	strs := []string{"", "plain", "quote\"back\\slash", "<html>&", "tab\tnl\n\x01", "\u2028\u2029", "caf\xc3\xa9", "bad\xff", "日本"}
	for i := range 20_000 {
		ev := &Event{}
		for range rng.IntN(len(names) + 40) { // sometimes more fields than the sort's stack array
			name := names[rng.IntN(len(names))]
			if rng.IntN(8) == 0 {
				name = strings.Repeat("f", rng.IntN(40))
			}
			var v Value
			switch rng.IntN(6) {
			case 0:
				v = StringValue(strs[rng.IntN(len(strs))])
			case 1:
				v = BoolValue(rng.IntN(2) == 0)
			case 2:
				v = Value{Kind: Null}
			case 3:
				v = NumberValue(float64(1_700_000_000_000 + rng.Int64N(1e12)))
			default:
				v = NumberValue(math.Float64frombits(rng.Uint64()))
				if !finite(v.Num) || rng.IntN(2) == 0 {
					v = NumberValue(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(50)-25)))
				}
			}
			ev.Fields = append(ev.Fields, Field{Name: name, Value: v})
		}
		want, err := referenceJSONEvent(DefaultFieldNames, ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Append([]byte("prefix"), ev)
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("event %d %v:\n got %s (%v)\nwant prefix%s", i, ev.Fields, got, err, want)
		}
	}
}

func TestJSONEventEncoderRefusesNonFinite(t *testing.T) {
	e, _ := NewEventEncoder(JSON, Transaction, DefaultFieldNames)
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		ev := &Event{Fields: []Field{{Name: "amount", Value: NumberValue(f)}}}
		got, err := e.Append([]byte("keep"), ev)
		if err == nil || !strings.Contains(err.Error(), `"amount"`) || string(got) != "keep" {
			t.Errorf("%v: %q, %v; want an error naming the field and dst unchanged", f, got, err)
		}
	}
}

// BenchmarkEncodeEvent: loadgen's JSON event encoding against the
// reference (a map through encoding/json, the encoder before).
func BenchmarkEncodeEvent(b *testing.B) {
	e, _ := NewEventEncoder(JSON, Transaction, DefaultFieldNames)
	ev := fullTransaction()
	for _, tt := range []struct {
		name string
		enc  func(dst []byte) ([]byte, error)
	}{
		{"json", func(dst []byte) ([]byte, error) { return e.Append(dst, ev) }},
		{"json-reference", func(dst []byte) ([]byte, error) {
			v, err := referenceJSONEvent(DefaultFieldNames, ev)
			return append(dst, v...), err
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = tt.enc(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

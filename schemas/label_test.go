package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"
)

func TestLabelDecoders(t *testing.T) {
	j, err := NewLabelDecoder(JSON)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewLabelDecoder(Avro)
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := goavro.NewCodec(LabelSchema)
	bin, err := codec.BinaryFromNative(nil, map[string]any{"event_id": "e-1", "label": int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		dec   LabelDecoder
		value []byte
		want  Label
		bad   bool
	}{
		{"json", j, []byte(`{"event_id":"e-1","label":1,"extra":"ignored"}`), Label{"e-1", 1}, false},
		{"json label 2 (invalid, decided later)", j, []byte(`{"event_id":"e-1","label":2}`), Label{"e-1", 2}, false},
		{"json no id", j, []byte(`{"label":1}`), Label{}, true},
		{"json no label", j, []byte(`{"event_id":"e"}`), Label{}, true},
		{"json fractional label", j, []byte(`{"event_id":"e","label":0.5}`), Label{}, true},
		{"json not json", j, []byte(`nope`), Label{}, true},
		{"avro", a, bin, Label{"e-1", 1}, false},
		{"avro json value", a, []byte(`{"event_id":"e-1","label":1}`), Label{}, true},
		{"avro trailing bytes", a, append(append([]byte(nil), bin...), 0), Label{}, true},
	} {
		var l Label
		err := c.dec.DecodeLabel(c.value, &l)
		if c.bad {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: %v, want ErrMalformed", c.name, err)
			}
			continue
		}
		if err != nil || l != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, l, err, c.want)
		}
	}
	if _, err := NewLabelDecoder(AvroConfluent); err == nil {
		t.Error("avro-confluent labels accepted without a registry")
	}
}

// refDecodeLabel is the label's meaning stated with encoding/json: the
// reference the JSON label decoder must agree with (strict on UTF-8,
// where encoding/json replaces invalid bytes; keys matched exactly, where
// encoding/json's struct fields match any case: the stream's decoders
// read "label", never "LABEL").
func refDecodeLabel(value []byte) (Label, bool) {
	if !utf8.Valid(value) {
		return Label{}, false
	}
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(value))
	if err := dec.Decode(&members); err != nil || members == nil {
		return Label{}, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return Label{}, false
	}
	var id *string
	var label *json.Number
	if raw, ok := members["event_id"]; ok {
		if err := json.Unmarshal(raw, &id); err != nil {
			return Label{}, false
		}
	}
	if raw, ok := members["label"]; ok {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&label); err != nil {
			return Label{}, false
		}
	}
	if id == nil || *id == "" || label == nil {
		return Label{}, false
	}
	n, err := label.Int64()
	if err != nil || n != int64(int(n)) {
		return Label{}, false
	}
	return Label{EventID: *id, Label: int(n)}, true
}

var labelSeeds = []string{
	`{"event_id":"e-1","label":1}`, `{"label":0,"event_id":"e-2","x":{"a":[1,2,{"b":null}]}}`, ` { "event_id" : "e" , "label" : 1 } `,
	`{"event_id":"a\"b\\u00e9","label":1}`, `{"event_id":"","label":1}`, `{"event_id":null,"label":1}`, `{"event_id":"e","label":null}`,
	`{"event_id":"e","label":"1"}`, `{"event_id":"e","label":1.0}`, `{"event_id":"e","label":1e0}`, `{"event_id":"e","label":-3}`,
	`{"event_id":"e","label":99999999999999999999}`, `{"event_id":"e","label":1}x`, `{"event_id":"e","label":1}{}`,
	`{"event_id":"e","event_id":"f","label":0,"label":1}`, `{"event_id":7,"label":1}`, `[1]`, `null`, ``, `{`, `{"event_id":"e","label":01}`,
	"{\"event_id\":\"\xff\",\"label\":1}", `{"event_id":"\u0000","label":true}`, `{"event_id":"e","label":"+1"}`, `{"event_id":"e","label":"\u0031"}`, `{"event_id":"e","label":" 1"}`,
	`{"event_id":"0","lABel":10}`, `{"EVENT_ID":"e","label":1}`, `{"event_id":"e","label":1,"LABEL":0}`,
}

// TestJSONLabelAgreesWithEncodingJSON: the decoder and the reference
// accept the same records and read the same label from them.
func TestJSONLabelAgreesWithEncodingJSON(t *testing.T) {
	dec, _ := NewLabelDecoder(JSON)
	for _, v := range labelSeeds {
		checkLabelAgainstRef(t, dec, []byte(v))
	}
}

func checkLabelAgainstRef(t *testing.T, dec LabelDecoder, v []byte) {
	t.Helper()
	var l Label
	err := dec.DecodeLabel(v, &l)
	want, ok := refDecodeLabel(v)
	if ok != (err == nil) || ok && l != want {
		t.Errorf("%q: decoder %+v, %v; encoding/json %+v, ok %v", v, l, err, want, ok)
	}
	if err != nil && !errors.Is(err, ErrMalformed) {
		t.Errorf("%q: %v does not wrap ErrMalformed", v, err)
	}
}

func FuzzJSONLabel(f *testing.F) {
	for _, v := range labelSeeds {
		f.Add([]byte(v))
	}
	dec, _ := NewLabelDecoder(JSON)
	f.Fuzz(func(t *testing.T, v []byte) { checkLabelAgainstRef(t, dec, v) })
}

// TestJSONLabelAllocs: a warm decoder allocates nothing for a label
// whose id has no escapes.
func TestJSONLabelAllocs(t *testing.T) {
	dec, _ := NewLabelDecoder(JSON)
	v := []byte(`{"event_id":"7f3c2a90-1b2c-4d5e-8f90-123456789abc","label":1,"source":"chargebacks"}`)
	var l Label
	if n := testing.AllocsPerRun(200, func() {
		if err := dec.DecodeLabel(v, &l); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per label, want 0", n)
	}
}

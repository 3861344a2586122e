package schemas

import (
	"errors"
	"testing"

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

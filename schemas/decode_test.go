package schemas

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestJSONDecode(t *testing.T) {
	d, err := NewDecoder(JSON, Transaction, DefaultFieldNames)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		wantErr error
		check   func(t *testing.T, ev *Event)
	}{
		{name: "full", in: `{"event_id":"e1","customer_id":"c1","event_time":"2026-01-02T03:04:05.678Z","amount":12.5,"channel":"web","card_present":false,"extra":{"x":1}}`,
			check: func(t *testing.T, ev *Event) {
				if ev.ID != "e1" || ev.Entity != "c1" || ev.Type != Transaction {
					t.Errorf("identity = %q %q %q", ev.ID, ev.Entity, ev.Type)
				}
				if want := time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC); !ev.Time.Equal(want) {
					t.Errorf("time = %v, want %v", ev.Time, want)
				}
				if v, _ := ev.Field("amount"); v != NumberValue(12.5) {
					t.Errorf("amount = %+v", v)
				}
				if v, _ := ev.Field("card_present"); v != BoolValue(false) {
					t.Errorf("card_present = %+v", v)
				}
				if v, _ := ev.Field("extra"); v.Kind != Other {
					t.Errorf("extra = %+v", v)
				}
			}},
		{name: "epoch millis and numeric ids", in: `{"event_id":17,"customer_id":42,"event_time":1767323045678}`,
			check: func(t *testing.T, ev *Event) {
				if ev.ID != "17" || ev.Entity != "42" || ev.Time.UnixMilli() != 1767323045678 {
					t.Errorf("got %q %q %v", ev.ID, ev.Entity, ev.Time)
				}
			}},
		{name: "null and overflow kept for the feature stage", in: `{"event_id":"e","customer_id":"c","event_time":0,"amount":null,"big":1e999}`,
			check: func(t *testing.T, ev *Event) {
				if v, ok := ev.Field("amount"); !ok || v.Kind != Null {
					t.Errorf("amount = %+v %v", v, ok)
				}
				if v, _ := ev.Field("big"); !math.IsInf(v.Num, 1) {
					t.Errorf("big = %+v", v)
				}
			}},
		{name: "garbage", in: `not json`, wantErr: ErrMalformed},
		{name: "array", in: `[1,2]`, wantErr: ErrMalformed},
		{name: "null document", in: `null`, wantErr: ErrMalformed},
		{name: "truncated", in: `{"event_id":"e"`, wantErr: ErrMalformed},
		{name: "no entity", in: `{"event_id":"e","event_time":0}`, wantErr: ErrIdentity},
		{name: "empty id", in: `{"event_id":"","customer_id":"c","event_time":0}`, wantErr: ErrIdentity},
		{name: "fractional id", in: `{"event_id":1.5,"customer_id":"c","event_time":0}`, wantErr: ErrIdentity},
		{name: "bad time", in: `{"event_id":"e","customer_id":"c","event_time":"yesterday"}`, wantErr: ErrIdentity},
		{name: "no time", in: `{"event_id":"e","customer_id":"c"}`, wantErr: ErrIdentity},
		{name: "escapes and duplicate names (the later wins)", in: ` {"event_id":"e\u0031","cust\u006fmer_id":"c\"q","event_time":0,"a":1,"a":2} `,
			check: func(t *testing.T, ev *Event) {
				if ev.ID != "e1" || ev.Entity != `c"q` {
					t.Errorf("identity = %q %q", ev.ID, ev.Entity)
				}
				if v, _ := ev.Field("a"); v != NumberValue(2) {
					t.Errorf("a = %+v", v)
				}
			}},
		{name: "data after the object", in: `{"event_id":"e","customer_id":"c","event_time":0} {}`, wantErr: ErrMalformed},
		{name: "leading zero", in: `{"event_id":"e","customer_id":"c","event_time":0,"amount":01}`, wantErr: ErrMalformed},
		{name: "bare decimal point", in: `{"event_id":"e","customer_id":"c","event_time":0,"amount":1.}`, wantErr: ErrMalformed},
		{name: "bad escape", in: `{"event_id":"e\x","customer_id":"c","event_time":0}`, wantErr: ErrMalformed},
		{name: "invalid UTF-8", in: "{\"event_id\":\"e\xff\",\"customer_id\":\"c\",\"event_time\":0}", wantErr: ErrMalformed},
		{name: "trailing comma", in: `{"event_id":"e","customer_id":"c","event_time":0,}`, wantErr: ErrMalformed},
		{name: "broken nested value", in: `{"event_id":"e","customer_id":"c","event_time":0,"x":[1,2}`, wantErr: ErrMalformed},
		{name: "empty", in: ``, wantErr: ErrMalformed},
		{name: "string document", in: `"x"`, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			err := d.Decode([]byte(tt.in), &ev)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, &ev)
			}
		})
	}
}

// TestDecodeKeepFields checks that a decoder given a field set keeps the
// identity fields and the set's fields only, follows a set that grows
// while in use, and stamps each event with the generation it kept.
func TestDecodeKeepFields(t *testing.T) {
	in := []byte(`{"event_id":"e","customer_id":"c","event_time":0,"amount":1,"channel":"web","nested":{"a":[1]}}`)
	for _, enc := range []Encoding{JSON, Avro} {
		set := NewFieldSet("amount")
		if enc == Avro {
			e, _ := NewEventEncoder(Avro, Transaction, DefaultFieldNames)
			var src Event
			if err := DecodeJSONFields(in, &src); err != nil {
				t.Fatal(err)
			}
			var err error
			if in, err = e.Append(nil, &src); err != nil {
				t.Fatal(err)
			}
		}
		d, err := NewDecoder(enc, Transaction, DefaultFieldNames, KeepFields(set))
		if err != nil {
			t.Fatal(err)
		}
		var ev Event
		if err := d.Decode(in, &ev); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range ev.Fields {
			names = append(names, f.Name)
		}
		sort.Strings(names)
		if got := strings.Join(names, ","); got != "amount,customer_id,event_id,event_time" || ev.KeptGen != 1 {
			t.Errorf("%s kept %s (generation %d)", enc, got, ev.KeptGen)
		}
		if gen, ok := set.Covers("channel"); ok {
			t.Errorf("%s: channel covered (generation %d) before it was added", enc, gen)
		}
		if gen := set.Add("channel"); gen != 2 {
			t.Errorf("%s: Add returned generation %d", enc, gen)
		}
		if err := d.Decode(in, &ev); err != nil {
			t.Fatal(err)
		}
		if _, ok := ev.Field("amount"); !ok || ev.KeptGen != 2 {
			t.Errorf("%s: amount dropped after the set grew (generation %d)", enc, ev.KeptGen)
		}
		if v, _ := ev.Field("channel"); v.Str != "web" {
			t.Errorf("%s: channel = %+v", enc, v)
		}
		if gen, ok := set.Covers("channel", "amount"); !ok || gen != 2 {
			t.Errorf("%s: Covers = %d %v", enc, gen, ok)
		}
	}
	set := NewFieldSet("amount")
	// A field set still validates what it skips.
	d, _ := NewDecoder(JSON, Transaction, DefaultFieldNames, KeepFields(set))
	var ev Event
	if err := d.Decode([]byte(`{"event_id":"e","customer_id":"c","event_time":0,"skipped":[1,}`), &ev); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed skipped value: %v", err)
	}
}

// TestAvroHintsJSON checks that JSON sent to the Avro decoder is a dead
// letter whose reason says to set INPUT_ENCODING=json.
func TestAvroHintsJSON(t *testing.T) {
	d, _ := NewDecoder(Avro, Transaction, DefaultFieldNames)
	var ev Event
	err := d.Decode([]byte(`{"event_id":"e","customer_id":"c","event_time":0}`), &ev)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "INPUT_ENCODING=json") {
		t.Errorf("err = %v", err)
	}
	if err := d.Decode([]byte{0xff, 0x01}, &ev); err == nil || strings.Contains(err.Error(), "INPUT_ENCODING") {
		t.Errorf("garbage: %v", err)
	}
}

// TestDecodeReusesEvent checks that a warm event decodes JSON without
// allocating, and that its strings do not alias the input bytes.
func TestDecodeReusesEvent(t *testing.T) {
	d, _ := NewDecoder(JSON, Transaction, DefaultFieldNames)
	in := []byte(`{"event_id":"e1","customer_id":"c1","event_time":"2026-01-02T03:04:05Z","channel":"web","n":7}`)
	var ev Event
	if err := d.Decode(in, &ev); err != nil {
		t.Fatal(err)
	}
	if raceEnabled {
		t.Log("allocation count not checked under the race detector (sync.Pool drops items)")
	} else if n := testing.AllocsPerRun(100, func() { _ = d.Decode(in, &ev) }); n > 0 {
		t.Errorf("%v allocations per decode", n)
	}
	for i := range in {
		in[i] = 'x'
	}
	if v, _ := ev.Field("channel"); ev.ID != "e1" || ev.Entity != "c1" || v.Str != "web" {
		t.Errorf("strings alias the input: %q %q %+v", ev.ID, ev.Entity, v)
	}
}

func TestCustomFieldNames(t *testing.T) {
	names := FieldNames{ID: "txn_id", Entity: "account", Time: "ts"}
	d, err := NewDecoder(JSON, Activity, names)
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := d.Decode([]byte(`{"txn_id":"t","account":"a","ts":5}`), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != "t" || ev.Entity != "a" || ev.Time.UnixMilli() != 5 || ev.Type != Activity {
		t.Fatalf("got %+v", ev)
	}
	if _, err := NewDecoder(Avro, Activity, names); err == nil {
		t.Fatal("avro decoder accepted field names its schema lacks")
	}
}

func sampleEvent() *Event {
	return &Event{Fields: []Field{
		{"event_id", StringValue("e-1")},
		{"customer_id", StringValue("c-9")},
		{"event_time", NumberValue(1767323045678)},
		{"amount", NumberValue(99.5)},
		{"channel", StringValue("web")},
		{"card_present", BoolValue(true)},
	}}
}

func TestEventRoundTrip(t *testing.T) {
	for _, enc := range []Encoding{Avro, JSON} {
		t.Run(string(enc), func(t *testing.T) {
			e, err := NewEventEncoder(enc, Transaction, DefaultFieldNames)
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.Append(nil, sampleEvent())
			if err != nil {
				t.Fatal(err)
			}
			d, _ := NewDecoder(enc, Transaction, DefaultFieldNames)
			var ev Event
			if err := d.Decode(b, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.ID != "e-1" || ev.Entity != "c-9" || ev.Time.UnixMilli() != 1767323045678 {
				t.Errorf("identity %+v", ev)
			}
			for _, f := range sampleEvent().Fields {
				if got, _ := ev.Field(f.Name); got != f.Value {
					t.Errorf("%s = %+v, want %+v", f.Name, got, f.Value)
				}
			}
			if enc == Avro { // absent optional fields decode as null
				if v, ok := ev.Field("country"); !ok || v.Kind != Null {
					t.Errorf("country = %+v %v", v, ok)
				}
			}
		})
	}
}

func TestAvroRejectsTruncatedAndTrailing(t *testing.T) {
	e, _ := NewEventEncoder(Avro, Transaction, DefaultFieldNames)
	b, err := e.Append(nil, sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDecoder(Avro, Transaction, DefaultFieldNames)
	var ev Event
	for _, in := range [][]byte{b[:len(b)-3], append(append([]byte{}, b...), 0, 1), {0xff, 0xff, 0xff}, nil} {
		if err := d.Decode(in, &ev); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(% x) err = %v, want ErrMalformed", in, err)
		}
	}
}

func TestPredictionRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	in := Prediction{EventID: "e", EntityID: "c", EventType: "transaction", Score: 0.25, Label: 0,
		RiskSegment: "Low", ModelName: "m", ModelVersion: "v1", EventTime: Millis(now), ScoredAt: Millis(now),
		Source: Source{Topic: "t", Partition: 3, Offset: 99}, Scores: []float64{0.25, 0.7, 0.05}}
	for _, enc := range []Encoding{Avro, JSON} {
		t.Run(string(enc), func(t *testing.T) {
			e, _ := NewPredictionEncoder(enc)
			d, _ := NewPredictionDecoder(enc)
			b, err := e.Append(nil, &in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := d.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			want := in
			want.EventTime = Millis(now.Truncate(time.Millisecond))
			want.ScoredAt = want.EventTime
			if !time.Time(out.EventTime).Equal(time.Time(want.EventTime)) || out.Source != want.Source ||
				out.Score != want.Score || len(out.Scores) != 3 || out.Scores[1] != 0.7 || out.ModelVersion != "v1" {
				t.Errorf("round trip: got %+v, want %+v", out, want)
			}
		})
	}
	b, _ := jsonPrediction{}.Append(nil, &in)
	if want := `"event_time":"2026-11-27T10:00:00.123Z"`; !strings.Contains(string(b), want) {
		t.Errorf("json %s lacks %s", b, want)
	}
}

// flakyDecoder is unavailable for its first n calls.
type flakyDecoder struct{ n int }

func (d *flakyDecoder) Decode(value []byte, ev *Event) error {
	if d.n > 0 {
		d.n--
		return fmt.Errorf("schema id 1: %w: 503", ErrUnavailable)
	}
	ev.ID, ev.Entity = "e", "c"
	return nil
}

func TestDecodeWaiting(t *testing.T) {
	waits := 0
	var ev Event
	if err := DecodeWaiting(context.Background(), &flakyDecoder{n: 2}, nil, &ev, func(error) { waits++ }); err != nil || waits != 2 || ev.ID != "e" {
		t.Fatalf("err %v after %d waits, event %+v", err, waits, ev)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := DecodeWaiting(ctx, &flakyDecoder{n: 1 << 30}, nil, &ev, func(error) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting: %v", err)
	}
	d, _ := NewDecoder(JSON, Transaction, DefaultFieldNames)
	if err := DecodeWaiting(context.Background(), d, []byte("garbage"), &ev, func(error) { t.Fatal("waited on a malformed record") }); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed: %v", err)
	}
}

package schemas

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// Decoders never panic: any bytes become an event or an error wrapping
// ErrMalformed or ErrIdentity (a dead letter with a reason).
func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{
		`{"event_id":"e","customer_id":"c","event_time":"2026-01-02T03:04:05Z","amount":1.5}`,
		`{"event_id":1,"customer_id":2,"event_time":0,"x":[1,{"a":null}],"y":1e999}`,
		`{"event_id":"e"`, `[]`, `null`, "\xff\xfe", `{"event_id":"","customer_id":"c","event_time":-1e300}`,
	} {
		f.Add([]byte(s))
	}
	d, _ := NewDecoder(JSON, Transaction, DefaultFieldNames)
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Event
		err := d.Decode(b, &ev)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrIdentity) {
			t.Fatalf("error %v wraps neither sentinel", err)
		}
		if err == nil && (ev.ID == "" || ev.Entity == "") {
			t.Fatalf("accepted an event without identity: %+v", ev)
		}
	})
}

func FuzzAvroDecode(f *testing.F) {
	e, _ := NewEventEncoder(Avro, Transaction, DefaultFieldNames)
	good, _ := e.Append(nil, sampleEvent())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x02, 'e', 0x02, 'c', 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	d, _ := NewDecoder(Avro, Transaction, DefaultFieldNames)
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Event
		err := d.Decode(b, &ev)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrIdentity) {
			t.Fatalf("error %v wraps neither sentinel", err)
		}
	})
}

// FuzzConfluentDecode: registry-framed Avro (magic byte, schema id, body)
// against franz-go's in-memory registry holding the local schema (id 1)
// and an evolved writer schema (id 2). Any bytes become an event or an
// error wrapping a sentinel (ErrSchema for an unknown id, ErrUnavailable
// past the paced lookups of unknown ids); truncated
// bodies included.
func FuzzConfluentDecode(f *testing.F) {
	fake := srfake.New()
	defer fake.Close()
	reg, err := NewRegistry(fake.URL(), "", "")
	if err != nil {
		f.Fatal(err)
	}
	var ids []int
	for i, s := range []string{TransactionSchema, writerEvolved} {
		id, _, err := fake.RegisterSchema(fmt.Sprintf("transactions-value-%d", i), sr.Schema{Schema: s, Type: sr.TypeAvro})
		if err != nil {
			f.Fatal(err)
		}
		ids = append(ids, id)
	}
	dec, err := NewConfluentDecoder(Transaction, DefaultFieldNames, reg)
	if err != nil {
		f.Fatal(err)
	}
	e, _ := NewEventEncoder(Avro, Transaction, DefaultFieldNames)
	body, _ := e.Append(nil, sampleEvent())
	var h sr.ConfluentHeader
	for _, id := range append(ids, 99) { // 99: unknown
		framed, _ := h.AppendEncode(nil, id, nil)
		f.Add(append(framed, body...))
		f.Add(append(framed, body[:len(body)/2]...))
	}
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Event
		err := dec.Decode(b, &ev)
		// ErrUnavailable: the fuzzer's many unknown ids exceed the paced
		// lookups (lookupRate), and the record would wait, as documented.
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrIdentity) && !errors.Is(err, ErrSchema) && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if err == nil && (ev.ID == "" || ev.Entity == "") {
			t.Fatalf("accepted an event without identity: %+v", ev)
		}
	})
}

package schemas

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors of the decoders; a decode error wraps one of them.
var (
	// ErrMalformed means the value bytes are not a record of the encoding
	// (garbage, truncated Avro, invalid JSON, not an object).
	ErrMalformed = errors.New("malformed record")
	// ErrIdentity means the record decoded but lacks a usable event id,
	// entity or event time.
	ErrIdentity = errors.New("record has no usable identity")
	// ErrUnavailable means the record could not be decoded now because a
	// service it needs (the schema registry) did not answer: the record is
	// not at fault, and decoding it again later may succeed. Callers retry
	// instead of dead-lettering it.
	ErrUnavailable = errors.New("schema registry unavailable")
)

// FieldNames are the names of the id, entity and time fields of the input
// events (EVENT_ID_FIELD, ENTITY_FIELD, EVENT_TIME_FIELD).
type FieldNames struct {
	ID     string
	Entity string
	Time   string
}

// DefaultFieldNames are the names used by the embedded schemas.
var DefaultFieldNames = FieldNames{ID: "event_id", Entity: "customer_id", Time: "event_time"}

// Decoder turns a Kafka record value into an Event.
//
// Decode resets ev, fills it and returns nil, or returns an error wrapping
// ErrMalformed, ErrIdentity or ErrSchema that says what is wrong (the
// record is a dead letter), or ErrUnavailable (try again later); ev is then
// undefined.
// Strings in ev never alias value, so value may be reused after Decode
// returns. Implementations are safe for concurrent use.
type Decoder interface {
	Decode(value []byte, ev *Event) error
}

// FieldSet is the set of event fields a decoder keeps (besides the
// identity fields, which it always keeps): the fields the feature plans
// read. Decoders skip every other field without converting it. The set
// only grows: Add makes a new generation that keeps more, and every event
// records the generation it was decoded with (Event.KeptGen), so a caller
// whose plan needs a field added later can tell that an event must be
// decoded again. A nil FieldSet, or one that was never given a name, keeps
// every field (generation 0). Safe for concurrent use.
type FieldSet struct {
	mu  sync.Mutex // serialises Add
	cur atomic.Pointer[fieldSnapshot]
}

type fieldSnapshot struct {
	gen   uint64
	names map[string]struct{}
}

// NewFieldSet returns a set of the named fields; with no names it keeps
// every field.
func NewFieldSet(names ...string) *FieldSet {
	s := new(FieldSet)
	s.Add(names...)
	return s
}

// Add makes the set keep the named fields too and returns the generation
// that keeps them all (the current one when nothing was new).
func (s *FieldSet) Add(names ...string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	if len(names) == 0 && old == nil {
		return 0
	}
	var gen uint64
	m := map[string]struct{}{}
	if old != nil {
		gen = old.gen
		for n := range old.names {
			m[n] = struct{}{}
		}
	}
	grew := old == nil
	for _, n := range names {
		if _, ok := m[n]; !ok {
			m[n] = struct{}{}
			grew = true
		}
	}
	if !grew {
		return gen
	}
	s.cur.Store(&fieldSnapshot{gen: gen + 1, names: m})
	return gen + 1
}

// Covers returns the generation from which the set keeps every named
// field, and false when it does not keep them yet.
func (s *FieldSet) Covers(names ...string) (uint64, bool) {
	if s == nil {
		return 0, true
	}
	snap := s.cur.Load()
	if snap == nil {
		return 0, true
	}
	for _, n := range names {
		if _, ok := snap.names[n]; !ok {
			return 0, false
		}
	}
	return snap.gen, true
}

// snapshot is the current generation, nil when every field is kept.
func (s *FieldSet) snapshot() *fieldSnapshot {
	if s == nil {
		return nil
	}
	return s.cur.Load()
}

// keeps reports whether snap keeps a field.
func (snap *fieldSnapshot) keeps(name string, ids FieldNames) bool {
	if snap == nil {
		return true
	}
	if _, ok := snap.names[name]; ok {
		return true
	}
	return name == ids.ID || name == ids.Entity || name == ids.Time
}

func (snap *fieldSnapshot) generation() uint64 {
	if snap == nil {
		return 0
	}
	return snap.gen
}

// DecoderOption adjusts a decoder.
type DecoderOption func(*decoderOptions)

type decoderOptions struct{ fields *FieldSet }

// KeepFields makes the decoder keep only the fields of s (and the identity
// fields).
func KeepFields(s *FieldSet) DecoderOption { return func(o *decoderOptions) { o.fields = s } }

// NewDecoder returns the decoder of an encoding for one event kind.
func NewDecoder(enc Encoding, t EventType, names FieldNames, opts ...DecoderOption) (Decoder, error) {
	if names.ID == "" || names.Entity == "" || names.Time == "" {
		return nil, fmt.Errorf("id, entity and time field names must all be set: %+v", names)
	}
	var o decoderOptions
	for _, opt := range opts {
		opt(&o)
	}
	switch enc {
	case JSON:
		return jsonDecoder{t: t, names: names, fields: o.fields}, nil
	case Avro:
		return newAvroDecoder(t, names, o.fields)
	case AvroConfluent:
		return nil, fmt.Errorf("encoding %q needs a schema registry: use NewConfluentDecoder", enc)
	}
	return nil, fmt.Errorf("no decoder for encoding %q", enc)
}

// finish takes the identity fields out of a filled event.
func finish(ev *Event, t EventType, names FieldNames) error {
	ev.Type = t
	v, ok := ev.Field(names.ID)
	if ev.ID, ok = ev.idString(v); !ok {
		return fmt.Errorf("%w: event id field %q is %s", ErrIdentity, names.ID, describe(v, ok))
	}
	v, ok = ev.Field(names.Entity)
	if ev.Entity, ok = ev.idString(v); !ok {
		return fmt.Errorf("%w: entity field %q is %s", ErrIdentity, names.Entity, describe(v, ok))
	}
	v, ok = ev.Field(names.Time)
	if ev.Time, ok = TimeOf(v); !ok {
		return fmt.Errorf("%w: event time field %q is %s", ErrIdentity, names.Time, describe(v, ok))
	}
	// Normalise the time field to epoch milliseconds so that features
	// derived from it do not depend on the encoding.
	ev.set(names.Time, NumberValue(float64(ev.Time.UnixMilli())))
	return nil
}

// describe says what an unusable identity value was, for error messages.
func describe(v Value, present bool) string {
	switch {
	case !present && v.Kind == Null:
		return "absent or empty"
	case v.Kind == String:
		return fmt.Sprintf("not usable (%q)", v.Str)
	case v.Kind == Number:
		return fmt.Sprintf("not usable (%v)", v.Num)
	}
	return "not usable (" + v.Kind.String() + ")"
}

// DecodeWaiting decodes value with dec, waiting out ErrUnavailable: it
// calls onWait with the error, sleeps (100 ms, doubling to 5 s) and tries
// again, until the decoder gives another verdict or ctx ends (its error is
// returned). A record is never dead-lettered because a service it needs
// was down.
func DecodeWaiting(ctx context.Context, dec Decoder, value []byte, ev *Event, onWait func(error)) error {
	backoff := 100 * time.Millisecond
	for {
		err := dec.Decode(value, ev)
		if !errors.Is(err, ErrUnavailable) {
			return err
		}
		onWait(err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

package schemas

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// ErrSchema means a framed record names a schema id the registry does not
// know, or whose schema cannot be resolved against the local reader schema.
var ErrSchema = errors.New("unusable writer schema")

// NewRegistry returns a Confluent Schema Registry client (franz-go's
// pkg/sr), with basic auth when user is set.
func NewRegistry(url, user, pass string) (*sr.Client, error) {
	opts := []sr.ClientOpt{sr.URLs(url)}
	if user != "" {
		opts = append(opts, sr.BasicAuth(user, pass))
	}
	return sr.NewClient(opts...)
}

// confluentDecoder reads the Confluent wire format (magic byte 0, 4-byte
// big-endian schema id, Avro body). The writer schema is fetched by id and
// cached; it is resolved against the local reader schema once per id:
// every reader field without a default must be in the writer schema, with
// the same type or one Avro promotes (int → long → float → double, string ↔
// bytes). Fields the writer lacks read as null (the reader's defaults);
// fields the reader lacks are kept, so features may use them.
type confluentDecoder struct {
	t      EventType
	names  FieldNames
	fields *FieldSet
	reg    *sr.Client
	reader []avroField
	header sr.ConfluentHeader

	mu     sync.RWMutex
	cache  map[int]*writerCodec
	tokens float64   // lookups of ids not in the cache allowed now (see lookupRate)
	refill time.Time // when tokens were last topped up
}

// The schema cache holds at most maxCachedSchemas ids; lookups of ids not
// in it are limited to lookupRate per second (bursts of lookupBurst), so
// that a topic full of ids the registry does not know (another encoding
// misread as avro-confluent, garbage) cannot send one registry request per
// record: past the limit a record waits (ErrUnavailable) as it does for a
// registry that does not answer. A lookup gives up after lookupTimeout.
const (
	maxCachedSchemas = 1024
	lookupRate       = 10.0
	lookupBurst      = 20.0
	lookupTimeout    = 5 * time.Second
)

// errThrottled is the reason of a record whose schema id is looked up too
// late: too many unknown ids were looked up just before.
var errThrottled = errors.New("too many schema ids not seen before were looked up in the last seconds; lookups are paced")

// allowLookup takes one lookup token. Called with d.mu held.
func (d *confluentDecoder) allowLookup(now time.Time) bool {
	if d.refill.IsZero() {
		d.tokens, d.refill = lookupBurst, now
	}
	d.tokens = min(lookupBurst, d.tokens+now.Sub(d.refill).Seconds()*lookupRate)
	d.refill = now
	if d.tokens < 1 {
		return false
	}
	d.tokens--
	return true
}

// store caches a verdict, evicting another id when the cache is full
// (expired errors first).
func (d *confluentDecoder) store(id int, wc *writerCodec) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cache[id]; !ok && len(d.cache) >= maxCachedSchemas {
		victim, now := -1, time.Now()
		for k, v := range d.cache {
			if victim < 0 || v.err != nil && now.After(v.expires) {
				victim = k
				if v.err != nil && now.After(v.expires) {
					break
				}
			}
		}
		delete(d.cache, victim)
	}
	d.cache[id] = wc
}

type writerCodec struct {
	codec   *goavro.Codec
	err     error
	expires time.Time // errors are retried after a while
}

// NewConfluentDecoder returns the avro-confluent decoder of an event kind.
func NewConfluentDecoder(t EventType, names FieldNames, reg *sr.Client, opts ...DecoderOption) (Decoder, error) {
	var o decoderOptions
	for _, opt := range opts {
		opt(&o)
	}
	local, err := newAvroDecoder(t, names, nil) // checks the identity fields exist
	if err != nil {
		return nil, err
	}
	reader, err := recordFields(local.codec)
	if err != nil {
		return nil, err
	}
	return &confluentDecoder{t: t, names: names, fields: o.fields, reg: reg, reader: reader, cache: map[int]*writerCodec{}}, nil
}

func (d *confluentDecoder) Decode(value []byte, ev *Event) error {
	ev.Reset()
	id, body, err := d.header.DecodeID(value)
	if err != nil {
		return fmt.Errorf("%w: not in the Confluent wire format: %v", ErrMalformed, err)
	}
	wc := d.writer(id)
	if wc.err != nil {
		if errors.Is(wc.err, ErrUnavailable) {
			return fmt.Errorf("schema id %d: %w", id, wc.err)
		}
		return fmt.Errorf("%w: schema id %d: %v", ErrSchema, id, wc.err)
	}
	native, rest, err := wc.codec.NativeFromBinary(body)
	if err != nil {
		return fmt.Errorf("%w: avro (schema id %d): %v", ErrMalformed, id, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: avro (schema id %d): %d trailing bytes", ErrMalformed, id, len(rest))
	}
	rec, ok := native.(map[string]any)
	if !ok {
		return fmt.Errorf("%w: avro (schema id %d): not a record", ErrMalformed, id)
	}
	appendAvroFields(ev, rec, d.fields, d.names)
	return finish(ev, d.t, d.names)
}

func (d *confluentDecoder) writer(id int) *writerCodec {
	d.mu.RLock()
	wc := d.cache[id]
	d.mu.RUnlock()
	if wc != nil && (wc.err == nil || time.Now().Before(wc.expires)) {
		return wc
	}
	d.mu.Lock()
	ok := d.allowLookup(time.Now())
	d.mu.Unlock()
	if !ok {
		return &writerCodec{err: fmt.Errorf("%w: %v", ErrUnavailable, errThrottled)}
	}
	wc = &writerCodec{}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	s, err := d.reg.SchemaByID(ctx, id)
	switch {
	case err != nil && registryUnavailable(err):
		return &writerCodec{err: fmt.Errorf("%w: %v", ErrUnavailable, err)} // not cached: asked again next time
	case err != nil:
		wc.err = fmt.Errorf("registry: %w", err)
	case s.Type != sr.TypeAvro:
		wc.err = fmt.Errorf("a %s schema, not Avro", s.Type)
	default:
		if wc.codec, wc.err = registryCodec(s.Schema); wc.err == nil {
			wc.err = d.resolve(wc.codec)
		}
	}
	if wc.err != nil {
		wc.codec, wc.expires = nil, time.Now().Add(30*time.Second)
	}
	d.store(id, wc)
	return wc
}

// registryCodec compiles a writer schema from the registry, refusing one
// with arrays or maps of items that take no bytes (zeroSizeItems).
func registryCodec(schema string) (*goavro.Codec, error) {
	c, err := goavro.NewCodec(schema)
	if err != nil {
		return nil, fmt.Errorf("not a valid Avro schema: %w", err)
	}
	if err := zeroSizeItems(schema); err != nil {
		return nil, err
	}
	return c, nil
}

// registryUnavailable tells a registry that did not answer (no connection,
// a timeout, 5xx, 429) or refused the credentials from one that answered
// that the schema does not exist or is invalid: only the latter is the
// record's fault.
func registryUnavailable(err error) bool {
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		return true // transport error, timeout
	}
	switch {
	case re.StatusCode >= 500, re.StatusCode == 401, re.StatusCode == 403, re.StatusCode == 408, re.StatusCode == 429:
		return true
	}
	return false
}

// resolve checks that records of the writer schema can be read as the
// reader (local) schema.
func (d *confluentDecoder) resolve(writer *goavro.Codec) error {
	wf, err := recordFields(writer)
	if err != nil {
		return err
	}
	byName := map[string]avroField{}
	for _, f := range wf {
		byName[f.name] = f
	}
	for _, rf := range d.reader {
		w, ok := byName[rf.name]
		if !ok {
			if rf.nullable { // the reader's default (null) applies
				continue
			}
			return fmt.Errorf("cannot be resolved against the local %s schema: it lacks field %q, which has no default", d.t, rf.name)
		}
		if !promotes(w.typ, rf.typ) {
			return fmt.Errorf("cannot be resolved against the local %s schema: field %q is %s, want %s", d.t, rf.name, typeName(w.typ), rf.typ)
		}
	}
	return nil
}

func typeName(t string) string {
	if t == "" {
		return "a complex type"
	}
	return t
}

// promotes reports whether Avro resolves writer type w as reader type r.
func promotes(w, r string) bool {
	if w == r {
		return true
	}
	switch w {
	case "int":
		return r == "long" || r == "float" || r == "double"
	case "long", "timestamp-millis":
		return r == "float" || r == "double" || r == "long" || r == "timestamp-millis"
	case "float":
		return r == "double"
	case "string":
		return r == "bytes"
	case "bytes":
		return r == "string"
	}
	return false
}

// confluentPrediction writes predictions in the Confluent wire format with
// the id the registry gave prediction.avsc.
type confluentPrediction struct {
	avroPrediction
	id     int
	header sr.ConfluentHeader
}

// NewConfluentPredictionEncoder registers prediction.avsc under each
// subject (normally "<topic>-value") and returns an encoder that frames
// records with the id of the first. A registry that refuses the schema
// (for example as incompatible with the subject's earlier versions) is an
// error: the service must not start.
func NewConfluentPredictionEncoder(ctx context.Context, reg *sr.Client, subjects ...string) (PredictionEncoder, error) {
	c, err := goavro.NewCodec(PredictionSchema)
	if err != nil {
		return nil, err
	}
	e := &confluentPrediction{avroPrediction: avroPrediction{c}, id: -1}
	for _, subj := range subjects {
		id, err := reg.RegisterSchema(ctx, subj, sr.Schema{Schema: PredictionSchema, Type: sr.TypeAvro}, -1, -1)
		if err != nil {
			return nil, fmt.Errorf("register the prediction schema under subject %q: %w", subj, err)
		}
		if e.id < 0 {
			e.id = id
		}
	}
	if e.id < 0 {
		return nil, errors.New("no subject to register the prediction schema under")
	}
	return e, nil
}

func (e *confluentPrediction) Append(dst []byte, p *Prediction) ([]byte, error) {
	dst, err := e.header.AppendEncode(dst, e.id, nil)
	if err != nil {
		return dst, err
	}
	return e.avroPrediction.Append(dst, p)
}

// NewConfluentPredictionDecoder reads predictions framed with any id whose
// schema the registry knows (tests, tools).
func NewConfluentPredictionDecoder(reg *sr.Client) PredictionDecoder {
	return &confluentPredictionDecoder{reg: reg, codecs: map[int]avroPrediction{}}
}

type confluentPredictionDecoder struct {
	reg    *sr.Client
	header sr.ConfluentHeader
	mu     sync.Mutex
	codecs map[int]avroPrediction
}

func (d *confluentPredictionDecoder) Decode(value []byte) (Prediction, error) {
	id, body, err := d.header.DecodeID(value)
	if err != nil {
		return Prediction{}, err
	}
	d.mu.Lock()
	c, ok := d.codecs[id]
	d.mu.Unlock()
	if !ok {
		s, err := d.reg.SchemaByID(context.Background(), id)
		if err != nil {
			return Prediction{}, err
		}
		codec, err := registryCodec(s.Schema)
		if err != nil {
			return Prediction{}, fmt.Errorf("schema id %d: %w", id, err)
		}
		c = avroPrediction{codec}
		d.mu.Lock()
		d.codecs[id] = c
		d.mu.Unlock()
	}
	return c.Decode(body)
}

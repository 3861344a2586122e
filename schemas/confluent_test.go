package schemas

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// srfake is franz-go's in-memory Confluent Schema Registry (a test double
// implementing the REST API subset its client uses).
func registry(t *testing.T) (*srfake.Registry, *sr.Client) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cl, err := NewRegistry(fake.URL(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return fake, cl
}

const (
	writerSame = TransactionSchemaPlaceholder
	// adds an optional field, drops several defaulted ones, promotes amount int -> double
	writerEvolved = `{"type":"record","name":"Transaction","namespace":"io.streamscore.events","fields":[
		{"name":"event_id","type":"string"},{"name":"customer_id","type":"string"},
		{"name":"event_time","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"amount","type":"int"},{"name":"channel","type":["null","string"],"default":null},
		{"name":"promo_code","type":["null","string"],"default":null}]}`
	writerNoCustomer = `{"type":"record","name":"Transaction","fields":[
		{"name":"event_id","type":"string"},{"name":"event_time","type":"long"}]}`
	// bytes where the reader has strings: Avro promotes bytes to string
	writerBytes = `{"type":"record","name":"Transaction","fields":[
		{"name":"event_id","type":"string"},{"name":"customer_id","type":"bytes"},
		{"name":"event_time","type":"long"},{"name":"channel","type":["null","bytes"],"default":null}]}`
	// an added array whose items take no bytes: blocks of 2^20 of them cost
	// 4 bytes each (a 43-byte record allocated 715 MB)
	writerNullArray = `{"type":"record","name":"Transaction","fields":[
		{"name":"event_id","type":"string"},{"name":"customer_id","type":"string"},{"name":"event_time","type":"long"},
		{"name":"h","type":{"type":"array","items":"null"}}]}`
	writerBadType = `{"type":"record","name":"Transaction","fields":[
		{"name":"event_id","type":"string"},{"name":"customer_id","type":"string"},{"name":"event_time","type":"long"},
		{"name":"amount","type":"string"}]}`
)

// TransactionSchemaPlaceholder marks "the local schema itself".
const TransactionSchemaPlaceholder = ""

func frame(t *testing.T, id int, schema string, rec map[string]any) []byte {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	var h sr.ConfluentHeader
	b, _ := h.AppendEncode(nil, id, nil)
	b, err = c.BinaryFromNative(b, rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConfluentDecoderResolvesWriterSchemas(t *testing.T) {
	fake, cl := registry(t)
	dec, err := NewConfluentDecoder(Transaction, DefaultFieldNames, cl)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.UnixMilli(1795787100000).UTC()
	register := func(schema string) int {
		if schema == "" {
			schema = TransactionSchema
		}
		id, _, err := fake.RegisterSchema("transactions-value-"+time.Now().Format("150405.000000000"), sr.Schema{Schema: schema, Type: sr.TypeAvro})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	same := register(writerSame)
	evolved := register(writerEvolved)
	noCustomer := register(writerNoCustomer)
	badType := register(writerBadType)
	asBytes := register(writerBytes)
	nullArray := register(writerNullArray)
	tests := []struct {
		name    string
		value   []byte
		wantErr error
		check   func(*Event)
	}{
		{"the local schema", frame(t, same, TransactionSchema, map[string]any{"event_id": "e1", "customer_id": "c1", "event_time": ts,
			"amount": goavro.Union("double", 12.5), "currency": nil, "merchant": nil, "merchant_category": nil, "country": nil,
			"channel": goavro.Union("string", "web"), "card_present": nil}), nil,
			func(ev *Event) {
				if v, _ := ev.Field("amount"); v.Num != 12.5 || ev.Entity != "c1" {
					t.Errorf("event %+v", ev)
				}
			}},
		{"added field, dropped fields, int promoted", frame(t, evolved, writerEvolved, map[string]any{"event_id": "e2", "customer_id": "c2",
			"event_time": ts, "amount": int32(40), "channel": nil, "promo_code": goavro.Union("string", "BF26")}), nil,
			func(ev *Event) {
				if v, _ := ev.Field("amount"); v != NumberValue(40) {
					t.Errorf("amount %+v", v)
				}
				if v, _ := ev.Field("merchant"); v.Kind != Null {
					t.Errorf("a field the writer dropped is %+v, want null", v)
				}
				if v, _ := ev.Field("promo_code"); v.Str != "BF26" {
					t.Errorf("a field the writer added is %+v", v)
				}
			}},
		{"bytes promoted to string", frame(t, asBytes, writerBytes, map[string]any{"event_id": "e6", "customer_id": []byte("c6"),
			"event_time": int64(1), "channel": goavro.Union("bytes", []byte("web"))}), nil,
			func(ev *Event) {
				if v, _ := ev.Field("channel"); ev.Entity != "c6" || v != StringValue("web") {
					t.Errorf("entity %q, channel %+v, want c6 and the string web", ev.Entity, v)
				}
			}},
		{"writer lacks a required field", frame(t, noCustomer, writerNoCustomer, map[string]any{"event_id": "e3", "event_time": int64(1)}), ErrSchema,
			nil},
		{"incompatible type", frame(t, badType, writerBadType, map[string]any{"event_id": "e4", "customer_id": "c", "event_time": int64(1), "amount": "12"}),
			ErrSchema, nil},
		{"array of items without bytes", frame(t, nullArray, writerNullArray, map[string]any{"event_id": "e7", "customer_id": "c", "event_time": int64(1),
			"h": []any{nil, nil}}), ErrSchema, nil},
		{"unknown schema id", frame(t, 999, writerNoCustomer, map[string]any{"event_id": "e5", "event_time": int64(1)}), ErrSchema, nil},
		{"not framed", []byte("plain bytes"), ErrMalformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			err := dec.Decode(tt.value, &ev)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == ErrSchema && !strings.Contains(err.Error(), "schema id") {
				t.Errorf("reason does not name the schema id: %v", err)
			}
			if tt.check != nil {
				tt.check(&ev)
			}
		})
	}
	var ev Event
	err = dec.Decode(frame(t, noCustomer, writerNoCustomer, map[string]any{"event_id": "e3", "event_time": int64(1)}), &ev)
	if err == nil || !strings.Contains(err.Error(), `"customer_id"`) {
		t.Errorf("unresolvable reason %v does not name the field", err)
	}
}

func TestConfluentPredictions(t *testing.T) {
	fake, cl := registry(t)
	enc, err := NewConfluentPredictionEncoder(context.Background(), cl, "predictions-value", "takeover-value")
	if err != nil {
		t.Fatal(err)
	}
	if !fake.SubjectExists("predictions-value") || !fake.SubjectExists("takeover-value") {
		t.Fatal("prediction schema not registered under every subject")
	}
	p := Prediction{EventID: "e", EntityID: "c", EventType: "transaction", Score: 0.25, RiskSegment: "Low", ModelName: "m", ModelVersion: "v",
		EventTime: Millis(time.UnixMilli(5)), ScoredAt: Millis(time.UnixMilli(6)), Source: Source{Topic: "t", Partition: 1, Offset: 2}}
	b, err := enc.Append(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 {
		t.Fatalf("magic byte %d", b[0])
	}
	got, err := NewConfluentPredictionDecoder(cl).Decode(b)
	if err != nil || got.EventID != "e" || got.Score != 0.25 || got.Source.Offset != 2 {
		t.Fatalf("round trip %+v, %v", got, err)
	}
	// A registry that refuses the schema (as Confluent's does for an
	// incompatible change, with 409) stops the service from starting.
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "strict-value") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema"}`))
			return true
		}
		return false
	})
	_, err = NewConfluentPredictionEncoder(context.Background(), cl, "strict-value")
	if err == nil || !strings.Contains(err.Error(), "strict-value") || !strings.Contains(err.Error(), "incompatible") {
		t.Errorf("incompatible registration: %v", err)
	}
}

// TestConfluentDecoderRegistryUnavailable: a registry that answers 503 (or
// not at all) makes the record ErrUnavailable, not a dead letter, and the
// failure is not cached: once the registry answers, the same id decodes.
// An id the registry does not know stays ErrSchema.
func TestConfluentDecoderRegistryUnavailable(t *testing.T) {
	fake, cl := registry(t)
	dec, err := NewConfluentDecoder(Transaction, DefaultFieldNames, cl)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := fake.RegisterSchema("transactions-value", sr.Schema{Schema: writerEvolved, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	value := frame(t, id, writerEvolved, map[string]any{"event_id": "e1", "customer_id": "c1",
		"event_time": time.UnixMilli(1795787100000), "amount": 12, "channel": nil, "promo_code": nil})
	var down atomic.Bool
	down.Store(true)
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	var ev Event
	for i := 0; i < 2; i++ {
		if err := dec.Decode(value, &ev); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrSchema) {
			t.Fatalf("registry down, attempt %d: err = %v, want ErrUnavailable", i, err)
		}
	}
	down.Store(false)
	if err := dec.Decode(value, &ev); err != nil || ev.ID != "e1" {
		t.Fatalf("registry back: %v, %+v", err, ev)
	}
	unknown := frame(t, id+100, writerEvolved, map[string]any{"event_id": "e1", "customer_id": "c1",
		"event_time": time.UnixMilli(1795787100000), "amount": 12, "channel": nil, "promo_code": nil})
	if err := dec.Decode(unknown, &ev); !errors.Is(err, ErrSchema) {
		t.Fatalf("unknown id: %v, want ErrSchema", err)
	}
}

// TestConfluentDecoderPacesUnknownIDs: records with ever new schema ids
// (another encoding misread as avro-confluent) do not send one registry
// request per record: lookups of new ids are paced, the records beyond
// the pace wait (ErrUnavailable), and the cache stays bounded.
func TestConfluentDecoderPacesUnknownIDs(t *testing.T) {
	fake, cl := registry(t)
	var lookups atomic.Int64
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		lookups.Add(1)
		return false
	})
	d, err := NewConfluentDecoder(Transaction, DefaultFieldNames, cl)
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	schemaErrs, waits := 0, 0
	for id := 1; id <= 200; id++ {
		v := append([]byte{0, 0, 0, byte(id >> 8), byte(id)}, 2, 'x')
		switch err := d.Decode(v, &ev); {
		case errors.Is(err, ErrSchema):
			schemaErrs++
		case errors.Is(err, ErrUnavailable):
			waits++
		default:
			t.Fatalf("id %d: %v", id, err)
		}
	}
	if n := lookups.Load(); n > 25 || schemaErrs != int(n) || waits != 200-int(n) {
		t.Fatalf("%d registry lookups for 200 unknown ids (%d dead letters, %d waits), want at most the burst", n, schemaErrs, waits)
	}
	cd := d.(*confluentDecoder)
	for id := 0; id < 3*maxCachedSchemas; id++ {
		cd.store(id, &writerCodec{err: errThrottled})
	}
	if len(cd.cache) > maxCachedSchemas {
		t.Fatalf("cache holds %d ids", len(cd.cache))
	}
}

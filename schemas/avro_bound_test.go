package schemas

import (
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestAvroBlockCountBounded: a prediction whose class-probability array or
// features map declares more items than maxAvroBlockItems fails to decode
// before goavro allocates for them (it preallocates a block's declared
// count: a 50-byte value declaring 2^27 map entries allocated 10 GB before
// the bound), and one at the bound costs what the bound allows. Both the
// full decoder and the key decoder (the label rebuild's) go through it.
func TestAvroBlockCountBounded(t *testing.T) {
	penc, _ := NewPredictionEncoder(Avro)
	nulls, err := penc.Append(nil, &Prediction{EventID: "e", ModelName: "m", ModelVersion: "v",
		ScoredAt: Millis(time.UnixMilli(1_700_000_000_000)), Source: Source{Topic: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	head := nulls[:len(nulls)-3] // scores, features, reasons: each the null branch, one byte
	block := func(union []byte, count int64) []byte {
		v := append(append([]byte(nil), head...), union...)
		return binary.AppendVarint(v, count) // the block's item count; no items follow
	}
	full, _ := NewPredictionDecoder(Avro)
	kd, _ := NewPredictionKeyDecoder(Avro)
	decoders := map[string]func([]byte) error{
		"full": func(v []byte) error { _, err := full.Decode(v); return err },
		"key":  func(v []byte) error { var k PredictionKey; return kd.DecodeKey(v, &k) },
	}
	for _, tc := range []struct {
		name     string
		v        []byte
		maxBytes uint64 // allocated by one failing decode
		err      string
	}{
		{"scores past the bound", block([]byte{2}, 4*maxAvroBlockItems), 1 << 20, "exceeds MaxBlockCount"},
		{"features past the bound", block([]byte{0, 2}, 4*maxAvroBlockItems), 1 << 20, "exceeds MaxBlockCount"},
		{"features at the bound", block([]byte{0, 2}, maxAvroBlockItems), 256 << 20, "features"},
	} {
		for name, decode := range decoders {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				err := decode(tc.v)
				runtime.ReadMemStats(&after)
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("decode: %v, want an error naming %q", err, tc.err)
				}
				if got := after.TotalAlloc - before.TotalAlloc; got > tc.maxBytes {
					t.Errorf("one failing decode allocated %d bytes, want at most %d", got, tc.maxBytes)
				} else {
					t.Logf("one failing decode allocated %d bytes", got)
				}
			})
		}
	}
}

// TestZeroSizeItems: schemas whose arrays or maps hold items that take no
// bytes are named (blocks of them cost a few bytes whatever their count);
// every other shape, the local schemas among them, passes.
func TestZeroSizeItems(t *testing.T) {
	rec := func(fields string) string {
		return `{"type":"record","name":"R","namespace":"n","fields":[` + fields + `]}`
	}
	for _, tc := range []struct {
		name, schema, err string
	}{
		{"array of null", rec(`{"name":"h","type":{"type":"array","items":"null"}}`), `an array (field "h") whose items take no bytes`},
		{"map of null", rec(`{"name":"m","type":{"type":"map","values":"null"}}`), `a map (field "m") whose values take no bytes`},
		{"array of empty records", rec(`{"name":"a","type":{"type":"array","items":{"type":"record","name":"E","fields":[]}}}`), "whose items take no bytes"},
		{"array of records of nulls", rec(`{"name":"a","type":{"type":"array","items":{"type":"record","name":"E","fields":[{"name":"x","type":"null"}]}}}`), "whose items take no bytes"},
		{"array of fixed 0", rec(`{"name":"a","type":{"type":"array","items":{"type":"fixed","name":"F","size":0}}}`), "whose items take no bytes"},
		{"by reference", rec(`{"name":"e","type":{"type":"record","name":"E","fields":[]}},{"name":"a","type":{"type":"array","items":"n.E"}}`), `field "a"`},
		{"by short name", rec(`{"name":"e","type":{"type":"record","name":"E","fields":[]}},{"name":"a","type":{"type":"array","items":"E"}}`), `field "a"`},
		{"nested", rec(`{"name":"o","type":{"type":"record","name":"O","fields":[{"name":"i","type":["null",{"type":"array","items":"null"}]}]}}`), `field "o.i"`},
		// two records named E in two namespaces: the array's is not empty
		{"same short name elsewhere", `{"type":"record","name":"R","fields":[{"name":"x","type":{"type":"record","name":"b.E","fields":[{"name":"v","type":"long"}]}},` +
			`{"name":"e","type":{"type":"record","name":"a.E","fields":[]}},{"name":"arr","type":{"type":"array","items":"b.E"}}]}`, ""},
		{"nested in the enclosing namespace", rec(`{"name":"o","type":{"type":"record","name":"O","fields":[{"name":"e","type":{"type":"record","name":"E","fields":[]}}]}},{"name":"a","type":{"type":"array","items":"n.E"}}`), `field "a"`},
		{"array of unions with null", rec(`{"name":"a","type":{"type":"array","items":["null","long"]}}`), ""},
		{"array of longs", rec(`{"name":"a","type":{"type":"array","items":"long"}}`), ""},
		{"array of arrays of null", rec(`{"name":"a","type":{"type":"array","items":{"type":"array","items":"int"}}}`), ""},
		{"array of fixed 1", rec(`{"name":"a","type":{"type":"array","items":{"type":"fixed","name":"F","size":1}}}`), ""},
		{"array of enums", rec(`{"name":"a","type":{"type":"array","items":{"type":"enum","name":"S","symbols":["x"]}}}`), ""},
		{"recursive list", `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`, ""},
		{"the prediction schema", PredictionSchema, ""},
		{"the transaction schema", TransactionSchema, ""},
		{"the label schema", LabelSchema, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := zeroSizeItems(tc.schema)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one naming %q", err, tc.err)
			}
		})
	}
}

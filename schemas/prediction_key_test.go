package schemas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestPredictionKeyMatchesDecode: the key decoder reads the same event id,
// score, model, version, scoring time and source as the full decoder, for
// predictions with and without class probabilities, features and reasons,
// and ids that need escaping; it refuses what is not a prediction.
func TestPredictionKeyMatchesDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	ids := []string{"transaction-1", `quote"and\backslash`, "<tag>&amp;", "ünïcödé-€", "tab\there", ""}
	for _, enc := range []Encoding{JSON, Avro} {
		penc, _ := NewPredictionEncoder(enc)
		full, _ := NewPredictionDecoder(enc)
		kd, err := NewPredictionKeyDecoder(enc)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 300; i++ {
			at := time.UnixMilli(1_700_000_000_000 + rng.Int64N(1e10))
			p := Prediction{EventID: ids[i%len(ids)] + fmt.Sprint(i), EntityID: "c", EventType: "transaction", Score: rng.Float64(),
				Label: int32(i % 2), RiskSegment: "Low", ModelName: "m" + ids[i%3], ModelVersion: fmt.Sprintf("v%d", i%4),
				EventTime: Millis(at.Add(-time.Second)), ScoredAt: Millis(at),
				Source: Source{Topic: "transactions", Partition: int32(rng.IntN(64)), Offset: rng.Int64N(math.MaxInt64)}}
			if i%7 == 0 { // negative longs (zigzag): before 1970, an offset of -1
				p.ScoredAt, p.Source.Offset = Millis(time.UnixMilli(-86_400_000*365*10-int64(i))), -1
			}
			switch i % 4 {
			case 1:
				p.Scores = []float64{0.2, 0.8}
			case 2:
				p.Features = &FeatureVector{Names: []string{"amount", "hour"}, Values: []float64{42.5, math.NaN()}}
			case 3:
				p.Reasons = []Reason{{Feature: "amount", Value: 42.5, Contribution: -0.25}, {Feature: "hour", Value: math.NaN(), Contribution: 1e-9}}
				p.Score = 1e-9 // an exponent
			}
			v, err := penc.Append(nil, &p)
			if err != nil {
				t.Fatal(err)
			}
			want, err := full.Decode(v)
			if err != nil {
				t.Fatal(err)
			}
			var k PredictionKey
			if err := kd.DecodeKey(v, &k); err != nil {
				t.Fatalf("%s %d: %v\n%q", enc, i, err, v)
			}
			if string(k.EventID) != want.EventID || k.Score != want.Score || string(k.ModelName) != want.ModelName ||
				string(k.ModelVersion) != want.ModelVersion || k.ScoredAt != time.Time(want.ScoredAt).UnixMilli() ||
				string(k.SourceTopic) != want.Source.Topic || k.SourcePartition != want.Source.Partition || k.SourceOffset != want.Source.Offset {
				t.Errorf("%s %d: key %+v (id %q), decoded %+v", enc, i, k, k.EventID, want)
			}
			// cut short before the source's end: refused
			cut := len(v) - 1
			if enc == Avro { // the key ends with the source; what follows is not read
				bare := p
				bare.Scores, bare.Features, bare.Reasons = nil, nil, nil
				b, _ := penc.Append(nil, &bare)
				cut = len(b) - 4 // the three nulls (one byte each) follow the source: cut into its offset
			}
			if err := kd.DecodeKey(v[:cut], &k); err == nil {
				t.Errorf("%s %d: a value cut to %d of %d bytes decoded", enc, i, cut, len(v))
			}
		}
	}
	kd, _ := NewPredictionKeyDecoder(JSON)
	var k PredictionKey
	for _, bad := range []string{``, `not json`, `{}`, `[1]`, `{"event_id":"e","score":0.5}`,
		`{"event_id":"e","score":"0.5","model_name":"m","model_version":"v","scored_at":"2026-01-01T00:00:00.000Z","source":{"topic":"t","partition":0,"offset":1}}`,
		`{"event_id":"e","score":0.5,"model_name":"m","model_version":"v","scored_at":"yesterday","source":{"topic":"t","partition":0,"offset":1}}`,
		`{"event_id":"e","score":0.5,"model_name":"m","model_version":"v","scored_at":"2026-01-01T00:00:00.000Z","source":{"topic":"t","partition":0,"offset":1}} x`,
		`{"event_id":"e","score":NaN,"model_name":"m","model_version":"v","scored_at":"2026-01-01T00:00:00.000Z","source":{"topic":"t","partition":0,"offset":1}}`,
		`{"event_id":"e","score":0.5,"model_name":"m","model_version":"v","scored_at":"2026-01-01T00:00:00.000Z","source":{"topic":"t","partition":0.5,"offset":1}}`,
	} {
		if err := kd.DecodeKey([]byte(bad), &k); err == nil {
			t.Errorf("%q decoded as a prediction key: %+v", bad, k)
		}
	}
	if _, err := NewPredictionKeyDecoder(AvroConfluent); err == nil {
		t.Error("a key decoder for avro-confluent (the registry's schemas)")
	}
}

func BenchmarkPredictionKey(b *testing.B) {
	p := Prediction{EventID: "transaction-123456", EntityID: "c42", EventType: "transaction", Score: 0.123456789, Label: 0, RiskSegment: "Low",
		ModelName: "xgb_fraud", ModelVersion: "12acd727a5c5", EventTime: Millis(time.Now()), ScoredAt: Millis(time.Now()),
		Source: Source{Topic: "transactions", Partition: 3, Offset: 123456789}}
	for _, enc := range []Encoding{JSON, Avro} {
		penc, _ := NewPredictionEncoder(enc)
		v, _ := penc.Append(nil, &p)
		full, _ := NewPredictionDecoder(enc)
		kd, _ := NewPredictionKeyDecoder(enc)
		b.Run(string(enc)+"/key", func(b *testing.B) {
			var k PredictionKey
			b.ReportAllocs()
			for b.Loop() {
				if err := kd.DecodeKey(v, &k); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(enc)+"/full", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := full.Decode(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzPredictionKey: the key decoder never panics, and what it reads of a
// value the full decoder also reads is the same.
func FuzzPredictionKey(f *testing.F) {
	p := Prediction{EventID: "e1", EntityID: "c", Score: 0.25, ModelName: "m", ModelVersion: "v", ScoredAt: Millis(time.UnixMilli(1_700_000_000_000)),
		Source: Source{Topic: "t", Partition: 1, Offset: 2}, Scores: []float64{0.75, 0.25}}
	for _, enc := range []Encoding{JSON, Avro} {
		penc, _ := NewPredictionEncoder(enc)
		v, _ := penc.Append(nil, &p)
		f.Add(enc == Avro, v)
	}
	// A map block declaring 2^27 entries, which goavro allocated (10 GB)
	// before maxAvroBlockItems bounded it: the fuzzer's find.
	f.Add(true, []byte("\x0400\x020\x00\xf0\x00\xb0000000\x00\x020\x00\x00\x04\x00\a0\x00\x02\xff\xff\xff\x7f\xe6\x0400\x020\x0000000\x00\x05\xff\xff\x05/\ad0\xe2\xe2\xe2\xe2000000\x00"))
	decoders := map[bool][2]any{}
	for _, avro := range []bool{false, true} {
		enc := JSON
		if avro {
			enc = Avro
		}
		kd, _ := NewPredictionKeyDecoder(enc)
		full, _ := NewPredictionDecoder(enc)
		decoders[avro] = [2]any{kd, full}
	}
	f.Fuzz(func(t *testing.T, avro bool, v []byte) {
		d := decoders[avro]
		kd, full := d[0].(PredictionKeyDecoder), d[1].(PredictionDecoder)
		var k PredictionKey
		if kd.DecodeKey(v, &k) != nil {
			return
		}
		want, err := func() (pr Prediction, err error) {
			defer func() { // goavro's native form is asserted by the full decoder
				if recover() != nil {
					err = errKey
				}
			}()
			return full.Decode(v)
		}()
		if err != nil {
			return
		}
		if string(k.EventID) != want.EventID || (k.Score != want.Score && !(math.IsNaN(k.Score) && math.IsNaN(want.Score))) ||
			string(k.ModelName) != want.ModelName || string(k.ModelVersion) != want.ModelVersion ||
			string(k.SourceTopic) != want.Source.Topic || k.SourcePartition != want.Source.Partition || k.SourceOffset != want.Source.Offset {
			t.Errorf("key %+v, decoded %+v", k, want)
		}
	})
}

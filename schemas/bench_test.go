package schemas

import (
	"testing"
	"time"
)

func fullTransaction() *Event {
	return &Event{Fields: []Field{
		{"event_id", StringValue("tx-1a2b3c-123456")}, {"customer_id", StringValue("cust-004711")},
		{"event_time", NumberValue(1795787100000)}, {"amount", NumberValue(42.5)},
		{"currency", StringValue("EUR")}, {"merchant", StringValue("merch-0042")},
		{"merchant_category", StringValue("electronics")}, {"country", StringValue("NL")},
		{"channel", StringValue("web")}, {"card_present", BoolValue(false)},
	}}
}

func BenchmarkDecode(b *testing.B) {
	for _, enc := range []Encoding{Avro, JSON} {
		b.Run(string(enc), func(b *testing.B) {
			e, _ := NewEventEncoder(enc, Transaction, DefaultFieldNames)
			val, err := e.Append(nil, fullTransaction())
			if err != nil {
				b.Fatal(err)
			}
			d, _ := NewDecoder(enc, Transaction, DefaultFieldNames)
			var ev Event
			b.SetBytes(int64(len(val)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(val, &ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkEncodePrediction(b *testing.B) {
	now := time.Now()
	p := Prediction{EventID: "tx-1a2b3c-123456", EntityID: "cust-004711", EventType: "transaction", Score: 0.0123,
		RiskSegment: "Low", ModelName: "fraud", ModelVersion: "38f00222cd60", EventTime: Millis(now), ScoredAt: Millis(now),
		Source: Source{Topic: "transactions", Partition: 3, Offset: 123456}}
	for _, enc := range []Encoding{Avro, JSON} {
		b.Run(string(enc), func(b *testing.B) {
			e, _ := NewPredictionEncoder(enc)
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = e.Append(buf[:0], &p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

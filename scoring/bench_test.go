package scoring

import (
	"testing"

	"github.com/streamscore/streamscore/schemas"
)

func BenchmarkExtract(b *testing.B) {
	def := 0.0
	specs := []FeatureSpec{
		{Name: "amount"},
		{Name: "hour", From: "event_time", Transform: TransformHourOfDay},
		{Name: "card_present", Transform: TransformBool},
		{Name: "channel_web", From: "channel", Transform: TransformOneHot, Value: "web"},
		{Name: "cat_crypto", From: "merchant_category", Transform: TransformOneHot, Value: "crypto"},
		{Name: "log_amount", From: "amount", Transform: TransformLog1p},
		{Name: "n", Default: &def},
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	plan, err := Compile(names, specs)
	if err != nil {
		b.Fatal(err)
	}
	ev := event(f("event_id", schemas.StringValue("e")), f("customer_id", schemas.StringValue("c")),
		f("event_time", schemas.NumberValue(1795787100000)), f("amount", schemas.NumberValue(42.5)),
		f("currency", schemas.StringValue("EUR")), f("merchant", schemas.StringValue("m-1")),
		f("merchant_category", schemas.StringValue("crypto")), f("country", schemas.StringValue("NL")),
		f("channel", schemas.StringValue("web")), f("card_present", schemas.BoolValue(false)))
	row := make([]float32, plan.Len())
	b.ReportAllocs()
	for b.Loop() {
		if err := plan.Extract(ev, row); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

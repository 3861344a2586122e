package scoring

import (
	"errors"
	"testing"

	"github.com/streamscore/streamscore/schemas"
)

// Feature extraction never panics: any decoded JSON event gives a row or
// an error wrapping ErrFeature.
func FuzzExtract(f *testing.F) {
	f.Add([]byte(`{"amount":12.5,"event_time":1795787100000,"channel":"web","card_present":true}`))
	f.Add([]byte(`{"amount":"12","event_time":"noon","channel":3,"card_present":"yes"}`))
	f.Add([]byte(`{"amount":-1,"event_time":1e300,"channel":null}`))
	def := 1.0
	plan, err := Compile([]string{"amount", "hour", "dow", "is_web", "card", "log_amount", "n"}, []FeatureSpec{
		{Name: "amount"}, {Name: "hour", From: "event_time", Transform: TransformHourOfDay},
		{Name: "dow", From: "event_time", Transform: TransformDayOfWeek},
		{Name: "is_web", From: "channel", Transform: TransformOneHot, Value: "web"},
		{Name: "card", From: "card_present", Transform: TransformBool},
		{Name: "log_amount", From: "amount", Transform: TransformLog1p}, {Name: "n", Default: &def},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev schemas.Event
		if schemas.DecodeJSONFields(b, &ev) != nil {
			return
		}
		row := make([]float32, plan.Len())
		if err := plan.Extract(&ev, row); err != nil && !errors.Is(err, ErrFeature) {
			t.Fatalf("error %v does not wrap ErrFeature", err)
		}
		row64 := make([]float64, plan.Len())
		if err := plan.Extract64(&ev, row64); err != nil && !errors.Is(err, ErrFeature) {
			t.Fatalf("error %v does not wrap ErrFeature", err)
		}
	})
}

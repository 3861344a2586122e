package scoring

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/schemas"
)

func event(fields ...schemas.Field) *schemas.Event { return &schemas.Event{Fields: fields} }

func f(name string, v schemas.Value) schemas.Field { return schemas.Field{Name: name, Value: v} }

func TestParseFeatures(t *testing.T) {
	specs, err := ParseFeatures([]byte(`features:
  - amount
  - {name: hour, from: event_time, transform: hour_of_day}
  - {name: is_web, from: channel, transform: one_hot, value: web}
  - {name: n, default: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 4 || specs[0].Name != "amount" || specs[1].From != "event_time" || specs[2].Value != "web" ||
		specs[3].Default == nil || *specs[3].Default != 0 {
		t.Fatalf("specs = %+v", specs)
	}
	for _, bad := range []string{"features: []", "nope: 1", "features: [a, {name: b, transform: cube}]"} {
		s, err := ParseFeatures([]byte(bad))
		if err == nil {
			_, err = Compile([]string{"a", "b"}, s)
		}
		if err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCompileChecksTheModel(t *testing.T) {
	specs := []FeatureSpec{{Name: "a"}, {Name: "b"}}
	if _, err := Compile([]string{"a", "b", "c"}, specs); err == nil || !strings.Contains(err.Error(), "3 inputs") {
		t.Errorf("count mismatch: %v", err)
	}
	if _, err := Compile([]string{"a", "x"}, specs); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("name mismatch: %v", err)
	}
	if _, err := Compile([]string{"", ""}, specs); err != nil { // unnamed model inputs take the file's names
		t.Errorf("unnamed: %v", err)
	}
	if _, err := Compile([]string{"a"}, []FeatureSpec{{Name: "a", Transform: TransformOneHot}}); err == nil {
		t.Error("one_hot without value accepted")
	}
}

func TestExtract(t *testing.T) {
	def := 7.0
	specs := []FeatureSpec{
		{Name: "amount"},
		{Name: "hour", From: "event_time", Transform: TransformHourOfDay},
		{Name: "dow", From: "event_time", Transform: TransformDayOfWeek},
		{Name: "is_web", From: "channel", Transform: TransformOneHot, Value: "web"},
		{Name: "card", From: "card_present", Transform: TransformBool},
		{Name: "log_amount", From: "amount", Transform: TransformLog1p},
		{Name: "n", Default: &def},
	}
	plan, err := Compile([]string{"amount", "hour", "dow", "is_web", "card", "log_amount", "n"}, specs)
	if err != nil {
		t.Fatal(err)
	}
	// 2026-11-27 (a Friday) 13:45 UTC
	const ms = 1795787100000
	nan := float32(math.NaN())
	tests := []struct {
		name    string
		ev      *schemas.Event
		want    []float32
		wantErr string
	}{
		{"all present", event(f("amount", schemas.NumberValue(99)), f("event_time", schemas.NumberValue(ms)),
			f("channel", schemas.StringValue("web")), f("card_present", schemas.BoolValue(true)), f("n", schemas.NumberValue(2))),
			[]float32{99, 13, 4, 1, 1, float32(math.Log1p(99)), 2}, ""},
		{"absent and null are missing or default", event(f("amount", schemas.Value{}), f("channel", schemas.StringValue("pos"))),
			[]float32{nan, nan, nan, 0, nan, nan, 7}, ""},
		{"RFC 3339 time", event(f("event_time", schemas.StringValue("2026-11-27T13:45:00Z"))),
			[]float32{nan, 13, 4, nan, nan, nan, 7}, ""},
		{"text for a number", event(f("amount", schemas.StringValue("12"))), nil, `feature "amount"`},
		{"infinite", event(f("amount", schemas.NumberValue(math.Inf(1)))), nil, "non-finite"},
		{"beyond float32", event(f("amount", schemas.NumberValue(-1e39))), nil, "float32 range"},
		{"object", event(f("n", schemas.Value{Kind: schemas.Other})), nil, `feature "n"`},
		{"log1p domain", event(f("amount", schemas.NumberValue(-1))), nil, "log1p"},
		{"one_hot of a number", event(f("channel", schemas.NumberValue(1))), nil, "one_hot"},
		{"bool of a string", event(f("card_present", schemas.StringValue("yes"))), nil, "boolean"},
		{"bad time", event(f("event_time", schemas.StringValue("noon"))), nil, "time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := make([]float32, plan.Len())
			err := plan.Extract(tt.ev, row)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrFeature) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrFeature mentioning %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range row {
				if !(row[i] == tt.want[i] || row[i] != row[i] && tt.want[i] != tt.want[i]) {
					t.Errorf("%s = %v, want %v", plan.Names()[i], row[i], tt.want[i])
				}
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	p := DefaultPolicy
	tests := []struct {
		kind    OutputKind
		row     []float32
		score   float64
		label   int32
		segment string
	}{
		{Binary, []float32{0.5}, 0.5, 0, Medium}, // a tie goes to class 0
		{Binary, []float32{0.50000006}, float64(float32(0.50000006)), 1, Medium},
		{Binary, []float32{0.1}, float64(float32(0.1)), 0, Low},
		{Binary, []float32{0.6}, float64(float32(0.6)), 1, High},
		{Binary, []float32{0.3}, float64(float32(0.3)), 0, Medium},
		{MultiClass, []float32{0.2, 0.4, 0.4}, float64(float32(0.4)), 1, Medium},
		{Regression, []float32{12}, 12, 1, High},
	}
	for _, tt := range tests {
		d := p.Decide(tt.kind, tt.row)
		if d.Score != tt.score || d.Label != tt.label || d.Segment != tt.segment {
			t.Errorf("Decide(%v, %v) = %+v, want %v %v %v", tt.kind, tt.row, d, tt.score, tt.label, tt.segment)
		}
	}
	if err := (Policy{Threshold: 0.5, Bands: [2]float64{0.7, 0.2}}).Validate(); err == nil {
		t.Error("descending bands accepted")
	}
}

func TestCategory(t *testing.T) {
	specs, err := ParseFeatures([]byte(`features:
  - {name: color, transform: category, categories: [red, green, "7"]}
  - {name: size, default: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Compile([]string{"color", "size"}, specs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		v    schemas.Value
		want float64 // NaN: missing
		err  bool
	}{
		{schemas.StringValue("red"), 0, false},
		{schemas.StringValue("green"), 1, false},
		{schemas.NumberValue(7), 2, false},
		{schemas.StringValue("blue"), math.NaN(), false}, // unseen: missing
		{schemas.Value{}, math.NaN(), false},
		{schemas.BoolValue(true), 0, true},
	} {
		row := make([]float32, 2)
		err := plan.Extract(event(f("color", tc.v)), row)
		if (err != nil) != tc.err {
			t.Errorf("%+v: err = %v", tc.v, err)
			continue
		}
		if tc.err {
			continue
		}
		if got := float64(row[0]); got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("%+v: code %v, want %v", tc.v, got, tc.want)
		}
	}
	// The model's own categories: used without a features file, checked
	// against one.
	info := Info{Features: []string{"color", "size"}, Categories: [][]string{{"a", "b"}, nil}}
	own, err := CompileFor(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float32, 2)
	if err := own.Extract(event(f("color", schemas.StringValue("b")), f("size", schemas.NumberValue(3))), row); err != nil || row[0] != 1 || row[1] != 3 {
		t.Errorf("model categories: row %v, err %v", row, err)
	}
	if _, err := CompileFor(info, specs); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Errorf("conflicting categories: %v", err)
	}
	for _, bad := range []FeatureSpec{
		{Name: "color", Transform: TransformCategory},
		{Name: "color", Transform: TransformCategory, Categories: []string{"a", "a"}},
		{Name: "color", Categories: []string{"a"}},
	} {
		if _, err := Compile([]string{"color"}, []FeatureSpec{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

package schemas

import (
	"errors"
	"reflect"
	"testing"
)

// TestIdentifyIsTheDecoders: a row's fields identified by Identify give the
// event the JSON decoder gives for the same object.
func TestIdentifyIsTheDecoders(t *testing.T) {
	dec, err := NewDecoder(JSON, Activity, DefaultFieldNames)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, json string
		err        error
	}{
		{"rfc3339 time", `{"event_id":"a1","customer_id":"c7","event_time":"2026-11-20T08:00:00.123Z","activity_type":"login"}`, nil},
		{"epoch time, numeric ids", `{"event_id":17,"customer_id":42,"event_time":1763625600123,"new_device":true}`, nil},
		{"no entity", `{"event_id":"a1","event_time":1}`, ErrIdentity},
		{"empty id", `{"event_id":"","customer_id":"c","event_time":1}`, ErrIdentity},
		{"bad time", `{"event_id":"a","customer_id":"c","event_time":"yesterday"}`, ErrIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got Event
			wantErr := dec.Decode([]byte(tt.json), &want)
			if err := DecodeJSONFields([]byte(tt.json), &got); err != nil {
				t.Fatal(err)
			}
			gotErr := got.Identify(Activity, DefaultFieldNames)
			if !errors.Is(gotErr, tt.err) || !errors.Is(wantErr, tt.err) || (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("Identify: %v, decoder: %v, want %v", gotErr, wantErr, tt.err)
			}
			if gotErr != nil {
				if gotErr.Error() != wantErr.Error() {
					t.Fatalf("Identify says %q, the decoder %q", gotErr, wantErr)
				}
				return
			}
			if got.Type != want.Type || got.ID != want.ID || got.Entity != want.Entity || !got.Time.Equal(want.Time) || !reflect.DeepEqual(got.Fields, want.Fields) {
				t.Fatalf("Identify: %+v\ndecoder:  %+v", got, want)
			}
		})
	}
}

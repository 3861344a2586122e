package xgboost

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuoteNonFinite(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":[NaN,1,-Infinity,Infinity]}`, `{"a":["NaN",1,"-Infinity","Infinity"]}`},
		{`{"NaN":"NaN Infinity -Infinity","b":[-1E0,NaN]}`, `{"NaN":"NaN Infinity -Infinity","b":[-1E0,"NaN"]}`},
		{`{"s":"a\"NaN\\","x":NaN}`, `{"s":"a\"NaN\\","x":"NaN"}`},
		{`{"a":[1,2]}`, `{"a":[1,2]}`},
		{`{"a":Na}`, `{"a":Na}`}, // not a literal: left for the decoder to refuse
	}
	for _, tt := range tests {
		if got := string(quoteNonFinite([]byte(tt.in))); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, got, tt.want)
		}
	}
	plain := []byte(`{"a":[1,2]}`)
	if got := quoteNonFinite(plain); &got[0] != &plain[0] {
		t.Error("a document without literals is copied")
	}
}

// TestNotModels: the legacy binary format (with and without its "binf"
// header, as XGBoost 1.x and 0.x write it) and dump_model output are
// refused with errors that say what the file is and how to re-save it.
func TestNotModels(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	legacy := read("legacy.model")
	if !strings.HasPrefix(string(legacy), "binf") {
		t.Fatal("legacy.model has no binf header")
	}
	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"binf", legacy, ErrLegacyBinary, `save_model("model.json")`},
		{"headerless", legacy[4:], ErrLegacyBinary, `save_model("model.json")`},
		{"base64", []byte("bs64AAAAPwMAAAA="), ErrLegacyBinary, "JSON and UBJSON"},
		{"text dump", read("dump.txt"), ErrDump, `save_model("model.json")`},
		{"JSON dump", read("dump.json"), ErrDump, "lacks the objective"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data, "m")
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want %v with %q", err, tt.want, tt.msg)
			}
			if strings.Contains(err.Error(), "MODEL_FORMAT") {
				t.Errorf("err = %v suggests MODEL_FORMAT", err)
			}
		})
	}
	for _, name := range []string{"xgb_reg.json", "xgb_reg.ubj", "cat_reg.ubj", "linear_reg.json"} {
		b := read(name)
		if IsLegacyBinary(b) || IsDump(b) {
			t.Errorf("%s taken for a legacy model or a dump", name)
		}
	}
	for _, b := range [][]byte{nil, []byte("binf"), make([]byte, 200), []byte(`[{"a":1}]`)} {
		if IsLegacyBinary(b) || IsDump(b) {
			t.Errorf("%q taken for a legacy model or a dump", b)
		}
	}
}

// TestSingleQuantile: a reg:quantileerror or reg:expectileerror model with
// one alpha predicts its margin (the identity), as reg:squarederror does.
func TestSingleQuantile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "xgb_reg.json"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Parse(raw, "ref")
	if err != nil {
		t.Fatal(err)
	}
	g := readGolden(t, filepath.Join("testdata", "xgb_reg_test.csv"), ref.Info().Features, []string{"expected_pred"})
	want := make([]float32, g.n)
	if err := ref.Predict(g.x, want); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []string{
		`{"quantile_loss_param":{"quantile_alpha":"[9E-1]"},"name":"reg:quantileerror"`,
		`{"quantile_loss_param":{"quantile_alpha":"0.25"},"name":"reg:quantileerror"`,
		`{"expectile_loss_param":{"expectile_alpha":"[7.5E-1]"},"name":"reg:expectileerror"`,
	} {
		m, err := Parse([]byte(strings.Replace(string(raw), `{"name":"reg:squarederror"`, obj, 1)), "q")
		if err != nil {
			t.Fatalf("%s: %v", obj, err)
		}
		if m.Objective() == "reg:squarederror" {
			t.Fatal("objective not replaced")
		}
		got := make([]float32, g.n)
		if err := m.Predict(g.x, got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s row %d: %v, want %v", m.Objective(), i, got[i], want[i])
			}
		}
	}
}

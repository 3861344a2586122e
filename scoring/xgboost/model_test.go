package xgboost

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

func TestUBJSON(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
		err  bool
	}{
		{"object", []byte("{i\x01aSi\x02hi}"), "map[a:hi]", false},
		{"typed count array", []byte("[$d#i\x02\x3f\x80\x00\x00\x40\x00\x00\x00"), "[1 2]", false},
		{"counted array", []byte("[#U\x03TFZ"), "[true false <nil>]", false},
		{"ints", []byte("[i\xffU\xffI\x01\x00l\x00\x01\x00\x00]"), "[-1 255 256 65536]", false},
		{"truncated", []byte("[$d#i\x02\x3f\x80"), "", true},
		{"huge count", []byte("[$l#L\x7f\xff\xff\xff\xff\xff\xff\xff"), "", true},
		{"bad marker", []byte("X"), "", true},
		{"deep", []byte(strings.Repeat("[", 100)), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decodeUBJSON(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			if !tt.err {
				if got := fmt.Sprint(v); got != tt.want {
					t.Errorf("got %s, want %s", got, tt.want)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "xgb_reg.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to string
		unsupported    bool
		msg            string
	}{
		{"unknown objective", `"reg:squarederror"`, `"rank:pairwise"`, true, "rank:pairwise"},
		{"dart", `"name":"gbtree"`, `"name":"dart"`, true, "dart"},
		{"multi target", `"num_target":"1"`, `"num_target":"2"`, true, "num_target"},
		{"categorical", `"split_type":[`, `"split_type":[1,`, true, "categorical"},
		{"bad base", `"base_score":"5E-1"`, `"base_score":"abc"`, false, "base_score"},
		{"feature out of range", `"num_feature":"6"`, `"num_feature":"2"`, false, "feature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := string(base)
			if !strings.Contains(s, tt.from) {
				t.Fatalf("fixture lacks %s", tt.from)
			}
			_, err := Parse([]byte(strings.ReplaceAll(s, tt.from, tt.to)), "m")
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrUnsupported) != tt.unsupported || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v", err)
			}
		})
	}
	if _, err := Parse([]byte("{}"), "m"); err == nil {
		t.Error("empty object accepted")
	}
	if _, err := Parse([]byte("garbage"), "m"); err == nil {
		t.Error("garbage accepted")
	}
}

func TestDefaultFeatureNames(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "xgb_reg.ubj"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Info().Features, ","); got != "f0,f1,f2,f3,f4,f5" {
		t.Errorf("features = %s", got)
	}
	if m.NumTrees() != 50 || m.Objective() != "reg:squarederror" {
		t.Errorf("trees %d objective %s", m.NumTrees(), m.Objective())
	}
}

func TestPredictShapeAndConcurrency(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "xgb_fraud.json"), "fraud")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Predict(make([]float32, 7), make([]float32, 1)); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("ragged rows: err = %v", err)
	}
	if err := m.Predict(make([]float32, 16), make([]float32, 1)); !errors.Is(err, scoring.ErrShape) {
		t.Errorf("short output: err = %v", err)
	}
	g := readGolden(t, filepath.Join("testdata", "xgb_fraud_test.csv"), m.Info().Features, []string{"expected_prob"})
	want := make([]float32, g.n)
	if err := m.Predict(g.x, want); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float32, 1)
			for r := w; r < g.n; r += 4 { // one row at a time equals the batch
				if err := m.Predict(g.x[r*8:(r+1)*8], out); err != nil || out[0] != want[r] {
					t.Errorf("row %d alone = %v (%v), in batch %v", r, out[0], err, want[r])
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestPredictAllocatesNothing(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "xgb_multi.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	x, out := make([]float32, 256*4), make([]float32, 256*3)
	if a := testing.AllocsPerRun(10, func() { _ = m.Predict(x, out) }); a != 0 {
		t.Errorf("Predict allocates %v times per batch", a)
	}
}

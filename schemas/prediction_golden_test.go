package schemas

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenPredictions covers every field and the corners of their encodings:
// strings that JSON escapes (quotes, HTML characters, control characters,
// U+2028, invalid UTF-8), floats at the switch between plain and exponent
// notation, negative and large integers, times before 1970 and with
// sub-millisecond parts, multi-class scores.
func goldenPredictions() []Prediction {
	t0 := time.Date(2026, 11, 28, 10, 25, 0, 123_456_789, time.UTC)
	base := Prediction{EventID: "tx-1a2b3c-123456", EntityID: "cust-004711", EventType: "transaction", Score: 0.012345678901234,
		Label: 0, RiskSegment: "Low", ModelName: "fraud", ModelVersion: "38f00222cd60", EventTime: Millis(t0),
		ScoredAt: Millis(t0.Add(37 * time.Millisecond)), Source: Source{Topic: "transactions", Partition: 3, Offset: 123456}}
	var out []Prediction
	add := func(f func(p *Prediction)) {
		p := base
		f(&p)
		out = append(out, p)
	}
	add(func(*Prediction) {})
	add(func(p *Prediction) { p.Score, p.Label, p.RiskSegment = 0.9998, 1, "High" })
	for _, s := range []float64{0, 1, 0.5, 1e-6, 9.99e-7, 1e-7, 5e-324, 1e20, 1e21, 123456789012345678, math.MaxFloat64,
		-0.25, -1e-9, float64(float32(0.1)), float64(math.SmallestNonzeroFloat32), 3.0000000000000004} {
		add(func(p *Prediction) { p.Score = s })
	}
	for _, s := range []string{"", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\rcr\b\f\x01\x1f\x7f",
		"unicode é 日本 🚀", "line\u2028sep\u2029", "bad\xffutf8\xc3", "ünï/çødé"} {
		add(func(p *Prediction) { p.EventID, p.EntityID = s, s+"!" })
	}
	add(func(p *Prediction) { p.Source = Source{Topic: "activity", Partition: -1, Offset: -1} })
	add(func(p *Prediction) { p.Source.Partition, p.Source.Offset = 2147483647, 9223372036854775807 })
	add(func(p *Prediction) {
		p.EventTime = Millis(time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC))
		p.ScoredAt = Millis(time.Date(2300, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)))
	})
	add(func(p *Prediction) {
		p.EventType, p.Label, p.Score, p.RiskSegment = "activity", 2, 0.61, "High"
		p.Scores = []float64{0.2, 0.19, 0.61}
	})
	add(func(p *Prediction) { p.Scores = []float64{} })
	add(func(p *Prediction) { p.Scores = []float64{1e-7, 1e21, 0} })
	// The optional fields of the evolved schema: features and reasons.
	add(func(p *Prediction) {
		p.Features = &FeatureVector{Names: []string{"amount", "hour", "tx_count_1h", "<odd \"name\">"},
			Values: []float64{12.5, math.NaN(), 3, float64(float32(0.1))}}
	})
	add(func(p *Prediction) {
		p.Label, p.Score = 1, 0.97
		p.Reasons = []Reason{{Feature: "amount", Value: 950, Contribution: 2.25}, {Feature: "hour", Value: math.NaN(), Contribution: -0.5}}
		p.Features = &FeatureVector{Names: []string{"amount", "hour"}, Values: []float64{950, math.NaN()}}
	})
	return out
}

// v1Predictions is how many of goldenPredictions predictions.v1.avro.golden
// holds: the wave-1 encoder's bytes, before features and reasons existed.
const v1Predictions = 32

// TestPredictionSchemaEvolution: the evolved prediction schema only adds
// optional fields at the end (features, reasons: null by default), so a
// prediction without them encodes as the wave-1 bytes followed by the two
// null union branches (0x00 0x00), and readers of the old schema read it
// unchanged.
func TestPredictionSchemaEvolution(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "predictions.v1.avro.golden"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(old)), "\n")
	if len(lines) != v1Predictions {
		t.Fatalf("%d wave-1 lines", len(lines))
	}
	e, _ := NewPredictionEncoder(Avro)
	preds := goldenPredictions()
	for i, want := range lines {
		got, err := e.Append(nil, &preds[i])
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != want+"0000" {
			t.Errorf("prediction %d:\n got %x\nwant %s + 0000", i, got, want)
		}
	}
}

// TestPredictionGolden checks the prediction encoders byte for byte
// against testdata/predictions.{json,avro}.golden. The golden files were
// written by the encoders of wave 1 (json.Marshal of Prediction, goavro of
// a native map), so the faster encoders are proven to write the same bytes.
func TestPredictionGolden(t *testing.T) {
	preds := goldenPredictions()
	for _, enc := range []Encoding{JSON, Avro} {
		t.Run(string(enc), func(t *testing.T) {
			e, err := NewPredictionEncoder(enc)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for i := range preds {
				b, err := e.Append([]byte("prefix"), &preds[i])
				if err != nil {
					t.Fatalf("prediction %d: %v", i, err)
				}
				if !strings.HasPrefix(string(b), "prefix") {
					t.Fatalf("prediction %d: Append did not append", i)
				}
				b = b[len("prefix"):]
				if enc == JSON {
					lines = append(lines, string(b))
				} else if preds[i].Features != nil {
					// An Avro map has no order (goavro writes it in Go's map
					// order): the golden bytes are those without it, and the
					// map must read back.
					checkFeaturesRoundTrip(t, e, &preds[i])
					p := preds[i]
					p.Features = nil
					nb, _ := e.Append(nil, &p)
					lines = append(lines, "without features: "+hex.EncodeToString(nb))
				} else {
					lines = append(lines, hex.EncodeToString(b))
				}
			}
			got := strings.Join(lines, "\n") + "\n"
			path := filepath.Join("testdata", "predictions."+string(enc)+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
			if len(wl) != len(gl) {
				t.Fatalf("%d lines, golden has %d", len(gl), len(wl))
			}
			for i := range wl {
				if wl[i] != gl[i] {
					t.Errorf("prediction %d:\n got %s\nwant %s", i, gl[i], wl[i])
				}
			}
		})
	}
}

func checkFeaturesRoundTrip(t *testing.T, e PredictionEncoder, p *Prediction) {
	t.Helper()
	b, err := e.Append(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewPredictionDecoder(Avro)
	got, err := d.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for i, n := range p.Features.Names {
		want[n] = p.Features.Values[i]
	}
	if got.Features == nil || len(got.Features.Names) != len(want) {
		t.Fatalf("features read back: %+v", got.Features)
	}
	for i, n := range got.Features.Names {
		w, v := want[n], got.Features.Values[i]
		if w != v && !(math.IsNaN(w) && math.IsNaN(v)) {
			t.Errorf("feature %q read back as %v, want %v", n, v, w)
		}
	}
	if len(got.Reasons) != len(p.Reasons) {
		t.Errorf("reasons read back: %+v", got.Reasons)
	}
}

// TestJSONPredictionMatchesMarshal compares the JSON encoder with
// encoding/json on random predictions (json.Marshal is the definition of
// the JSON form).
func TestJSONPredictionMatchesMarshal(t *testing.T) {
	e, _ := NewPredictionEncoder(JSON)
	r := newRand(t)
	for i := 0; i < 20000; i++ {
		p := randomPrediction(r)
		want, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Append(nil, &p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("prediction %+v:\n got %s\nwant %s", p, got, want)
		}
	}
}

func newRand(t *testing.T) *rand.Rand {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(uint64(seed), 7))
}

func randomString(r *rand.Rand) string {
	alphabet := []string{"a", "Z", "0", "-", `"`, `\`, "<", ">", "&", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "日", "🚀",
		"\u2028", "\u2029", "\xff", "\xc3", "\xe2\x82", "/", " "}
	n := r.IntN(12)
	var b strings.Builder
	for range n {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func randomFloat(r *rand.Rand) float64 {
	switch r.IntN(5) {
	case 0:
		return r.Float64()
	case 1:
		return float64(float32(r.Float64())) // a widened float32, as scores are
	case 2:
		for {
			f := math.Float64frombits(r.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	case 3:
		return math.Pow(10, float64(r.IntN(60)-30)) * (r.Float64() + 0.5)
	}
	return float64(r.IntN(2000) - 1000)
}

func randomPrediction(r *rand.Rand) Prediction {
	ms := func() Millis { return Millis(time.UnixMilli(r.Int64N(1<<43) - 1<<41).UTC()) }
	p := Prediction{EventID: randomString(r), EntityID: randomString(r), EventType: randomString(r), Score: randomFloat(r),
		Label: int32(r.IntN(5)) - 1, RiskSegment: randomString(r), ModelName: randomString(r), ModelVersion: randomString(r),
		EventTime: ms(), ScoredAt: ms(),
		Source: Source{Topic: randomString(r), Partition: int32(r.Uint32()), Offset: int64(r.Uint64())}}
	if r.IntN(3) == 0 {
		p.Scores = make([]float64, r.IntN(4))
		for i := range p.Scores {
			p.Scores[i] = randomFloat(r)
		}
	}
	if r.IntN(3) == 0 {
		p.Features = &FeatureVector{}
		for range r.IntN(4) {
			v := randomFloat(r)
			if r.IntN(4) == 0 {
				v = math.NaN()
			}
			p.Features.Names, p.Features.Values = append(p.Features.Names, randomString(r)), append(p.Features.Values, v)
		}
	}
	if r.IntN(3) == 0 {
		for range r.IntN(3) {
			p.Reasons = append(p.Reasons, Reason{Feature: randomString(r), Value: randomFloat(r), Contribution: randomFloat(r)})
		}
	}
	return p
}

// TestAppendTimeMillis checks the fast time formatter against the layout
// interpreter on random instants from year 0 to 10000 and on the corners.
func TestAppendTimeMillis(t *testing.T) {
	r := newRand(t)
	lo, hi := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	check := func(tm time.Time) {
		want := tm.UTC().Truncate(time.Millisecond).Format(TimeFormat)
		if got := string(AppendTimeMillis(nil, tm)); got != want {
			t.Fatalf("%v: got %s, want %s", tm, got, want)
		}
	}
	for range 200000 {
		check(time.UnixMilli(lo + r.Int64N(hi-lo)))
	}
	for _, tm := range []time.Time{time.Unix(0, 0), time.Unix(-1, 0), time.UnixMilli(-1), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), time.Date(2000, 2, 29, 12, 0, 0, 0, time.FixedZone("x", -7200)),
		time.Date(1900, 3, 1, 0, 0, 0, 5e5, time.UTC), time.Date(2026, 11, 28, 10, 25, 0, 123_456_789, time.UTC)} {
		check(tm)
	}
}

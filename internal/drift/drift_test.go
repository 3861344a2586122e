package drift

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// refPSI is PSI from its definition, computed without the package's
// binning: each value's bin found by scanning the edges (x ≤ edge), a
// missing bin last, shares floored at 1e-4.
func refPSI(h Histogram, rows uint64, live []float64) float64 {
	nb := len(h.Edges) + 1
	counts := make([]float64, nb+1)
	for _, x := range live {
		if math.IsNaN(x) {
			counts[nb]++
			continue
		}
		b := nb - 1
		for i, e := range h.Edges {
			if x <= e {
				b = i
				break
			}
		}
		counts[b]++
	}
	psi := 0.0
	for i := 0; i <= nb; i++ {
		var e float64
		if i < nb {
			e = float64(h.Counts[i]) / float64(rows)
		} else {
			e = float64(h.Missing) / float64(rows)
		}
		a := counts[i] / float64(len(live))
		e, a = math.Max(e, 1e-4), math.Max(a, 1e-4)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

// training draws rows of three inputs: a continuous one, a one-hot one,
// and one missing 10% of the time; the score follows the first.
func training(rng *rand.Rand, n int, shift float64) ([][]float64, []float64) {
	rows := make([][]float64, n)
	scores := make([]float64, n)
	for i := range rows {
		a := float64(float32(rng.NormFloat64()*10 + 50 + shift))
		oh := 0.0
		if rng.Float64() < 0.3+shift/100 {
			oh = 1
		}
		c := float64(float32(rng.ExpFloat64()))
		if rng.Float64() < 0.1+shift/50 {
			c = math.NaN()
		}
		rows[i] = []float64{a, oh, c}
		scores[i] = float64(float32(1 / (1 + math.Exp(-(a-50)/10))))
	}
	return rows, scores
}

func build(t testing.TB, rows [][]float64, scores []float64) *Baseline {
	t.Helper()
	b := NewBuilder([]string{"amount", "is_web", "gap"})
	for i, r := range rows {
		if err := b.Add(r, scores[i]); err != nil {
			t.Fatal(err)
		}
	}
	bl, err := b.Build(10)
	if err != nil {
		t.Fatal(err)
	}
	if err := bl.Validate(); err != nil {
		t.Fatal(err)
	}
	return bl
}

func TestBuildEdges(t *testing.T) {
	b := NewBuilder([]string{"x", "onehot", "const", "gaps"})
	for i := 1; i <= 100; i++ {
		oh := 0.0
		if i > 70 {
			oh = 1
		}
		g := float64(i % 4)
		if i%5 == 0 {
			g = math.NaN()
		}
		b.Add([]float64{float64(i), oh, 7, g}, float64(i)/100)
	}
	bl, err := b.Build(10)
	if err != nil {
		t.Fatal(err)
	}
	x := bl.Features[0]
	if want := []float64{10, 20, 30, 40, 50, 60, 70, 80, 90}; !equal(x.Edges, want) {
		t.Errorf("edges of 1…100: %v, want %v", x.Edges, want)
	}
	for i, c := range x.Counts {
		if c != 10 {
			t.Errorf("bin %d of 1…100 holds %d, want 10", i, c)
		}
	}
	if oh := bl.Features[1]; !equal(oh.Edges, []float64{0}) || oh.Counts[0] != 70 || oh.Counts[1] != 30 {
		t.Errorf("one-hot: edges %v counts %v, want [0] and [70 30]", oh.Edges, oh.Counts)
	}
	if c := bl.Features[2]; len(c.Edges) != 0 || c.Counts[0] != 100 {
		t.Errorf("constant: edges %v counts %v, want one bin of 100", c.Edges, c.Counts)
	}
	if g := bl.Features[3]; g.Missing != 20 || g.MissingShare != 0.2 {
		t.Errorf("missing %d (share %v), want 20 (0.2)", g.Missing, g.MissingShare)
	}
	sum := bl.Features[3].MissingShare
	for _, s := range bl.Features[3].Shares {
		sum += s
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("shares and missing share add up to %v", sum)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPSIMatchesReference: the monitor's PSI of live batches, per
// feature and for the score, equals the definition computed from the raw
// live values, for no drift, drift, and a renamed field (all missing).
func TestPSIMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rows, scores := training(rng, 5000, 0)
	bl := build(t, rows, scores)
	for _, c := range []struct {
		name    string
		shift   float64
		renamed bool
		small   bool // PSI expected below 0.1
	}{{"same distribution", 0, false, true}, {"shifted", 8, false, false}, {"field renamed upstream", 0, true, false}} {
		m := NewMonitor(bl)
		live, ls := training(rng, 3000, c.shift)
		x := make([]float32, 0, 3*len(live))
		cols := make([][]float64, 3)
		for _, r := range live {
			if c.renamed {
				r[2] = math.NaN()
			}
			for i, v := range r {
				x = append(x, float32(v))
				cols[i] = append(cols[i], float64(float32(v)))
			}
		}
		// in batches of 500 over 10 minutes
		for i := 0; i < len(ls); i += 500 {
			if err := m.ObserveBatch(t0.Add(time.Duration(i)*time.Second/5), x[3*i:3*(i+500)], ls[i:i+500]); err != nil {
				t.Fatal(err)
			}
		}
		ws, err := Merge(t0.Add(10*time.Minute), m)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			if w.Rows != 3000 {
				t.Fatalf("%s, %s: %d rows", c.name, w.Name, w.Rows)
			}
			for i, f := range w.Features {
				want := refPSI(bl.Features[i].Histogram, bl.Rows, cols[i])
				if !near(f.PSI, want) {
					t.Errorf("%s, %s, %s: PSI %v, want %v", c.name, w.Name, f.Name, f.PSI, want)
				}
			}
			if want := refPSI(bl.Score, bl.Rows, ls); !near(w.ScorePSI, want) {
				t.Errorf("%s, %s: score PSI %v, want %v", c.name, w.Name, w.ScorePSI, want)
			}
		}
		w := ws[0]
		switch {
		case c.small:
			for _, f := range w.Features {
				if f.PSI > 0.1 {
					t.Errorf("%s: %s PSI %v without drift", c.name, f.Name, f.PSI)
				}
			}
		case c.renamed:
			if f := w.Features[2]; f.MissingShare != 1 || f.PSI < 1 {
				t.Errorf("%s: missing share %v, PSI %v; want 1 and a large PSI", c.name, f.MissingShare, f.PSI)
			}
		default:
			if w.Features[0].PSI < 0.2 || w.ScorePSI < 0.2 {
				t.Errorf("%s: amount PSI %v, score PSI %v; want both above 0.2", c.name, w.Features[0].PSI, w.ScorePSI)
			}
		}
	}
}

func TestPSIKnownValue(t *testing.T) {
	// (0.5−0.25)ln(0.5/0.25) + (0.5−0.75)ln(0.5/0.75) = 0.25·ln2 + 0.25·ln1.5
	got := PSI([]float64{0.25, 0.75}, []float64{0.5, 0.5})
	if want := 0.25*math.Log(2) + 0.25*math.Log(1.5); !near(got, want) {
		t.Fatalf("PSI %v, want %v", got, want)
	}
	// an empty live bin counts as 1e-4
	got = PSI([]float64{0.5, 0.5}, []float64{1, 0})
	if want := 0.5*math.Log(1/0.5) + (1e-4-0.5)*math.Log(1e-4/0.5); !near(got, want) {
		t.Fatalf("PSI with an empty bin %v, want %v", got, want)
	}
}

// TestWindowsRoll: counts leave the 1h window first, then 24h, then 7d;
// an empty window has NaN PSI.
func TestWindowsRoll(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	rows, scores := training(rng, 1000, 0)
	bl := build(t, rows, scores)
	g := NewGroup(bl)
	m := g.NewMonitor()
	x := []float32{50, 0, 1, 60, 1, float32(math.NaN())}
	if err := m.ObserveBatch(t0, x, []float64{0.5, 0.7}); err != nil {
		t.Fatal(err)
	}
	g.Drop(m) // a revoke: the counts stay in the group
	m2 := g.NewMonitor()
	m2.ObserveBatch(t0.Add(2*time.Hour), x[:3], []float64{0.5})
	for _, c := range []struct {
		after time.Duration
		rows  []uint64
	}{{time.Minute, []uint64{2, 2, 2}}, {2 * time.Hour, []uint64{1, 3, 3}}, {30 * time.Hour, []uint64{0, 0, 3}}, {8 * 24 * time.Hour, []uint64{0, 0, 0}}} {
		ws := g.Snapshot(t0.Add(c.after))
		for i, w := range ws {
			if w.Rows != c.rows[i] {
				t.Errorf("after %v, %s: %d rows, want %d", c.after, w.Name, w.Rows, c.rows[i])
			}
			if (w.Rows == 0) != math.IsNaN(w.Features[0].PSI) || (w.Rows == 0) != math.IsNaN(w.ScorePSI) {
				t.Errorf("after %v, %s: PSI %v, score PSI %v with %d rows", c.after, w.Name, w.Features[0].PSI, w.ScorePSI, w.Rows)
			}
		}
	}
	if got := g.Snapshot(t0.Add(time.Minute))[0].Features[2].MissingShare; got != 0.5 {
		t.Errorf("missing share %v, want 0.5", got)
	}
}

func TestObserveShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	rows, scores := training(rng, 100, 0)
	m := NewMonitor(build(t, rows, scores))
	if err := m.ObserveBatch(t0, make([]float32, 5), []float64{1, 2}); !errors.Is(err, ErrShape) {
		t.Fatalf("5 values for 2 rows of 3: %v", err)
	}
	if err := m.ObserveBatch64(t0, make([]float64, 6), []float64{1, 2}); err != nil {
		t.Fatal(err)
	}
}

func TestFileRoundTripAndValidation(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	rows, scores := training(rng, 500, 0)
	bl := build(t, rows, scores)
	bl.Model, bl.ModelVersion = "fraud", "abc"
	path := filepath.Join(t.TempDir(), "baseline.json")
	if err := bl.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Model != "fraud" || back.Rows != 500 || !equal(back.Features[0].Edges, bl.Features[0].Edges) {
		t.Fatalf("round trip changed the baseline: %+v", back)
	}
	if err := back.Check([]string{"amount", "is_web", "gap"}); err != nil {
		t.Fatal(err)
	}
	if err := back.Check([]string{"amount", "is_app", "gap"}); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), `"is_web"`) {
		t.Fatalf("another model's inputs: %v", err)
	}
	good, _ := os.ReadFile(path)
	for _, c := range []struct{ name, from, to, want string }{
		{"unknown field", `"rows"`, `"rowz"`, "rowz"},
		{"format", `"streamscore-baseline"`, `"other"`, "format"},
		{"edges not ascending", `"edges": [`, `"edges": [1e9, `, "ascending"},
		{"counts do not add up", `"rows": 500`, `"rows": 501`, "add up"},
	} {
		bad := strings.Replace(string(good), c.from, c.to, 1)
		if bad == string(good) {
			t.Fatalf("%s: the test did not change the file", c.name)
		}
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrBaseline) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an ErrBaseline naming %q", c.name, err, c.want)
		}
	}
}

func BenchmarkObserveBatch(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	rows, scores := training(rng, 5000, 0)
	m := NewMonitor(build(b, rows, scores))
	x := make([]float32, 0, 3*500)
	for _, r := range rows[:500] {
		for _, v := range r {
			x = append(x, float32(v))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.ObserveBatch(t0.Add(time.Duration(i)*time.Millisecond), x, scores[:500])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/500, "ns/row")
}

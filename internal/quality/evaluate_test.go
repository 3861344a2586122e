package quality

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteScores computes the measures straight from their definitions:
// AUC by comparing every (positive, negative) pair, the others by their
// formulas, ECE with bins found by comparing against the bin edges k/10.
func bruteScores(pairs []Pair) Scores {
	s := Scores{N: len(pairs), AUC: math.NaN(), LogLoss: math.NaN(), Brier: math.NaN(), ECE: math.NaN(), LabelRate: math.NaN()}
	if len(pairs) == 0 {
		return s
	}
	var wins2, npos, nneg int
	for _, p := range pairs {
		if p.Label == 1 {
			npos++
		} else {
			nneg++
		}
	}
	for _, p := range pairs {
		if p.Label != 1 {
			continue
		}
		for _, q := range pairs {
			if q.Label != 0 {
				continue
			}
			switch {
			case p.Score > q.Score:
				wins2 += 2
			case p.Score == q.Score:
				wins2++
			}
		}
	}
	s.Positives = npos
	if npos > 0 && nneg > 0 {
		s.AUC = float64(wins2) / float64(2*npos*nneg)
	}
	var ll, br float64
	var binN [10]int
	var binY, binP [10]float64
	for _, p := range pairs {
		q := p.Score
		if q < 1e-15 {
			q = 1e-15
		}
		if q > 1-1e-15 {
			q = 1 - 1e-15
		}
		y := float64(p.Label)
		ll += -(y*math.Log(q) + (1-y)*math.Log(1-q))
		br += (p.Score - y) * (p.Score - y)
		b := 9
		for k := 0; k < 10; k++ {
			if p.Score < float64(k+1)/10 {
				b = k
				break
			}
		}
		binN[b]++
		binY[b] += y
		binP[b] += p.Score
	}
	n := float64(len(pairs))
	s.LogLoss, s.Brier = ll/n, br/n
	s.ECE = 0
	for b := range binN {
		if binN[b] > 0 {
			s.ECE += float64(binN[b]) / n * math.Abs(binY[b]/float64(binN[b])-binP[b]/float64(binN[b]))
		}
	}
	s.LabelRate = float64(npos) / n
	return s
}

// near reports whether a and b agree to 1e-12 relative (sums in another
// order), NaN matching NaN.
func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b))
}

func checkScores(t *testing.T, what string, got, want Scores) {
	t.Helper()
	if got.N != want.N || got.Positives != want.Positives {
		t.Fatalf("%s: N %d positives %d, want %d and %d", what, got.N, got.Positives, want.N, want.Positives)
	}
	// AUC comes from integer counts on both sides: exactly equal
	if !(got.AUC == want.AUC || math.IsNaN(got.AUC) && math.IsNaN(want.AUC)) {
		t.Errorf("%s: AUC %v, want %v", what, got.AUC, want.AUC)
	}
	for _, m := range []struct {
		name      string
		got, want float64
	}{{"log loss", got.LogLoss, want.LogLoss}, {"Brier", got.Brier, want.Brier}, {"ECE", got.ECE, want.ECE}, {"label rate", got.LabelRate, want.LabelRate}} {
		if !near(m.got, m.want) {
			t.Errorf("%s: %s %v, want %v", what, m.name, m.got, m.want)
		}
	}
}

// randomPairs draws n pairs; with ties, scores come from a few values
// (bin edges among them), so many positives and negatives share a score.
func randomPairs(rng *rand.Rand, n int, ties bool) []Pair {
	ps := make([]Pair, n)
	for i := range ps {
		var s float64
		switch {
		case ties:
			s = float64(rng.IntN(11)) / 10 // 0, 0.1, … 1: every bin edge
		case rng.IntN(50) == 0:
			s = []float64{0, 1, 1e-20, 1 - 1e-17}[rng.IntN(4)] // clipping
		default:
			s = rng.Float64()
		}
		y := 0
		if rng.Float64() < 0.2+0.6*s { // informative but not perfect
			y = 1
		}
		ps[i] = Pair{Score: s, Label: y}
	}
	return ps
}

func TestEvaluateMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	cases := []struct {
		name string
		ps   []Pair
	}{
		{"empty", nil},
		{"one positive", []Pair{{0.3, 1}}},
		{"all negative", []Pair{{0.3, 0}, {0.9, 0}}},
		{"perfect", []Pair{{0.1, 0}, {0.2, 0}, {0.8, 1}, {0.9, 1}}},
		{"inverted", []Pair{{0.9, 0}, {0.8, 0}, {0.2, 1}, {0.1, 1}}},
		{"all tied", []Pair{{0.5, 0}, {0.5, 1}, {0.5, 1}, {0.5, 0}}},
		{"confident misses", []Pair{{0, 1}, {1, 0}, {1, 1}, {0, 0}}},
	}
	for i := 0; i < 40; i++ {
		cases = append(cases, struct {
			name string
			ps   []Pair
		}{"random", randomPairs(rng, 1+rng.IntN(400), i%2 == 0)})
	}
	for _, c := range cases {
		want := bruteScores(c.ps)
		got := Evaluate(append([]Pair(nil), c.ps...))
		checkScores(t, c.name, got, want)
	}
}

func TestEvaluateKnownValues(t *testing.T) {
	// 2 positives, 2 negatives; pairs (0.8>0.2), (0.8>0.5), (0.5=0.5 tie), (0.5>0.2): 3.5 of 4
	s := Evaluate([]Pair{{0.2, 0}, {0.5, 0}, {0.5, 1}, {0.8, 1}})
	if s.AUC != 0.875 {
		t.Fatalf("AUC %v, want 0.875", s.AUC)
	}
	// log loss of p=0 for a positive is −ln(1e-15) = 34.538776394910684
	s = Evaluate([]Pair{{0, 1}})
	if math.Abs(s.LogLoss-34.538776394910684) > 1e-9 {
		t.Fatalf("clipped log loss %v", s.LogLoss)
	}
}

func TestCalibrationBin(t *testing.T) {
	for _, c := range []struct {
		p    float64
		want int
	}{{-0.5, 0}, {0, 0}, {0.0999, 0}, {0.1, 1}, {0.55, 5}, {0.9, 9}, {1, 9}, {1.5, 9}, {math.NaN(), 0}} {
		if got := CalibrationBin(c.p); got != c.want {
			t.Errorf("CalibrationBin(%v) = %d, want %d", c.p, got, c.want)
		}
	}
}

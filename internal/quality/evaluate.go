package quality

import (
	"cmp"
	"math"
	"slices"
)

// Pair is one joined prediction: the score the model gave and the label
// that arrived for it.
type Pair struct {
	Score float64
	Label int // 0 or 1
}

// Scores are the quality measures of a set of pairs. A measure that is
// undefined for the set is NaN: every measure of an empty set, AUC when
// either class is absent.
type Scores struct {
	N, Positives int
	// AUC is the exact area under the ROC curve: the Mann–Whitney
	// statistic, the share of (positive, negative) pairs whose positive
	// scores higher, a tie counting one half. Computed from integer counts,
	// so it does not depend on the order of the pairs.
	AUC float64
	// LogLoss is −mean(y·ln p + (1−y)·ln(1−p)), p clipped to
	// [LogLossEpsilon, 1−LogLossEpsilon] so that a confident miss costs a
	// large finite amount rather than +Inf.
	LogLoss float64
	// Brier is mean((p − y)²).
	Brier float64
	// ECE is the expected calibration error over CalibrationBins
	// equal-width bins of the score: Σ_b (n_b/N)·|mean(y)_b − mean(p)_b|,
	// score p in bin ⌊p·10⌋ (computed in float64; 1.0 in the last bin;
	// scores outside [0, 1] in the first or last).
	ECE float64
	// LabelRate is the share of positive labels.
	LabelRate float64
}

// LogLossEpsilon is the clipping of probabilities in LogLoss (the value
// scikit-learn's log_loss used by default before 1.5).
const LogLossEpsilon = 1e-15

// CalibrationBins is the number of equal-width score bins of ECE.
const CalibrationBins = 10

// Evaluate computes the scores of pairs. It sorts pairs by score in place
// (O(n log n)); EvaluateSorted skips that for pairs already in score order.
// Scores are probabilities of class 1 (a binary classifier's score);
// log loss, Brier and ECE mean nothing for other outputs.
func Evaluate(pairs []Pair) Scores {
	slices.SortFunc(pairs, func(a, b Pair) int { return cmp.Compare(a.Score, b.Score) })
	return EvaluateSorted(pairs)
}

// EvaluateSorted is Evaluate for pairs sorted by ascending score.
func EvaluateSorted(pairs []Pair) Scores {
	var a accumulator
	for i := 0; i < len(pairs); {
		j := i
		var pos, neg uint64
		for ; j < len(pairs) && pairs[j].Score == pairs[i].Score; j++ {
			if pairs[j].Label == 1 {
				pos++
			} else {
				neg++
			}
			a.addMeasures(pairs[j])
		}
		a.addTies(pos, neg)
		i = j
	}
	return a.scores()
}

// accumulator gathers the sums of the measures over pairs fed in
// ascending score order, groups of equal scores together (addTies once per
// group).
type accumulator struct {
	n, pos     uint64
	negBelow   uint64 // negatives with a lower score than the current group
	twiceWins  uint64 // 2 × (pairs ranked right + ½ ties)
	logLoss    float64
	brier      float64
	binN       [CalibrationBins]uint64
	binY, binP [CalibrationBins]float64
}

func (a *accumulator) addMeasures(p Pair) {
	y := float64(p.Label)
	a.n++
	if p.Label == 1 {
		a.pos++
	}
	q := min(max(p.Score, LogLossEpsilon), 1-LogLossEpsilon)
	if p.Label == 1 {
		a.logLoss -= math.Log(q)
	} else {
		a.logLoss -= math.Log(1 - q)
	}
	d := p.Score - y
	a.brier += d * d
	b := CalibrationBin(p.Score)
	a.binN[b]++
	a.binY[b] += y
	a.binP[b] += p.Score
}

// addTies closes a group of pos positives and neg negatives with one score.
func (a *accumulator) addTies(pos, neg uint64) {
	a.twiceWins += 2*pos*a.negBelow + pos*neg
	a.negBelow += neg
}

func (a *accumulator) scores() Scores {
	s := Scores{N: int(a.n), Positives: int(a.pos), AUC: math.NaN(), LogLoss: math.NaN(),
		Brier: math.NaN(), ECE: math.NaN(), LabelRate: math.NaN()}
	if a.n == 0 {
		return s
	}
	n := float64(a.n)
	if neg := a.n - a.pos; a.pos > 0 && neg > 0 {
		s.AUC = float64(a.twiceWins) / (2 * float64(a.pos) * float64(neg))
	}
	s.LogLoss = a.logLoss / n
	s.Brier = a.brier / n
	ece := 0.0
	for b, c := range a.binN {
		if c == 0 {
			continue
		}
		k := float64(c)
		ece += k / n * math.Abs(a.binY[b]/k-a.binP[b]/k)
	}
	s.ECE = ece
	s.LabelRate = float64(a.pos) / n
	return s
}

// CalibrationBin is the ECE bin of a score: ⌊p·10⌋ in float64, clamped to
// 0 … CalibrationBins−1 (so 1.0 is in the last bin).
func CalibrationBin(p float64) int {
	b := int(p * CalibrationBins)
	if p != p || b < 0 { // NaN or negative
		return 0
	}
	return min(b, CalibrationBins-1)
}

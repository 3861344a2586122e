package scoring

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Reason codes: per-feature contributions to a score.

// ErrCannotExplain is wrapped by the error of a model that cannot explain
// its outputs; the error says why (a format whose files carry no node
// covers, a tree without them, a booster without contributions).
var ErrCannotExplain = errors.New("the model cannot explain its scores")

// MaxExplainDepth is the deepest tree an Explainer takes: path-dependent
// TreeSHAP keeps, per call, a path of (depth+1)(depth+2)/2 elements and
// costs each row O(leaves × depth²), so a model file of a few hundred KB
// declaring chains thousands of nodes deep would take hundreds of MB per
// explaining goroutine. Real boosted trees are far shallower (XGBoost's
// max_depth defaults to 6; LightGBM's leaf-wise trees of 31 leaves are at
// most 30 deep). A deeper tree makes NewExplainer fail, wrapping
// ErrCannotExplain.
const MaxExplainDepth = 256

// CheckExplainDepth is the error, wrapping ErrCannotExplain, of an
// explainer given tree number tree of the given depth when the depth
// passes MaxExplainDepth; nil otherwise.
func CheckExplainDepth(tree, depth int) error {
	if depth <= MaxExplainDepth {
		return nil
	}
	return fmt.Errorf("%w: tree %d is %d deep, deeper than the %d TreeSHAP takes (its working memory grows with the square of the depth)", ErrCannotExplain, tree, depth, MaxExplainDepth)
}

// ErrNoFeatureRow is wrapped by Scorer.Explain for a result whose features
// could not be extracted (Result.Stage "features"): it has no input row to
// explain.
var ErrNoFeatureRow = errors.New("the result has no feature row")

// Explainer computes exact feature contributions (SHAP values) of a model's
// outputs, in the layout of XGBoost's pred_contribs.
//
// Explain takes x as Model.Predict does (n dense rows of len(Info.Features)
// float32 values, NaN = missing) and writes to out, which must have exactly
// n*ContributionLen(info) elements (else an error wrapping ErrShape and
// nothing written), for row r and output group g:
//
//	out[(r*G+g)*(F+1) + f]  the contribution of feature f to group g's margin
//	out[(r*G+g)*(F+1) + F]  the bias: the model's expected margin (the
//	                        cover-weighted mean over its training data)
//	                        plus the base margin
//
// where F = len(Info.Features) and G = Info.Outputs() (1 for binary and
// regression models, the classes of a multi-class model, the targets of a
// multi-target one). A group's F+1 values sum to the group's margin — the
// output before the objective's transform: log-odds for logistic
// objectives, the log of the prediction for count:poisson, reg:gamma,
// reg:tweedie and survival objectives, the softmax input of a class —
// up to float32 rounding.
//
// Tree models give path-dependent TreeSHAP values (Lundberg et al. 2020,
// "From local explanations to global understanding with explainable AI for
// trees", algorithm 2) from the node covers the file stores; a missing
// value takes the node's default direction, a categorical split routes as
// in prediction. A feature the row's trees never split on gets 0.
//
// The caller owns both slices; Explain keeps neither and does not allocate
// per row once warm. An Explainer is safe for concurrent use.
type Explainer interface {
	Explain(x, out []float32) error
}

// Explainer64 is implemented by the explainers of models that take float64
// input (a Float64Model whose Float64Input reports true, such as
// LightGBM's): Explain64 follows Explain's contract with x as Predict64
// takes it, so a row is explained from the very values it was scored with
// (rounding it to float32 could move it across a float64 threshold).
// Scorer.Explain and ExplainResults call it for such models; an explainer
// of such a model without it cannot explain the Scorer's rows.
type Explainer64 interface {
	Explainer
	Explain64(x []float64, out []float32) error
}

// Explainable is implemented by evaluators whose models may explain their
// outputs.
type Explainable interface {
	// Explainer returns the model's explainer, doing what it precomputes
	// the first time (later calls return the same one), or an error
	// wrapping ErrCannotExplain that names why this model cannot explain.
	Explainer() (Explainer, error)
}

// NewExplainer returns m's explainer, or an error wrapping ErrCannotExplain
// that says why m has none.
func NewExplainer(m Model) (Explainer, error) {
	info := m.Info()
	if e, ok := m.(Explainable); ok {
		x, err := e.Explainer()
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", info.Name, err)
		}
		return x, nil
	}
	return nil, fmt.Errorf("model %s: %w: format %q has no feature contributions (XGBoost and LightGBM models do)", info.Name, ErrCannotExplain, info.Format)
}

// ContributionLen is the number of contributions Explain writes per row:
// Outputs() × (len(Features) + 1).
func ContributionLen(info Info) int { return info.Outputs() * (len(info.Features) + 1) }

// ExplainedGroup is the output group whose contributions explain decision
// d: the predicted class (d.Label) of a multi-class model, else group 0
// (target 0 of a multi-target model, which the score follows).
func ExplainedGroup(info Info, d Decision) int {
	if info.Output == MultiClass && d.Label >= 0 && int(d.Label) < info.Classes {
		return int(d.Label)
	}
	return 0
}

// Reason is one feature's part in a score.
type Reason struct {
	Feature      int     // index in Info().Features
	Value        float32 // the feature's model input; NaN when missing
	Contribution float32 // its contribution to the margin
}

// TopReasons appends to dst (and returns) the k features of one
// contribution set with the largest absolute contribution, largest first.
// contrib is one group's F+1 contributions (the bias last, never a reason)
// and x the row's F feature values. Equal absolute contributions are
// ordered by feature index, lower first, so the result is deterministic; a
// feature whose contribution is 0 (or NaN) is no reason and is left out,
// so fewer than k may be returned. It allocates once at most: not at all
// when cap(dst)-len(dst) ≥ k.
func TopReasons(dst []Reason, contrib, x []float32, k int) []Reason {
	f := len(contrib) - 1
	if f > len(x) {
		f = len(x)
	}
	start := len(dst)
	dst = slices.Grow(dst, max(0, min(k, f))) // one allocation at most
	for i := 0; i < f; i++ {
		a := abs32(contrib[i])
		if !(a > 0) {
			continue
		}
		// Insert i into dst[start:], kept sorted and at most k long.
		n := len(dst) - start
		pos := n
		for pos > 0 && abs32(dst[start+pos-1].Contribution) < a {
			pos--
		}
		if pos >= k {
			continue
		}
		if n < k {
			dst = append(dst, Reason{})
			n++
		}
		copy(dst[start+pos+1:start+n], dst[start+pos:start+n-1])
		dst[start+pos] = Reason{Feature: i, Value: x[i], Contribution: contrib[i]}
	}
	return dst
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// explainOnce builds a Scorer's explainer the first time it is asked for.
type explainOnce struct {
	once sync.Once
	e    Explainer
	err  error
}

// Explainer returns the scorer's explainer, building the model's
// precomputed tables the first time, or the error (wrapping
// ErrCannotExplain) that says why the model cannot explain. Call it when
// the scorer is made — at start and before a reloaded scorer is put in
// service — so that a model that cannot explain is reported at once and no
// explained event waits for the tables.
func (s *Scorer) Explainer() (Explainer, error) {
	s.explain.once.Do(func() { s.explain.e, s.explain.err = NewExplainer(s.model) })
	return s.explain.e, s.explain.err
}

// ContributionLen is the number of values Explain writes for one result:
// Info().Outputs() × (len(Info().Features) + 1), the layout of Explainer.
func (s *Scorer) ContributionLen() int { return ContributionLen(s.info) }

// Features is result i's model input row after Score on b (NaN =
// missing), in Info().Features order; nil when its features could not be
// extracted, or when the model takes float64 input (see Features64). It
// aliases b's buffer: valid until b is reused.
func (b *Batch) Features(i int) []float32 {
	r, ok := b.denseRow(i)
	if !ok || b.f64 || len(b.x) < (r+1)*b.nf {
		return nil
	}
	return b.x[r*b.nf : (r+1)*b.nf : (r+1)*b.nf]
}

// Features64 is Features for a model that takes float64 input
// (Float64Model); nil otherwise.
func (b *Batch) Features64(i int) []float64 {
	r, ok := b.denseRow(i)
	if !ok || !b.f64 || len(b.x64) < (r+1)*b.nf {
		return nil
	}
	return b.x64[r*b.nf : (r+1)*b.nf : (r+1)*b.nf]
}

// denseRow is the dense row of result i, unless its features failed.
func (b *Batch) denseRow(i int) (int, bool) {
	if i < 0 || i >= len(b.Results) || b.Results[i].Stage == "features" {
		return 0, false
	}
	return b.Results[i].row, true
}

// Explain writes the contributions of result i of b to out, which must
// have ContributionLen() elements (the layout of Explainer, for one row):
// call it after Score(events, b) and before b is reused, for the results
// that need reasons only. It returns an error wrapping ErrCannotExplain
// when the model cannot explain, ErrNoFeatureRow when result i's features
// failed, ErrShape when out has the wrong length. It does not allocate
// once the explainer is warm; like Score, it may be called from many
// goroutines, each with its own Batch.
func (s *Scorer) Explain(b *Batch, i int, out []float32) error {
	e, err := s.Explainer()
	if err != nil {
		return err
	}
	if len(out) != s.ContributionLen() {
		return fmt.Errorf("%w: one row has %d contributions, out has %d", ErrShape, s.ContributionLen(), len(out))
	}
	if b.f64 {
		e64, err := s.explainer64(e)
		if err != nil {
			return err
		}
		x := b.Features64(i)
		if x == nil {
			return fmt.Errorf("result %d: %w", i, ErrNoFeatureRow)
		}
		return e64.Explain64(x, out)
	}
	x := b.Features(i)
	if x == nil {
		return fmt.Errorf("result %d: %w", i, ErrNoFeatureRow)
	}
	return e.Explain(x, out)
}

// explainer64 is e as an Explainer64, for a model that takes float64 input.
func (s *Scorer) explainer64(e Explainer) (Explainer64, error) {
	e64, ok := e.(Explainer64)
	if !ok {
		return nil, fmt.Errorf("model %s: %w: it takes float64 input and its explainer has no Explain64", s.info.Name, ErrCannotExplain)
	}
	return e64, nil
}

// ExplainResults is Explain for several results of b at once: out receives
// len(idx) × ContributionLen() values, result idx[k]'s at
// out[k*ContributionLen():]. One call walks each tree once for all the
// rows, which is faster than one Explain per result (the stream should
// explain a batch's chosen results with one call). Errors are Explain's; an
// empty idx does nothing. The rows are gathered in b's scratch space, which
// grows to the largest call and then allocates nothing.
func (s *Scorer) ExplainResults(b *Batch, idx []int, out []float32) error {
	e, err := s.Explainer()
	if err != nil {
		return err
	}
	cl := s.ContributionLen()
	if len(out) != len(idx)*cl {
		return fmt.Errorf("%w: %d rows have %d contributions, out has %d", ErrShape, len(idx), len(idx)*cl, len(out))
	}
	nf := s.plan.Len()
	if b.f64 {
		e64, err := s.explainer64(e)
		if err != nil {
			return err
		}
		b.ex64 = grow(b.ex64, len(idx)*nf)
		for k, i := range idx {
			x := b.Features64(i)
			if x == nil {
				return fmt.Errorf("result %d: %w", i, ErrNoFeatureRow)
			}
			copy(b.ex64[k*nf:], x)
		}
		if len(idx) == 0 {
			return nil
		}
		return e64.Explain64(b.ex64[:len(idx)*nf], out)
	}
	b.ex = grow(b.ex, len(idx)*nf)
	for k, i := range idx {
		x := b.Features(i)
		if x == nil {
			return fmt.Errorf("result %d: %w", i, ErrNoFeatureRow)
		}
		copy(b.ex[k*nf:], x)
	}
	if len(idx) == 0 {
		return nil
	}
	return e.Explain(b.ex[:len(idx)*nf], out)
}

package lightgbm

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/internal/treeshap"
)

// Feature contributions (SHAP values).
//
// Exact path-dependent TreeSHAP (Lundberg et al. 2020, algorithm 2) over
// the training-row counts LightGBM stores per split (internal_count) and
// per leaf (leaf_count), computed in float64 with the path arithmetic of
// scoring/internal/treeshap:
//
//   - a row is routed at each split exactly as prediction routes it (the
//     dense-input rule for |x| <= kZeroThreshold, missing values to the
//     default child or 0.0, categorical bitsets), so the path a row takes
//     is the path that gave its score;
//   - tree i explains output group i mod num_tree_per_iteration, as
//     prediction adds it; a group's bias is the sum of its trees'
//     expected values (the count-weighted mean leaf);
//   - dart files hold the already weighted trees and predict their plain
//     sum, so they are explained like gbdt; with average_output (boosting
//     rf) the contributions and the bias are divided by the number of
//     iterations, as the score is before its transform, so that a group's
//     values sum to the averaged margin the objective transforms (and, for
//     a LightGBM 2.x forest, to its output);
//   - a group's F+1 values sum to that margin up to float64 rounding
//     (Explain64To64), or to its float32 rounding (Explain, Explain64).
//
// Linear trees (linear_tree) are refused: a linear leaf's output depends on
// the row's features themselves, and TreeSHAP's expectation over a tree's
// paths treats a leaf as a constant.

// ErrNoCounts is wrapped by Explainer's error for a model whose trees lack
// the leaf_count and internal_count lines.
var ErrNoCounts = errors.New("trees without training-row counts (leaf_count, internal_count)")

// shapOnce builds a model's explainer on the first Explainer call.
type shapOnce struct {
	once sync.Once
	e    *explainer
	err  error
}

// Explainer implements scoring.Explainable: it returns the model's
// explainer, or an error wrapping scoring.ErrCannotExplain that says why
// this model cannot explain (linear trees, trees without counts, counts
// that do not add up). The explainer also implements scoring.Explainer64,
// which the Scorer uses: rows are explained from the float64 inputs they
// were scored with.
func (m *Model) Explainer() (scoring.Explainer, error) {
	e, err := m.explainer()
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (m *Model) explainer() (*explainer, error) {
	m.shap.once.Do(func() { m.shap.e, m.shap.err = newExplainer(m) })
	return m.shap.e, m.shap.err
}

// explainer computes a model's contributions.
type explainer struct {
	m        *Model
	nf, g    int
	cols     int       // nf + 1
	bias     []float64 // per group, before averaging
	div      float64   // the iterations with average_output, else 1
	maxDepth int
	pool     sync.Pool
}

// pathElem is one feature on the unique path of TreeSHAP (treeshap.Elem).
type pathElem = treeshap.Elem[float64]

// shapScratch is one Explain call's working memory.
type shapScratch struct {
	row  []float64 // a row widened to float64
	acc  []float64 // one row's G × (F+1) contributions
	path []pathElem
}

func newExplainer(m *Model) (*explainer, error) {
	e := &explainer{m: m, nf: m.nfeat, g: m.k, cols: m.nfeat + 1, div: 1}
	if m.k != m.info.Outputs() {
		return nil, fmt.Errorf("%w: %d trees per iteration for %d outputs", scoring.ErrCannotExplain, m.k, m.info.Outputs())
	}
	for t := range m.trees {
		if m.trees[t].isLinear {
			return nil, fmt.Errorf("%w: tree %d is a linear tree (linear_tree): its leaves are linear models of the row's features, and path-dependent TreeSHAP is defined for trees whose leaves are constants", scoring.ErrCannotExplain, t)
		}
	}
	if m.countErr != nil {
		return nil, fmt.Errorf("%w: %w: %w: TreeSHAP weighs each path by the training rows at each split; LightGBM's save_model writes them", scoring.ErrCannotExplain, ErrNoCounts, m.countErr)
	}
	if m.average {
		e.div = float64(m.iterations)
	}
	e.bias = make([]float64, e.g)
	for t := range m.trees {
		tr := &m.trees[t]
		if tr.nLeaves == 1 {
			e.bias[tr.class] += m.leaves[tr.leafOff]
			continue
		}
		if err := m.checkCounts(tr); err != nil {
			return nil, fmt.Errorf("%w: tree %d: %w", scoring.ErrCannotExplain, t, err)
		}
		mean, depth := m.meanDepth(tr.nodeOff)
		if err := scoring.CheckExplainDepth(t, depth); err != nil {
			return nil, err
		}
		e.bias[tr.class] += mean
		e.maxDepth = max(e.maxDepth, depth)
	}
	e.pool.New = func() any {
		d := e.maxDepth + 2
		return &shapScratch{
			row:  make([]float64, e.nf),
			acc:  make([]float64, e.g*e.cols),
			path: make([]pathElem, d*(d+1)/2),
		}
	}
	return e, nil
}

// count is the training rows at child reference c (a split or a leaf).
func (m *Model) count(c int32) float64 {
	if c >= 0 {
		return m.nodeCount[c]
	}
	return m.leafCount[^c]
}

// checkCounts verifies that tree tr's counts can weigh paths: finite and
// non-negative, positive at every split, each split's count the sum of its
// children's (as LightGBM writes them).
func (m *Model) checkCounts(tr *tree) error {
	for j := tr.nodeOff; j < tr.nodeOff+tr.nLeaves-1; j++ {
		nd := &m.nodes[j]
		c, l, r := m.nodeCount[j], m.count(nd.left), m.count(nd.right)
		if !(c > 0 && c <= math.MaxFloat64) {
			return fmt.Errorf("split %d has internal_count %v: TreeSHAP needs a positive count at every split", j-tr.nodeOff, c)
		}
		if !(l >= 0 && r >= 0) || l+r != c {
			return fmt.Errorf("split %d has internal_count %v, its children %v and %v: the counts do not add up", j-tr.nodeOff, c, l, r)
		}
	}
	return nil
}

// meanDepth is the count-weighted mean leaf value under split i (the
// expectation TreeSHAP's bias is: the children's means weighted by their
// share of the split's count) and the depth of the deepest leaf below it.
func (m *Model) meanDepth(i int32) (float64, int) {
	nd := &m.nodes[i]
	var sum float64
	depth := 0
	for _, c := range [2]int32{nd.left, nd.right} {
		var v float64
		d := 0
		if c >= 0 {
			v, d = m.meanDepth(c)
		} else {
			v = m.leaves[^c]
		}
		sum += m.count(c) / m.nodeCount[i] * v
		depth = max(depth, d+1)
	}
	return sum, depth
}

// check validates an Explain call and returns the number of rows.
func (e *explainer) check(nx, nout int) (int, error) {
	if nx%e.nf != 0 {
		return 0, fmt.Errorf("%w: %d inputs is not a whole number of rows of %d features", scoring.ErrShape, nx, e.nf)
	}
	n := nx / e.nf
	if nout != n*e.g*e.cols {
		return 0, fmt.Errorf("%w: %d rows have %d contributions, out has %d", scoring.ErrShape, n, n*e.g*e.cols, nout)
	}
	return n, nil
}

// Explain implements scoring.Explainer for float32 rows: each value is
// widened to float64 exactly, as Predict does, so a row takes the path it
// takes in Predict; the contributions are rounded to float32.
func (e *explainer) Explain(x, out []float32) error {
	n, err := e.check(len(x), len(out))
	if err != nil {
		return err
	}
	s := e.pool.Get().(*shapScratch)
	defer e.pool.Put(s)
	for r := 0; r < n; r++ {
		for i, v := range x[r*e.nf : (r+1)*e.nf] {
			s.row[i] = float64(v)
		}
		e.row(s.row, s)
		for i, v := range s.acc {
			out[r*len(s.acc)+i] = float32(v)
		}
	}
	return nil
}

// Explain64 implements scoring.Explainer64: Explain for the float64 rows
// Predict64 takes (the Scorer's rows for a LightGBM model).
func (e *explainer) Explain64(x []float64, out []float32) error {
	n, err := e.check(len(x), len(out))
	if err != nil {
		return err
	}
	s := e.pool.Get().(*shapScratch)
	defer e.pool.Put(s)
	for r := 0; r < n; r++ {
		e.row(x[r*e.nf:(r+1)*e.nf], s)
		for i, v := range s.acc {
			out[r*len(s.acc)+i] = float32(v)
		}
	}
	return nil
}

// Explain64To64 is Explain64 with float64 contributions: a group's values
// sum to its margin up to float64 rounding.
func (e *explainer) Explain64To64(x, out []float64) error {
	n, err := e.check(len(x), len(out))
	if err != nil {
		return err
	}
	s := e.pool.Get().(*shapScratch)
	defer e.pool.Put(s)
	for r := 0; r < n; r++ {
		e.row(x[r*e.nf:(r+1)*e.nf], s)
		copy(out[r*len(s.acc):], s.acc)
	}
	return nil
}

// row computes one row's contributions into s.acc.
func (e *explainer) row(row []float64, s *shapScratch) {
	m := e.m
	clear(s.acc)
	for t := range m.trees {
		tr := &m.trees[t]
		if tr.nLeaves == 1 {
			continue
		}
		phi := s.acc[int(tr.class)*e.cols : int(tr.class+1)*e.cols]
		e.recurse(tr.nodeOff, row, phi, s.path[:0], s.path, 1, 1, -1)
	}
	for g := 0; g < e.g; g++ {
		phi := s.acc[g*e.cols : (g+1)*e.cols]
		phi[e.nf] = e.bias[g]
		if e.div != 1 {
			for i := range phi {
				phi[i] /= e.div
			}
		}
	}
}

// recurse is TreeSHAP's RECURSE at child reference j: parent is the unique
// path above it, buf (which starts with parent) the space for this call's
// path and those below; the path is extended with feature pf's fractions.
func (e *explainer) recurse(j int32, row, phi []float64, parent, buf []pathElem, pz, po float64, pf int32) {
	l := len(parent)
	path := buf[l : 2*l+1 : 2*l+1]
	copy(path, parent)
	treeshap.Extend(path, pz, po, pf)
	next := buf[l:]
	m := e.m
	if j < 0 {
		v := m.leaves[^j]
		for i := 1; i < len(path); i++ {
			w := treeshap.UnwoundSum(path, i)
			phi[path[i].Feat] += w * (path[i].One - path[i].Zero) * v
		}
		return
	}
	nd := &m.nodes[j]
	x := input(row[nd.feat])
	var hot int32
	if nd.categorical {
		hot = m.categorical(nd, x)
	} else {
		hot = numerical(nd, x)
	}
	cold := nd.left
	if hot == nd.left {
		cold = nd.right
	}
	iz, io := 1.0, 1.0
	for k := 1; k < len(path); k++ {
		if path[k].Feat == nd.feat {
			iz, io = path[k].Zero, path[k].One
			path = treeshap.Unwind(path, k)
			break
		}
	}
	// A child whose fractions are both 0 (no training row reached it, and
	// the row does not go there) gives every path below weight 0: it is
	// skipped, which also keeps UNWIND from dividing by 0.
	c := m.nodeCount[j]
	if hz := iz * m.count(hot) / c; hz != 0 || io != 0 {
		e.recurse(hot, row, phi, path, next, hz, io, nd.feat)
	}
	if cz := iz * m.count(cold) / c; cz != 0 {
		e.recurse(cold, row, phi, path, next, cz, 0, nd.feat)
	}
}

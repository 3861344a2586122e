package lightgbm

import (
	"fmt"
	"strings"
	"sync"

	"github.com/streamscore/streamscore/scoring"
)

// Model is a loaded LightGBM model; immutable and safe for concurrent use.
type Model struct {
	info       scoring.Info
	version    string // header version: v2, v3 or v4
	nfeat      int
	k          int // trees per iteration = outputs per row
	iterations int
	average    bool // average_output (boosting rf): divide by iterations
	v2Forest   bool // a LightGBM 2.x random forest: leaves hold outputs, no transform
	obj        objective
	objText    string
	params     map[string]string // the parameters block, for Describe
	pandas     string            // the pandas_categorical JSON
	catNote    string            // why categories are not reported, if so

	trees     []tree
	nodes     []node    // the splits of every tree
	leaves    []float64 // the leaf values of every tree
	cats      []uint32  // the bitset words of every categorical split
	linLeaves []linLeaf // per leaf of each linear tree
	linFeat   []int32
	linCoeff  []float64

	fast fastLayout // complete-tree layout of the trees that allow it

	// For contributions (shap.go): the training rows at each leaf and
	// split (leaf_count, internal_count), parallel to leaves and nodes;
	// nil with countErr set when a tree lacks them.
	leafCount, nodeCount []float64
	countErr             error
	shap                 *shapOnce // built by the first Explainer call
}

type tree struct {
	nodeOff, leafOff int32 // first split and first leaf in Model.nodes / Model.leaves
	nLeaves          int32
	class            int32 // output this tree adds to
	hasCat           bool  // walks with categorical decisions
	isLinear         bool
	linOff           int32 // first leaf in Model.linLeaves
	fast             int32 // index in fast.trees, or -1
}

// node is one split. Children: ≥ 0 a split index, < 0 the complement of a
// leaf index, both absolute in the model's arrays.
type node struct {
	thr          float64
	feat         int32
	left, right  int32
	catLo, catHi int32 // bitset words of a categorical split
	missing      uint8
	defaultLeft  bool
	categorical  bool
}

// linLeaf is the linear model of one leaf: c + Σ coeff·x over
// linFeat/linCoeff[lo:hi].
type linLeaf struct {
	c      float64
	lo, hi int32
}

// finish sets what depends on the whole file: the output kind, the
// category lists, the v2 random-forest rule and the fast layout.
func (m *Model) finish() error {
	switch m.obj.kind {
	case objSigmoid, objXentropy:
		m.info.Output, m.info.Classes = scoring.Binary, 2
	case objSoftmax, objOVA:
		m.info.Output, m.info.Classes = scoring.MultiClass, m.k
	default:
		m.info.Output, m.info.Classes = scoring.Regression, 1
	}
	m.info.Categories, m.catNote = m.categories()
	m.info.NumbersAreCodes = true // LightGBM reads a numeric categorical input as its code
	if m.average && m.version == "v2" && m.obj.kind != objIdentity && m.obj.kind != objNone {
		m.v2Forest = true
		for _, v := range m.leaves {
			if !m.obj.inRange(v) {
				m.v2Forest = false // raw leaves: a LightGBM 2.x release after the fix
				break
			}
		}
		if m.v2Forest && m.k > 1 && m.obj.kind == objSoftmax {
			return fmt.Errorf("%w: a version=v2 multi-class random forest (LightGBM 2.x averaged leaf outputs without softmax; no reference pins what it predicted)", ErrUnsupported)
		}
	}
	m.buildFast()
	m.shap = new(shapOnce)
	return nil
}

// Info describes the model.
func (m *Model) Info() scoring.Info { return m.info }

// Float64Input reports true: LightGBM compares float64 inputs with float64
// thresholds, and float32-rounded inputs would re-route rows.
func (m *Model) Float64Input() bool { return true }

// Margins is the number of raw scores per row (num_tree_per_iteration).
func (m *Model) Margins() int { return m.k }

// NumTrees is the number of trees.
func (m *Model) NumTrees() int { return len(m.trees) }

// NumNodes is the number of splits and leaves.
func (m *Model) NumNodes() int { return len(m.nodes) + len(m.leaves) }

// block is the number of rows scored together: each tree is walked for
// the whole block before the next, so a row's sum stays in tree order.
const block = 64

// scratch is per-call working memory, pooled so that a call allocates
// nothing once warm.
type scratch struct {
	x   []float64 // widened float32 input (Predict)
	out []float64 // float64 outputs (Predict, Predict64)
	key []uint64  // expanded rows of the fast walk
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// check validates the shape of a call and returns the number of rows.
func (m *Model) check(nx, nout, per int) (int, error) {
	if nx%m.nfeat != 0 {
		return 0, fmt.Errorf("%w: %d inputs is not a whole number of rows of %d features", scoring.ErrShape, nx, m.nfeat)
	}
	n := nx / m.nfeat
	if nout != n*per {
		return 0, fmt.Errorf("%w: %d rows need %d outputs, got %d", scoring.ErrShape, n, n*per, nout)
	}
	return n, nil
}

// Predict64To64 scores n rows of float64 inputs (NaN = missing) into n
// rows of Info().Outputs() float64 values: P(class 1), one probability per
// class, or the prediction, exactly as LightGBM's predict computes them.
func (m *Model) Predict64To64(x, out []float64) error {
	n, err := m.check(len(x), len(out), m.k)
	if err != nil {
		return err
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	m.score(x, out, n, s, true)
	return nil
}

// PredictMargins64 writes the raw scores (n rows × Margins()), as
// LightGBM's predict(raw_score=True): the sum of the trees, before any
// averaging or transform.
func (m *Model) PredictMargins64(x, out []float64) error {
	n, err := m.check(len(x), len(out), m.k)
	if err != nil {
		return err
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	m.score(x, out, n, s, false)
	return nil
}

// Predict64 is Predict64To64 with the outputs rounded to float32.
func (m *Model) Predict64(x []float64, out []float32) error {
	n, err := m.check(len(x), len(out), m.k)
	if err != nil {
		return err
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	s.out = grow(s.out, block*m.k)
	for start := 0; start < n; start += block {
		rows := min(block, n-start)
		o := s.out[:rows*m.k]
		m.score(x[start*m.nfeat:(start+rows)*m.nfeat], o, rows, s, true)
		for i, v := range o {
			out[start*m.k+i] = float32(v)
		}
	}
	return nil
}

// Predict implements scoring.Model for float32 callers: each input is
// widened to float64 exactly (as LightGBM does with float32 data) and the
// result rounded to float32.
func (m *Model) Predict(x, out []float32) error {
	n, err := m.check(len(x), len(out), m.k)
	if err != nil {
		return err
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	s.out = grow(s.out, block*m.k)
	s.x = grow(s.x, block*m.nfeat)
	for start := 0; start < n; start += block {
		rows := min(block, n-start)
		xs := s.x[:rows*m.nfeat]
		for i, v := range x[start*m.nfeat : (start+rows)*m.nfeat] {
			xs[i] = float64(v)
		}
		o := s.out[:rows*m.k]
		m.score(xs, o, rows, s, true)
		for i, v := range o {
			out[start*m.k+i] = float32(v)
		}
	}
	return nil
}

// score writes the raw sums of n rows to out and, when final, averages
// and transforms them.
func (m *Model) score(x, out []float64, n int, s *scratch, final bool) {
	clear(out)
	for start := 0; start < n; start += block {
		rows := min(block, n-start)
		xb := x[start*m.nfeat : (start+rows)*m.nfeat]
		ob := out[start*m.k : (start+rows)*m.k]
		if m.fast.trees != nil {
			s.key = grow(s.key, block*m.fast.width)
			m.fast.expand(xb, rows, m.nfeat, s.key)
		}
		for t := range m.trees {
			tr := &m.trees[t]
			if tr.fast >= 0 {
				m.fast.walk(int(tr.fast), s.key, rows, ob[tr.class:], m.k)
				continue
			}
			m.walkTree(tr, xb, rows, ob[tr.class:])
		}
	}
	if !final {
		return
	}
	if m.average {
		it := float64(m.iterations)
		for i := range out {
			out[i] /= it
		}
	}
	if m.v2Forest || m.obj.kind == objIdentity || m.obj.kind == objNone {
		return
	}
	for r := 0; r < n; r++ {
		m.obj.transform(out[r*m.k : (r+1)*m.k])
	}
}

// Describe lists what `streamscore model inspect` adds for LightGBM:
// header version, objective, boosting, iterations and special features.
func (m *Model) Describe() []string {
	var lines []string
	obj := m.objText
	if obj == "" {
		obj = "none (custom objective: the raw score)"
	}
	lines = append(lines, fmt.Sprintf("lightgbm: %s header, objective %s, %d iterations × %d trees", m.version, obj, m.iterations, m.k))
	var flags []string
	if b := m.params["boosting"]; b != "" {
		flags = append(flags, "boosting "+b)
	}
	if m.average {
		flags = append(flags, "average_output")
	}
	if m.v2Forest {
		flags = append(flags, "LightGBM 2.x forest (leaf outputs averaged, no transform)")
	}
	nlin, ncat, npad, nsparse := 0, 0, 0, 0
	for _, t := range m.trees {
		if t.isLinear {
			nlin++
		}
		if t.hasCat {
			ncat++
		}
		switch {
		case t.fast >= 0 && m.fast.trees[t.fast].next != nil:
			nsparse++
		case t.fast >= 0:
			npad++
		}
	}
	if nlin > 0 {
		flags = append(flags, fmt.Sprintf("linear_tree (%d linear trees)", nlin))
	}
	if ncat > 0 {
		flags = append(flags, fmt.Sprintf("%d trees with categorical splits", ncat))
	}
	flags = append(flags, fmt.Sprintf("branch-free walk: %d padded, %d sparse trees; node walk: %d", npad, nsparse, len(m.trees)-npad-nsparse))
	lines = append(lines, "          "+strings.Join(flags, "; "))
	var cats []string
	for i, c := range m.info.Categories {
		if c != nil {
			cats = append(cats, fmt.Sprintf("%s (%d)", m.info.Features[i], len(c)))
		}
	}
	if len(cats) > 0 {
		lines = append(lines, "          categories (pandas_categorical): "+strings.Join(cats, ", "))
	}
	if m.catNote != "" {
		lines = append(lines, "          "+m.catNote)
	}
	return lines
}

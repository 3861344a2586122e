package onnxml

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/streamscore/streamscore/scoring"
)

// ErrUnsupported is wrapped by load errors for valid ONNX models that use
// an operator, attribute or type this evaluator does not implement.
var ErrUnsupported = errors.New("unsupported ONNX model")

// ErrNoEstimator is wrapped by the load error of a graph that transforms
// its inputs but holds no estimator (a bare StandardScaler, say): its output
// is not a prediction.
var ErrNoEstimator = errors.New("the ONNX graph has no estimator")

// Format is reported in Info.Format.
const Format = "onnx"

// value is one tensor of a running graph: n rows of cols values of one
// element type. Constants (initializers) have rows fixed at load. A string
// tensor holds category codes in i64 (see Model.cats), −1 for a category
// no encoder of the graph knows.
type value struct {
	dt   int32
	cols int
	f32  []float32
	f64  []float64
	i64  []int64
}

// role says what a value is to the model.
type role uint8

const (
	roleFeature    role = iota // inputs and transforms of inputs
	roleRegression             // a regressor's prediction (or raw linear scores)
	roleClassifier             // a classifier's class scores or probabilities
)

// slotInfo is what compilation knows of a value.
type slotInfo struct {
	dt    int32
	dims  []int // per-row dimensions (the batch dimension left out)
	cols  int   // product of dims
	konst *value
	role  role
	src   []int // string values: the model feature each column comes from
}

// step computes one node's outputs for n rows.
type step func(fr *frame, n int)

// frame is the scratch of one Predict call, reused through a pool.
type frame struct {
	vals    []value
	scratch []float64 // per-row scratch of the tree ensembles
	has     []bool
	xrow    []float64
	row     []float32
	xrow32  []float32
	sc      []float32
	bad     []bool // rows that cannot be scored (an unknown category where the encoder refuses one)
	anyBad  bool
}

// out sizes a slot's buffer for n rows.
func (fr *frame) out(slot, n int) *value {
	v := &fr.vals[slot]
	size := n * v.cols
	switch v.dt {
	case dtFloat:
		if cap(v.f32) < size {
			v.f32 = make([]float32, size)
		}
		v.f32 = v.f32[:size]
	case dtDouble:
		if cap(v.f64) < size {
			v.f64 = make([]float64, size)
		}
		v.f64 = v.f64[:size]
	default: // int64 and string codes
		if cap(v.i64) < size {
			v.i64 = make([]int64, size)
		}
		v.i64 = v.i64[:size]
	}
	return v
}

func (fr *frame) scores(k int) []float32 {
	if cap(fr.sc) < k {
		fr.sc = make([]float32, k)
	}
	return fr.sc[:k]
}

// markBad flags row r as unscorable: its outputs become NaN.
func (fr *frame) markBad(r int) {
	fr.bad[r], fr.anyBad = true, true
}

// Model is a compiled ONNX graph. It is immutable and safe for concurrent
// use.
type Model struct {
	info     scoring.Info
	slots    []slotInfo
	inputs   []int // graph input slots, in order
	steps    []step
	output   int // slot of the probabilities (classifier) or prediction
	f64Input bool
	pool     sync.Pool
	nodes    int
	trees    int
	opsUsed  []string

	// batch1: every graph input has its batch dimension fixed at 1, so
	// onnxruntime can only run it one row at a time (see gemm.go).
	batch1 bool
	// cats holds, per model feature, the categories of a string input
	// column: the union of the lists of the encoders reading it, in first
	// use order (a code is an index in it); nil for other features.
	cats [][]string
	// catOf is, per model feature, the category list it shares with the
	// string columns read by the same encoders (nil for other features),
	// and catEntries the length of every feature's list, summed; codeRegs
	// are the encoders' code tables, filled when the lists are complete,
	// and tableEntries a lower bound of their entries.
	catOf        []*catList
	catEntries   int
	tableEntries int
	codeRegs     []codeReg

	// open: the single tensor input has no fixed column count; the model
	// takes it from the features file (FitWidth). minWidth is the count the
	// graph needs at least.
	open     bool
	minWidth int
	graph    *graphProto

	// rowValues is the values per row of every tensor a frame holds
	// (constants left out); Predict scores chunks of chunkRows rows.
	rowValues int
	chunkRows int
}

// Load reads an ONNX model file; name empty means the file name without
// extension.
func Load(path, name string) (*Model, error) {
	return scoring.LoadFile(path, name, Parse)
}

// Parse compiles a model from memory. The version is the model's
// model_version when set, else a hash of data.
func Parse(data []byte, name string) (*Model, error) {
	mp, err := decodeModel(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	version := hex.EncodeToString(sum[:6])
	if mp.modelVersion > 0 {
		version = fmt.Sprintf("%d", mp.modelVersion)
	}
	return build(&mp.graph, name, version, 0)
}

// build compiles g; width > 0 sets the column count of an input whose
// count the file leaves open.
func build(g *graphProto, name, version string, width int) (*Model, error) {
	m := &Model{graph: g}
	if err := m.compile(g, width); err != nil {
		return nil, err
	}
	m.info.Name, m.info.Format, m.info.Version = name, Format, version
	m.chunkRows = max(1, frameValues/max(1, m.rowValues))
	if m.open && width == 0 {
		m.info.Features, m.info.Categories = nil, nil
	}
	m.pool.New = func() any {
		fr := &frame{vals: make([]value, len(m.slots))}
		for i, s := range m.slots {
			if s.konst != nil {
				fr.vals[i] = *s.konst
			} else {
				fr.vals[i] = value{dt: s.dt, cols: s.cols}
			}
		}
		return fr
	}
	return m, nil
}

// FitWidth implements scoring.WidthFitter: a model whose input has no
// fixed column count (shape [N, ?]) is compiled for the n columns the
// features file lists. Any other model is returned as it is.
func (m *Model) FitWidth(n int) (scoring.Model, error) {
	if !m.open || len(m.info.Features) > 0 {
		return m, nil
	}
	if n <= 0 {
		return nil, errors.New("the model's input has no fixed number of columns: give a features file (FEATURES_PATH or --features) that lists them in order")
	}
	if n > maxColumns {
		return nil, fmt.Errorf("the features file lists %d columns (at most %d)", n, maxColumns)
	}
	if n < m.minWidth {
		return nil, fmt.Errorf("the features file lists %d columns, but the graph reads column %d (it needs at least %d)", n, m.minWidth-1, m.minWidth)
	}
	fitted, err := build(m.graph, m.info.Name, m.info.Version, n)
	if err != nil {
		return nil, fmt.Errorf("the graph does not take the %d columns of the features file: %w", n, err)
	}
	return fitted, nil
}

// MinWidth is the least number of input columns an open-width model needs
// (0 for a model whose width is fixed).
func (m *Model) MinWidth() int {
	if !m.open {
		return 0
	}
	return m.minWidth
}

func (m *Model) addSlot(names map[string]int, name string, s slotInfo) int {
	if s.dims == nil {
		s.dims = []int{s.cols}
	}
	if s.konst == nil {
		m.rowValues += s.cols
	}
	m.slots = append(m.slots, s)
	names[name] = len(m.slots) - 1
	return len(m.slots) - 1
}

// constValue reads an initializer's values in its element type (float,
// double or int64); int64 values are read exactly (a float64 holds
// integers exactly only up to 2^53).
func constValue(t *tensorProto) (*value, error) {
	switch t.dataType {
	case dtInt64:
		is, err := tensorInts(t)
		if err != nil {
			return nil, err
		}
		return &value{dt: dtInt64, i64: is}, nil
	case dtFloat:
		xs, err := t.float64s()
		if err != nil {
			return nil, err
		}
		return &value{dt: dtFloat, f32: toF32(xs)}, nil
	}
	xs, err := t.float64s()
	if err != nil {
		return nil, err
	}
	return &value{dt: dtDouble, f64: xs}, nil
}

func (m *Model) compile(g *graphProto, width int) error {
	names := map[string]int{}
	for i := range g.initializer {
		t := &g.initializer[i]
		v, err := constValue(t)
		if err != nil {
			return fmt.Errorf("%w: initializer %q: %v", ErrUnsupported, t.name, err)
		}
		cols := 1
		var dims []int
		if len(t.dims) > 0 {
			for _, d := range t.dims {
				if d < 0 || d > math.MaxInt {
					return fmt.Errorf("%w: initializer %q has dimensions %v", ErrUnsupported, t.name, t.dims)
				}
				dims = append(dims, int(d))
			}
			cols = dims[len(dims)-1]
		}
		v.cols = cols
		// the declared shape must hold exactly the values the file stores
		n := len(v.f32) + len(v.f64) + len(v.i64)
		if p, ok := prodBounded(dims, math.MaxInt); !ok || p != n {
			return fmt.Errorf("%w: initializer %q has dimensions %v but %d values", ErrUnsupported, t.name, t.dims, n)
		}
		m.addSlot(names, t.name, slotInfo{dt: v.dt, cols: cols, dims: dims, konst: v})
	}
	var tensorInputs []valueInfo
	for _, in := range g.inputs {
		if _, isInit := names[in.name]; !isInit {
			tensorInputs = append(tensorInputs, in)
		}
	}
	if len(tensorInputs) == 0 {
		return fmt.Errorf("%w: the graph has no inputs", ErrUnsupported)
	}
	m.batch1 = true
	for _, in := range tensorInputs {
		if !in.isTensor {
			return fmt.Errorf("%w: input %q is not a tensor", ErrUnsupported, in.name)
		}
		switch in.elemType {
		case dtFloat, dtDouble, dtInt64, dtString:
		default:
			return fmt.Errorf("%w: input %q has element type %s (want float, double, int64 or string)", ErrUnsupported, in.name, typeName(in.elemType))
		}
		cols := 1
		switch len(in.dims) {
		case 1:
		case 2:
			cols = int(in.dims[1])
			if in.dims[1] <= 0 {
				if len(tensorInputs) > 1 {
					return fmt.Errorf("%w: input %q has an unknown number of columns (only a graph with one input may leave it open)", ErrUnsupported, in.name)
				}
				m.open = true
				if m.minWidth, cols = probeWidth(g, in.name); cols == 0 {
					return fmt.Errorf("%w: input %q has an unknown number of columns and no operator reading it fixes one", ErrUnsupported, in.name)
				}
				if width > 0 {
					cols = width
				}
			}
		default:
			return fmt.Errorf("%w: input %q has rank %d (want [N] or [N, F])", ErrUnsupported, in.name, len(in.dims))
		}
		if cols > maxColumns {
			return fmt.Errorf("%w: input %q has %d columns (at most %d)", ErrUnsupported, in.name, cols, maxColumns)
		}
		if len(m.info.Features)+cols > maxColumns {
			return fmt.Errorf("%w: the graph's inputs have more than %d columns together (input %q has %d)", ErrUnsupported, maxColumns, in.name, cols)
		}
		if len(in.dims) == 0 || in.dims[0] != 1 {
			m.batch1 = false
		}
		si := slotInfo{dt: in.elemType, cols: cols}
		first := len(m.info.Features)
		if in.elemType == dtString {
			for k := 0; k < cols; k++ {
				si.src = append(si.src, first+k)
			}
		}
		slot := m.addSlot(names, in.name, si)
		m.inputs = append(m.inputs, slot)
		if in.elemType == dtDouble {
			m.f64Input = true
		}
		for k := 0; k < cols; k++ {
			name := in.name
			if len(tensorInputs) == 1 || cols > 1 {
				name = "" // unnamed: the features file names them
			}
			m.info.Features = append(m.info.Features, name)
			m.cats = append(m.cats, nil)
			m.catOf = append(m.catOf, nil)
			if in.elemType == dtString {
				m.cats[first+k] = []string{}
			}
		}
		if in.elemType == dtString {
			// the input's columns share one list until an encoder reads
			// some of them only
			l := newCatList(cols)
			for k := 0; k < cols; k++ {
				m.catOf[first+k] = l
			}
		}
	}
	// An operator this evaluator lacks is named first, before any other
	// node's problem (a text pipeline fails on its tokenizer, not on the
	// reshape before it).
	for _, nd := range g.nodes {
		if nd.domain != "" && nd.domain != "ai.onnx.ml" && nd.domain != "ai.onnx" {
			return fmt.Errorf("%w: operator %s of domain %q", ErrUnsupported, nd.opType, nd.domain)
		}
		if !supportedOps[nd.opType] {
			return fmt.Errorf("node %q (%s): %w: operator %s (domain %q)", nd.name, nd.opType, ErrUnsupported, nd.opType, nd.domain)
		}
	}
	seen := map[string]bool{}
	for _, nd := range g.nodes {
		in := make([]int, len(nd.inputs))
		for k, name := range nd.inputs {
			slot, ok := names[name]
			if !ok && name != "" {
				return fmt.Errorf("node %s (%s): input %q is not produced by any earlier node", nd.name, nd.opType, name)
			}
			in[k] = slot
		}
		b, err := buildNode(m, &nd, in)
		if err != nil {
			return fmt.Errorf("node %q (%s): %w", nd.name, nd.opType, err)
		}
		if len(b.outs) > len(nd.outputs) {
			b.outs = b.outs[:len(nd.outputs)]
		}
		// a node's outputs are predictions when it is an estimator or reads one
		inRole := roleFeature
		for _, s := range in {
			inRole = max(inRole, m.slots[s].role)
		}
		outSlots := make([]int, len(b.outs))
		for k, o := range b.outs {
			if o.alias >= 0 {
				outSlots[k] = o.alias
				names[nd.outputs[k]] = o.alias
				continue
			}
			if err := checkWidth(o.cols, o.dims); err != nil {
				return fmt.Errorf("node %q (%s): output %q: %w", nd.name, nd.opType, nd.outputs[k], err)
			}
			// rowValues is at most maxRowValues and cols maxColumns: no overflow
			if m.rowValues+o.cols > maxRowValues {
				return fmt.Errorf("node %q (%s): output %q: %w: %d values per row, which bring the graph's tensors to %d values per row together (at most %d)",
					nd.name, nd.opType, nd.outputs[k], ErrUnsupported, o.cols, m.rowValues+o.cols, maxRowValues)
			}
			si := slotInfo{dt: o.dt, cols: o.cols, dims: o.dims, role: max(inRole, o.role), src: o.src}
			if b.role != roleFeature {
				si.role = b.role
			}
			outSlots[k] = m.addSlot(names, nd.outputs[k], si)
		}
		if b.make != nil {
			m.steps = append(m.steps, b.make(outSlots))
		}
		m.nodes += b.nodes
		m.trees += b.trees
		if !seen[nd.opType] {
			seen[nd.opType] = true
			m.opsUsed = append(m.opsUsed, nd.opType)
		}
	}
	if err := m.codeTables(); err != nil {
		return err
	}
	for _, c := range m.cats {
		if c != nil {
			m.info.Categories = m.cats
			break
		}
	}
	return m.chooseOutput(g, names)
}

// probeWidth reads the column count an open input needs from the operators
// that read it: at least one more than the highest feature a tree splits
// on (min), or exactly what a linear model's coefficients or a Scaler's
// per-column values fix. It returns the width to compile the graph with
// at load (0: nothing fixes one).
func probeWidth(g *graphProto, input string) (min, width int) {
	for i := range g.nodes {
		nd := &g.nodes[i]
		if len(nd.inputs) == 0 || nd.inputs[0] != input {
			continue
		}
		switch nd.opType {
		case "TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble":
			for _, f := range attrInts(nd, "nodes_featureids") {
				min = max(min, int(f)+1)
			}
			width = max(width, min, 1)
		case "LinearClassifier", "LinearRegressor":
			coef, _, _ := attrFloats(nd, "coefficients")
			k := len(attrFloatsOnly(nd, "intercepts"))
			if nd.opType == "LinearRegressor" {
				k = int(attrInt(nd, "targets", 1))
			}
			if k > 0 && len(coef)%k == 0 {
				min = max(min, len(coef)/k)
				width = max(width, len(coef)/k)
			}
		case "Scaler":
			off, _, _ := attrFloats(nd, "offset")
			sc, _, _ := attrFloats(nd, "scale")
			if w := max(len(off), len(sc)); w > 1 {
				min, width = max(min, w), max(width, w)
			}
		}
	}
	return min, width
}

func attrFloatsOnly(nd *nodeProto, name string) []float64 {
	v, _, _ := attrFloats(nd, name)
	return v
}

// chooseOutput picks the graph output that holds the probabilities (a
// classifier's float tensor, or the tensor a ZipMap zips) or the prediction.
func (m *Model) chooseOutput(g *graphProto, names map[string]int) error {
	best := -1
	for _, o := range g.outputs {
		slot, ok := names[o.name]
		if !ok {
			return fmt.Errorf("graph output %q is not produced by any node", o.name)
		}
		s := m.slots[slot]
		if s.dt == dtFloat || s.dt == dtDouble {
			best = slot // the last float output: probabilities after the label
		}
	}
	if best < 0 {
		return fmt.Errorf("%w: no float output (probabilities or prediction) among the graph outputs", ErrUnsupported)
	}
	m.output = best
	s := m.slots[best]
	cols := s.cols
	switch s.role {
	case roleFeature:
		return fmt.Errorf("%w (operators %v): it transforms its inputs but predicts nothing; export the pipeline with its final estimator", ErrNoEstimator, m.opsUsed)
	case roleClassifier:
		if cols < 2 {
			return fmt.Errorf("%w: classifier output with %d column", ErrUnsupported, cols)
		}
		m.info.Output, m.info.Classes = scoring.MultiClass, cols
		if cols == 2 {
			m.info.Output = scoring.Binary
		}
	default:
		m.info.Output, m.info.Classes = scoring.Regression, 1
		if cols > 1 {
			m.info.Targets = cols
		}
	}
	return nil
}

// outSpec describes one output of a node: a new value, or an alias of an
// existing slot (Identity, ZipMap).
type outSpec struct {
	dt    int32
	cols  int
	dims  []int
	alias int
	role  role
	src   []int
}

// built is what an operator builder returns.
type built struct {
	outs  []outSpec
	make  func(out []int) step
	role  role // roleClassifier or roleRegression for estimators
	nodes int
	trees int
}

func newOut(dt int32, cols int) outSpec { return outSpec{dt: dt, cols: cols, alias: -1} }

// Info describes the model.
func (m *Model) Info() scoring.Info { return m.info }

// NumTrees and NumNodes count the tree ensembles' trees and nodes.
func (m *Model) NumTrees() int { return m.trees }

// NumNodes is the number of tree nodes.
func (m *Model) NumNodes() int { return m.nodes }

// Operators lists the operator types of the graph, in first-use order.
func (m *Model) Operators() []string { return append([]string(nil), m.opsUsed...) }

// Float64Input reports whether the graph declares double input; such a
// model is best fed with Predict64, as onnxruntime computes it in double.
func (m *Model) Float64Input() bool { return m.f64Input }

// Predict implements scoring.Model. A string input column takes the code
// of its category (an index in Info().Categories; NaN for a category no
// encoder knows).
func (m *Model) Predict(x, out []float32) error {
	n, err := scoring.CheckShape(m.info, x, out)
	if err != nil {
		return err
	}
	if n > m.chunkRows {
		return predictChunks(m, x, out, n, m.Predict)
	}
	fr := m.pool.Get().(*frame)
	defer m.pool.Put(fr)
	m.begin(fr, n)
	nf := len(m.info.Features)
	m.feed(fr, n, func(col int, dst *value, r, c int) {
		v := x[r*nf+col]
		switch dst.dt {
		case dtFloat:
			dst.f32[r*dst.cols+c] = v
		case dtDouble:
			dst.f64[r*dst.cols+c] = float64(v)
		case dtInt64:
			dst.i64[r*dst.cols+c] = int64(v)
		case dtString:
			dst.i64[r*dst.cols+c] = m.code(fr, col, r, float64(v))
		}
	})
	m.run(fr, n, out)
	return nil
}

// Predict64 is Predict for float64 rows (graphs with double input).
func (m *Model) Predict64(x []float64, out []float32) error {
	nf := len(m.info.Features)
	if nf == 0 || len(x)%nf != 0 || len(out) != len(x)/nf*m.info.Outputs() {
		return fmt.Errorf("%w: %d inputs, %d outputs for %d features", scoring.ErrShape, len(x), len(out), nf)
	}
	n := len(x) / nf
	if n > m.chunkRows {
		return predictChunks(m, x, out, n, m.Predict64)
	}
	fr := m.pool.Get().(*frame)
	defer m.pool.Put(fr)
	m.begin(fr, n)
	m.feed(fr, n, func(col int, dst *value, r, c int) {
		v := x[r*nf+col]
		switch dst.dt {
		case dtFloat:
			dst.f32[r*dst.cols+c] = float32(v)
		case dtDouble:
			dst.f64[r*dst.cols+c] = v
		case dtInt64:
			dst.i64[r*dst.cols+c] = int64(v)
		case dtString:
			dst.i64[r*dst.cols+c] = m.code(fr, col, r, v)
		}
	})
	m.run(fr, n, out)
	return nil
}

// predictChunks scores the n rows of x with predict in chunks of at most
// m.chunkRows rows, so that a frame holds at most frameValues values
// however large the batch.
func predictChunks[T float32 | float64](m *Model, x []T, out []float32, n int, predict func([]T, []float32) error) error {
	nf, no := len(m.info.Features), m.info.Outputs()
	for lo := 0; lo < n; lo += m.chunkRows {
		hi := min(n, lo+m.chunkRows)
		if err := predict(x[lo*nf:hi*nf], out[lo*no:hi*no]); err != nil {
			return err
		}
	}
	return nil
}

// code reads the category code of a string column: NaN is a category no
// encoder knows (−1); anything but a whole number indexing the feature's
// category list cannot be scored.
func (m *Model) code(fr *frame, col, r int, v float64) int64 {
	if v != v {
		return -1
	}
	if v < 0 || v >= float64(len(m.cats[col])) || v != math.Trunc(v) {
		fr.markBad(r)
		return -1
	}
	return int64(v)
}

func (m *Model) begin(fr *frame, n int) {
	if cap(fr.bad) < n {
		fr.bad = make([]bool, n)
	}
	fr.bad = fr.bad[:n]
	clear(fr.bad)
	fr.anyBad = false
}

// feed splits the row-major input columns over the graph inputs.
func (m *Model) feed(fr *frame, n int, set func(col int, dst *value, r, c int)) {
	col := 0
	for _, slot := range m.inputs {
		dst := fr.out(slot, n)
		for c := 0; c < dst.cols; c++ {
			for r := 0; r < n; r++ {
				set(col+c, dst, r, c)
			}
		}
		col += dst.cols
	}
}

func (m *Model) run(fr *frame, n int, out []float32) {
	for _, s := range m.steps {
		s(fr, n)
	}
	v := &fr.vals[m.output]
	k := v.cols
	no := m.info.Outputs()
	for r := 0; r < n; r++ {
		switch {
		case m.info.Output == scoring.Binary:
			out[r] = v.at32(r*k + 1)
		default:
			for c := 0; c < no; c++ {
				out[r*no+c] = v.at32(r*k + c)
			}
		}
		if fr.anyBad && fr.bad[r] {
			for c := 0; c < no; c++ {
				out[r*no+c] = float32(math.NaN())
			}
		}
	}
}

func (v *value) at32(i int) float32 {
	if v.dt == dtDouble {
		return float32(v.f64[i])
	}
	return v.f32[i]
}

func (v *value) at64(i int) float64 {
	switch v.dt {
	case dtDouble:
		return v.f64[i]
	case dtInt64:
		return float64(v.i64[i])
	}
	return float64(v.f32[i])
}

func (v *value) at32f(i int) float32 {
	switch v.dt {
	case dtDouble:
		return float32(v.f64[i])
	case dtInt64:
		return float32(v.i64[i])
	}
	return v.f32[i]
}

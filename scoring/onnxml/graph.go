package onnxml

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/streamscore/streamscore/scoring"
)

// ErrUnsupported is wrapped by load errors for valid ONNX models that use
// an operator, attribute or type this evaluator does not implement.
var ErrUnsupported = errors.New("unsupported ONNX model")

// Format is reported in Info.Format.
const Format = "onnx"

// value is one tensor of a running graph: n rows of cols values of one
// element type. Constants (initializers) have rows fixed at load.
type value struct {
	dt   int32
	cols int
	f32  []float32
	f64  []float64
	i64  []int64
}

// slotInfo is what compilation knows of a value: type and width.
type slotInfo struct {
	dt    int32
	cols  int
	konst *value // non-nil for initializers
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
}

// grow sizes a slot's buffer for n rows.
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
	case dtInt64:
		if cap(v.i64) < size {
			v.i64 = make([]int64, size)
		}
		v.i64 = v.i64[:size]
	}
	return v
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
	m := &Model{}
	if err := m.compile(&mp.graph); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	m.info.Name, m.info.Format = name, Format
	m.info.Version = hex.EncodeToString(sum[:6])
	if mp.modelVersion > 0 {
		m.info.Version = fmt.Sprintf("%d", mp.modelVersion)
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

func (m *Model) compile(g *graphProto) error {
	names := map[string]int{}
	add := func(name string, s slotInfo) int {
		m.slots = append(m.slots, s)
		names[name] = len(m.slots) - 1
		return len(m.slots) - 1
	}
	for i := range g.initializer {
		t := &g.initializer[i]
		xs, err := t.float64s()
		if err != nil {
			return fmt.Errorf("%w: initializer %q: %v", ErrUnsupported, t.name, err)
		}
		cols := 1
		if len(t.dims) > 0 {
			cols = int(t.dims[len(t.dims)-1])
		}
		v := &value{dt: dtDouble, cols: cols, f64: xs}
		if t.dataType == dtFloat {
			v.dt, v.f64 = dtFloat, nil
			v.f32 = make([]float32, len(xs))
			for k, x := range xs {
				v.f32[k] = float32(x)
			}
		} else if t.dataType == dtInt64 {
			v.dt, v.f64 = dtInt64, nil
			v.i64 = make([]int64, len(xs))
			for k, x := range xs {
				v.i64[k] = int64(x)
			}
		}
		add(t.name, slotInfo{dt: v.dt, cols: cols, konst: v})
	}
	for _, in := range g.inputs {
		if _, isInit := names[in.name]; isInit {
			continue
		}
		if !in.isTensor {
			return fmt.Errorf("%w: input %q is not a tensor", ErrUnsupported, in.name)
		}
		switch in.elemType {
		case dtFloat, dtDouble, dtInt64:
		default:
			return fmt.Errorf("%w: input %q has element type %d (want float, double or int64)", ErrUnsupported, in.name, in.elemType)
		}
		cols := 1
		switch len(in.dims) {
		case 1:
		case 2:
			if in.dims[1] <= 0 {
				return fmt.Errorf("%w: input %q has an unknown number of columns", ErrUnsupported, in.name)
			}
			cols = int(in.dims[1])
		default:
			return fmt.Errorf("%w: input %q has rank %d (want [N] or [N, F])", ErrUnsupported, in.name, len(in.dims))
		}
		slot := add(in.name, slotInfo{dt: in.elemType, cols: cols})
		m.inputs = append(m.inputs, slot)
		if in.elemType == dtDouble {
			m.f64Input = true
		}
		if len(g.inputs) == 1 || cols > 1 {
			for k := 0; k < cols; k++ {
				m.info.Features = append(m.info.Features, "") // unnamed: the features file names them
			}
		} else {
			m.info.Features = append(m.info.Features, in.name)
		}
	}
	if len(m.inputs) == 0 {
		return fmt.Errorf("%w: the graph has no inputs", ErrUnsupported)
	}
	classifier := -1 // class count of the last classifier node
	seen := map[string]bool{}
	for _, nd := range g.nodes {
		if nd.domain != "" && nd.domain != "ai.onnx.ml" && nd.domain != "ai.onnx" {
			return fmt.Errorf("%w: operator %s of domain %q", ErrUnsupported, nd.opType, nd.domain)
		}
		in := make([]int, len(nd.inputs))
		for k, name := range nd.inputs {
			slot, ok := names[name]
			if !ok && name != "" {
				return fmt.Errorf("node %s (%s): input %q is not produced by any earlier node", nd.name, nd.opType, name)
			}
			in[k] = slot
		}
		b, err := build(m, &nd, in)
		if err != nil {
			return fmt.Errorf("node %q (%s): %w", nd.name, nd.opType, err)
		}
		if len(b.outs) > len(nd.outputs) {
			b.outs = b.outs[:len(nd.outputs)]
		}
		outSlots := make([]int, len(b.outs))
		for k, o := range b.outs {
			if o.alias >= 0 {
				outSlots[k] = o.alias
				names[nd.outputs[k]] = o.alias
				continue
			}
			outSlots[k] = add(nd.outputs[k], slotInfo{dt: o.dt, cols: o.cols})
		}
		if b.make != nil {
			m.steps = append(m.steps, b.make(outSlots))
		}
		if b.classes > 0 {
			classifier = b.classes
		}
		m.nodes += b.nodes
		m.trees += b.trees
		if !seen[nd.opType] {
			seen[nd.opType] = true
			m.opsUsed = append(m.opsUsed, nd.opType)
		}
	}
	return m.chooseOutput(g, names, classifier)
}

// chooseOutput picks the graph output that holds the probabilities (a
// classifier's float tensor, or the tensor a ZipMap zips) or the prediction.
func (m *Model) chooseOutput(g *graphProto, names map[string]int, classes int) error {
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
	cols := m.slots[best].cols
	switch {
	case classes > 0 || cols > 1:
		if cols < 2 {
			return fmt.Errorf("%w: classifier output with %d column", ErrUnsupported, cols)
		}
		m.info.Output, m.info.Classes = scoring.MultiClass, cols
		if cols == 2 {
			m.info.Output = scoring.Binary
		}
	default:
		m.info.Output, m.info.Classes = scoring.Regression, 1
	}
	return nil
}

// outSpec describes one output of a node: a new value, or an alias of an
// existing slot (Identity, ZipMap).
type outSpec struct {
	dt    int32
	cols  int
	alias int
}

// built is what an operator builder returns.
type built struct {
	outs    []outSpec
	make    func(out []int) step
	classes int // > 0 for classifiers
	nodes   int
	trees   int
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

// Predict implements scoring.Model.
func (m *Model) Predict(x, out []float32) error {
	n, err := scoring.CheckShape(m.info, x, out)
	if err != nil {
		return err
	}
	fr := m.pool.Get().(*frame)
	defer m.pool.Put(fr)
	m.feed(fr, n, func(col int, dst *value, r, c int) {
		v := x[r*len(m.info.Features)+col]
		switch dst.dt {
		case dtFloat:
			dst.f32[r*dst.cols+c] = v
		case dtDouble:
			dst.f64[r*dst.cols+c] = float64(v)
		case dtInt64:
			dst.i64[r*dst.cols+c] = int64(v)
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
	fr := m.pool.Get().(*frame)
	defer m.pool.Put(fr)
	m.feed(fr, n, func(col int, dst *value, r, c int) {
		v := x[r*nf+col]
		switch dst.dt {
		case dtFloat:
			dst.f32[r*dst.cols+c] = float32(v)
		case dtDouble:
			dst.f64[r*dst.cols+c] = v
		case dtInt64:
			dst.i64[r*dst.cols+c] = int64(v)
		}
	})
	m.run(fr, n, out)
	return nil
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
	for r := 0; r < n; r++ {
		switch m.info.Output {
		case scoring.Binary:
			out[r] = v.at32(r*k + 1)
		case scoring.MultiClass:
			for c := 0; c < k; c++ {
				out[r*k+c] = v.at32(r*k + c)
			}
		default:
			out[r] = v.at32(r * k)
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

package onnxml

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// A tiny ONNX writer for tests: enough of onnx.proto to build graphs.

type tAttr struct {
	name   string
	typ    int64 // 1 float, 2 int, 3 string, 4 tensor, 6 floats, 7 ints, 8 strings
	f      float32
	i      int64
	s      string
	floats []float32
	ints   []int64
	strs   []string
	tensor []byte
}

func aInts(name string, xs ...int64) tAttr     { return tAttr{name: name, typ: 7, ints: xs} }
func aFloats(name string, xs ...float32) tAttr { return tAttr{name: name, typ: 6, floats: xs} }
func aStrings(name string, xs ...string) tAttr { return tAttr{name: name, typ: 8, strs: xs} }
func aString(name, s string) tAttr             { return tAttr{name: name, typ: 3, s: s} }
func aInt(name string, i int64) tAttr          { return tAttr{name: name, typ: 2, i: i} }
func aFloat(name string, f float32) tAttr      { return tAttr{name: name, typ: 1, f: f} }

// aIntTensor is an integer tensor attribute (uint8 or int32 values in
// int32_data, as the onnx package writes them; int64 in int64_data).
func aIntTensor(name string, dt int32, xs ...int64) tAttr {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(len(xs)))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(dt))
	field := protowire.Number(5)
	if dt == dtInt64 {
		field = 7
	}
	for _, x := range xs {
		b = protowire.AppendTag(b, field, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(x))
	}
	return tAttr{name: name, typ: 4, tensor: b}
}

func aFloatTensor(name string, xs ...float64) tAttr {
	return tAttr{name: name, typ: 4, tensor: encTensor("", dtFloat, []int64{int64(len(xs))}, xs)}
}

func aDoubleTensor(name string, xs ...float64) tAttr {
	return tAttr{name: name, typ: 4, tensor: encTensor("", dtDouble, []int64{int64(len(xs))}, xs)}
}

func encAttr(a tAttr) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, a.name)
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.typ))
	switch a.typ {
	case 1:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case 2:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.i))
	case 3:
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, a.s)
	case 4:
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, a.tensor)
	case 6:
		var p []byte
		for _, f := range a.floats {
			p = protowire.AppendFixed32(p, math.Float32bits(f))
		}
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	case 7:
		for _, i := range a.ints { // unpacked, to exercise that path
			b = protowire.AppendTag(b, 8, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(i))
		}
	case 8:
		for _, s := range a.strs {
			b = protowire.AppendTag(b, 9, protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	}
	return b
}

type tNode struct {
	op, domain string
	in, out    []string
	attrs      []tAttr
	name       string
}

func encNode(n tNode) []byte {
	var b []byte
	for _, s := range n.in {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	for _, s := range n.out {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	if n.name != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, n.name)
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, n.op)
	if n.domain != "" {
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		b = protowire.AppendString(b, n.domain)
	}
	for _, a := range n.attrs {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, encAttr(a))
	}
	return b
}

func encTensor(name string, dt int32, dims []int64, xs []float64) []byte {
	var b []byte
	for _, d := range dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(dt))
	if name != "" {
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendString(b, name)
	}
	var raw []byte
	for _, x := range xs {
		switch dt {
		case dtDouble:
			raw = protowire.AppendFixed64(raw, math.Float64bits(x))
		case dtInt64:
			raw = protowire.AppendFixed64(raw, uint64(int64(x)))
		default:
			raw = protowire.AppendFixed32(raw, math.Float32bits(float32(x)))
		}
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}

// encValueInfo describes a tensor [N, cols] (cols 0: [N]; cols −1: [N, ?],
// an unknown count); elem 0 is a non-tensor (a ZipMap's sequence of maps).
// batch > 0 fixes the batch dimension, else it is the symbol N.
func encValueInfo(name string, elem int32, cols, batch int64) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	if elem == 0 {
		var seq []byte
		seq = protowire.AppendTag(seq, 4, protowire.BytesType)
		seq = protowire.AppendBytes(seq, nil)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendBytes(b, seq)
	}
	var dim, shape, tt, tp []byte
	if batch > 0 {
		dim = protowire.AppendTag(dim, 1, protowire.VarintType)
		dim = protowire.AppendVarint(dim, uint64(batch))
	} else {
		dim = protowire.AppendTag(dim, 2, protowire.BytesType)
		dim = protowire.AppendString(dim, "N")
	}
	shape = protowire.AppendTag(shape, 1, protowire.BytesType)
	shape = protowire.AppendBytes(shape, dim)
	if cols < 0 { // a dimension with neither value nor symbol
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, nil)
	}
	if cols > 0 {
		var d2 []byte
		d2 = protowire.AppendTag(d2, 1, protowire.VarintType)
		d2 = protowire.AppendVarint(d2, uint64(cols))
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, d2)
	}
	tt = protowire.AppendTag(tt, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, uint64(elem))
	tt = protowire.AppendTag(tt, 2, protowire.BytesType)
	tt = protowire.AppendBytes(tt, shape)
	tp = protowire.AppendTag(tp, 1, protowire.BytesType)
	tp = protowire.AppendBytes(tp, tt)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, tp)
}

type tIO struct {
	name string
	elem int32
	cols int64
}

// An initializer the test writer encodes: a tInit, or a tInts.
type tTensor interface{ encode() []byte }

type tInit struct {
	name string
	dt   int32
	dims []int64
	vals []float64 // int64 values too, so exact up to 2^53 only
}

func (in tInit) encode() []byte { return encTensor(in.name, in.dt, in.dims, in.vals) }

// tInts is an int64 initializer, written exactly.
type tInts struct {
	name       string
	dims, vals []int64
}

func (in tInts) encode() []byte {
	var b []byte
	for _, d := range in.dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, dtInt64)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendString(b, in.name)
	var raw []byte
	for _, x := range in.vals {
		raw = protowire.AppendFixed64(raw, uint64(x))
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}

func encModel(nodes []tNode, inputs, outputs []tIO, inits ...tTensor) []byte {
	return encModelBatch(nodes, inputs, outputs, 0, inits...)
}

// encModelBatch is encModel with the inputs' batch dimension fixed at
// batch (0: symbolic).
func encModelBatch(nodes []tNode, inputs, outputs []tIO, batch int64, inits ...tTensor) []byte {
	var g []byte
	for _, n := range nodes {
		g = protowire.AppendTag(g, 1, protowire.BytesType)
		g = protowire.AppendBytes(g, encNode(n))
	}
	for _, in := range inits {
		g = protowire.AppendTag(g, 5, protowire.BytesType)
		g = protowire.AppendBytes(g, in.encode())
	}
	for _, in := range inputs {
		g = protowire.AppendTag(g, 11, protowire.BytesType)
		g = protowire.AppendBytes(g, encValueInfo(in.name, in.elem, in.cols, batch))
	}
	for _, out := range outputs {
		g = protowire.AppendTag(g, 12, protowire.BytesType)
		g = protowire.AppendBytes(g, encValueInfo(out.name, out.elem, out.cols, batch))
	}
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.VarintType)
	m = protowire.AppendVarint(m, 8)
	m = protowire.AppendTag(m, 7, protowire.BytesType)
	return protowire.AppendBytes(m, g)
}

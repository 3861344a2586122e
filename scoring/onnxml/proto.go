package onnxml

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The subset of onnx.proto that a tabular model needs, decoded by hand
// with protowire. Field numbers are those of onnx.proto (ONNX IR).

type modelProto struct {
	irVersion     int64
	producer      string
	modelVersion  int64
	opsets        map[string]int64
	graph         graphProto
	metadataProps map[string]string
}

type graphProto struct {
	name        string
	nodes       []nodeProto
	initializer []tensorProto
	inputs      []valueInfo
	outputs     []valueInfo
}

type nodeProto struct {
	inputs, outputs []string
	name, opType    string
	domain          string
	attrs           map[string]*attribute
}

type attribute struct {
	name    string
	typ     int64
	f       float32
	i       int64
	s       []byte
	t       *tensorProto
	floats  []float32
	ints    []int64
	strings [][]byte
}

type tensorProto struct {
	name     string
	dims     []int64
	dataType int32
	floats   []float32
	doubles  []float64
	int64s   []int64
	int32s   []int32
	raw      []byte
}

type valueInfo struct {
	name     string
	elemType int32   // tensor element type; 0 when not a tensor
	dims     []int64 // -1 for a symbolic or unknown dimension
	isTensor bool
}

// Tensor element types (TensorProto.DataType).
const (
	dtFloat  = 1
	dtInt32  = 6
	dtInt64  = 7
	dtString = 8
	dtBool   = 9
	dtDouble = 11
)

var errTruncated = errors.New("truncated protobuf")

// fields walks the fields of one message, calling fn with each field's
// number, wire type and value bytes (for varint and fixed fields the
// decoded number is in v).
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var (
			v    uint64
			data []byte
		)
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			data, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, data); err != nil {
			return err
		}
	}
	return nil
}

// packed decodes a repeated scalar field that may be packed (BytesType) or
// not (one value per field).
func packedVarints(typ protowire.Type, v uint64, data []byte, out []int64) ([]int64, error) {
	if typ != protowire.BytesType {
		return append(out, int64(v)), nil
	}
	for len(data) > 0 {
		x, n := protowire.ConsumeVarint(data)
		if n < 0 {
			return nil, errTruncated
		}
		out = append(out, int64(x))
		data = data[n:]
	}
	return out, nil
}

func packedFloats(typ protowire.Type, v uint64, data []byte, out []float32) ([]float32, error) {
	if typ != protowire.BytesType {
		return append(out, math.Float32frombits(uint32(v))), nil
	}
	if len(data)%4 != 0 {
		return nil, errTruncated
	}
	for ; len(data) > 0; data = data[4:] {
		x, _ := protowire.ConsumeFixed32(data)
		out = append(out, math.Float32frombits(x))
	}
	return out, nil
}

func packedDoubles(typ protowire.Type, v uint64, data []byte, out []float64) ([]float64, error) {
	if typ != protowire.BytesType {
		return append(out, math.Float64frombits(v)), nil
	}
	if len(data)%8 != 0 {
		return nil, errTruncated
	}
	for ; len(data) > 0; data = data[8:] {
		x, _ := protowire.ConsumeFixed64(data)
		out = append(out, math.Float64frombits(x))
	}
	return out, nil
}

func decodeModel(b []byte) (*modelProto, error) {
	m := &modelProto{opsets: map[string]int64{}, metadataProps: map[string]string{}}
	sawGraph := false
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case 1:
			m.irVersion = int64(v)
		case 2:
			m.producer = string(data)
		case 5:
			m.modelVersion = int64(v)
		case 7:
			sawGraph = true
			return decodeGraph(data, &m.graph)
		case 8:
			var domain string
			var version int64
			if err := fields(data, func(num protowire.Number, _ protowire.Type, v uint64, data []byte) error {
				switch num {
				case 1:
					domain = string(data)
				case 2:
					version = int64(v)
				}
				return nil
			}); err != nil {
				return err
			}
			m.opsets[domain] = version
		case 14:
			var k, val string
			if err := fields(data, func(num protowire.Number, _ protowire.Type, _ uint64, data []byte) error {
				switch num {
				case 1:
					k = string(data)
				case 2:
					val = string(data)
				}
				return nil
			}); err != nil {
				return err
			}
			m.metadataProps[k] = val
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	if !sawGraph {
		return nil, errors.New("not an ONNX model: no graph")
	}
	return m, nil
}

func decodeGraph(b []byte, g *graphProto) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case 1:
			var n nodeProto
			if err := decodeNode(data, &n); err != nil {
				return err
			}
			g.nodes = append(g.nodes, n)
		case 2:
			g.name = string(data)
		case 5:
			var t tensorProto
			if err := decodeTensor(data, &t); err != nil {
				return err
			}
			g.initializer = append(g.initializer, t)
		case 11, 12:
			var vi valueInfo
			if err := decodeValueInfo(data, &vi); err != nil {
				return err
			}
			if num == 11 {
				g.inputs = append(g.inputs, vi)
			} else {
				g.outputs = append(g.outputs, vi)
			}
		case 15:
			return errors.New("sparse initializers are not supported")
		}
		return nil
	})
}

func decodeNode(b []byte, n *nodeProto) error {
	n.attrs = map[string]*attribute{}
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case 1:
			n.inputs = append(n.inputs, string(data))
		case 2:
			n.outputs = append(n.outputs, string(data))
		case 3:
			n.name = string(data)
		case 4:
			n.opType = string(data)
		case 7:
			n.domain = string(data)
		case 5:
			a := &attribute{}
			if err := decodeAttribute(data, a); err != nil {
				return err
			}
			n.attrs[a.name] = a
		}
		return nil
	})
}

func decodeAttribute(b []byte, a *attribute) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		var err error
		switch num {
		case 1:
			a.name = string(data)
		case 20:
			a.typ = int64(v)
		case 2:
			a.f = math.Float32frombits(uint32(v))
		case 3:
			a.i = int64(v)
		case 4:
			a.s = data
		case 5:
			a.t = &tensorProto{}
			err = decodeTensor(data, a.t)
		case 7:
			a.floats, err = packedFloats(typ, v, data, a.floats)
		case 8:
			a.ints, err = packedVarints(typ, v, data, a.ints)
		case 9:
			a.strings = append(a.strings, data)
		case 6, 10, 11, 22, 23:
			err = fmt.Errorf("attribute %q holds graphs or sparse tensors, which are not supported", a.name)
		}
		return err
	})
}

func decodeTensor(b []byte, t *tensorProto) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		var err error
		switch num {
		case 1:
			t.dims, err = packedVarints(typ, v, data, t.dims)
		case 2:
			t.dataType = int32(v)
		case 4:
			t.floats, err = packedFloats(typ, v, data, t.floats)
		case 5:
			var xs []int64
			xs, err = packedVarints(typ, v, data, nil)
			for _, x := range xs {
				t.int32s = append(t.int32s, int32(x))
			}
		case 7:
			t.int64s, err = packedVarints(typ, v, data, t.int64s)
		case 8:
			t.name = string(data)
		case 9:
			t.raw = data
		case 10:
			t.doubles, err = packedDoubles(typ, v, data, t.doubles)
		case 13, 14:
			if num == 14 && v == 1 || num == 13 {
				err = fmt.Errorf("tensor %q: external data is not supported", t.name)
			}
		}
		return err
	})
}

func decodeValueInfo(b []byte, vi *valueInfo) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case 1:
			vi.name = string(data)
		case 2: // TypeProto
			return fields(data, func(num protowire.Number, _ protowire.Type, _ uint64, data []byte) error {
				if num != 1 { // not a tensor (sequence, map, ...)
					return nil
				}
				vi.isTensor = true
				return fields(data, func(num protowire.Number, _ protowire.Type, v uint64, data []byte) error {
					switch num {
					case 1:
						vi.elemType = int32(v)
					case 2: // TensorShapeProto
						return fields(data, func(num protowire.Number, _ protowire.Type, _ uint64, data []byte) error {
							if num != 1 {
								return nil
							}
							d := int64(-1)
							err := fields(data, func(num protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
								if num == 1 {
									d = int64(v)
								}
								return nil
							})
							vi.dims = append(vi.dims, d)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
}

// floats returns a float tensor's values (float_data, double_data or raw).
func (t *tensorProto) float64s() ([]float64, error) {
	switch t.dataType {
	case dtFloat:
		xs := t.floats
		if t.raw != nil {
			if len(t.raw)%4 != 0 {
				return nil, errTruncated
			}
			xs = make([]float32, len(t.raw)/4)
			for i := range xs {
				xs[i] = math.Float32frombits(leU32(t.raw[4*i:]))
			}
		}
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = float64(x)
		}
		return out, nil
	case dtDouble:
		if t.raw != nil {
			if len(t.raw)%8 != 0 {
				return nil, errTruncated
			}
			out := make([]float64, len(t.raw)/8)
			for i := range out {
				out[i] = math.Float64frombits(uint64(leU32(t.raw[8*i:])) | uint64(leU32(t.raw[8*i+4:]))<<32)
			}
			return out, nil
		}
		return t.doubles, nil
	case dtInt64:
		xs, err := tensorInts(t)
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = float64(x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q has element type %d, want float, double or int64", t.name, t.dataType)
}

func leU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

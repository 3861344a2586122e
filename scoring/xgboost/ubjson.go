package xgboost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// decodeUBJSON reads a UBJSON document (draft 12, as XGBoost writes it)
// into the generic form: map[string]any, []any, string, bool, nil, int64,
// float32 (type 'd'), float64 (type 'D').
func decodeUBJSON(b []byte) (any, error) {
	r := &ubReader{b: b}
	v, err := r.value(0)
	if err != nil {
		return nil, fmt.Errorf("ubjson at byte %d: %w", r.i, err)
	}
	return v, nil
}

type ubReader struct {
	b []byte
	i int
}

const ubMaxDepth = 64

var errUBEOF = errors.New("unexpected end of data")

func (r *ubReader) byte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, errUBEOF
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

func (r *ubReader) take(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.i {
		return nil, errUBEOF
	}
	s := r.b[r.i : r.i+n]
	r.i += n
	return s, nil
}

func (r *ubReader) value(depth int) (any, error) {
	m, err := r.byte()
	for err == nil && m == 'N' { // no-op
		m, err = r.byte()
	}
	if err != nil {
		return nil, err
	}
	return r.typed(m, depth)
}

func (r *ubReader) typed(m byte, depth int) (any, error) {
	switch m {
	case 'Z':
		return nil, nil
	case 'T':
		return true, nil
	case 'F':
		return false, nil
	case 'i', 'U', 'I', 'l', 'L':
		return r.int(m)
	case 'd':
		s, err := r.take(4)
		if err != nil {
			return nil, err
		}
		return math.Float32frombits(binary.BigEndian.Uint32(s)), nil
	case 'D':
		s, err := r.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(s)), nil
	case 'C':
		c, err := r.byte()
		return string(rune(c)), err
	case 'S', 'H':
		return r.str()
	case '[':
		return r.array(depth + 1)
	case '{':
		return r.object(depth + 1)
	}
	return nil, fmt.Errorf("unknown type marker %q", m)
}

func (r *ubReader) int(m byte) (int64, error) {
	switch m {
	case 'i':
		c, err := r.byte()
		return int64(int8(c)), err
	case 'U':
		c, err := r.byte()
		return int64(c), err
	case 'I':
		s, err := r.take(2)
		if err != nil {
			return 0, err
		}
		return int64(int16(binary.BigEndian.Uint16(s))), nil
	case 'l':
		s, err := r.take(4)
		if err != nil {
			return 0, err
		}
		return int64(int32(binary.BigEndian.Uint32(s))), nil
	case 'L':
		s, err := r.take(8)
		if err != nil {
			return 0, err
		}
		return int64(binary.BigEndian.Uint64(s)), nil
	}
	return 0, fmt.Errorf("type marker %q is not an integer", m)
}

// length reads a marker-prefixed integer used as a size.
func (r *ubReader) length() (int, error) {
	m, err := r.byte()
	if err != nil {
		return 0, err
	}
	n, err := r.int(m)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("bad length %d", n)
	}
	return int(n), nil
}

func (r *ubReader) str() (string, error) {
	n, err := r.length()
	if err != nil {
		return "", err
	}
	s, err := r.take(n)
	return string(s), err
}

// header reads the optional $type and #count of a container.
func (r *ubReader) header() (typ byte, count int, err error) {
	count = -1
	if r.i < len(r.b) && r.b[r.i] == '$' {
		r.i++
		if typ, err = r.byte(); err != nil {
			return 0, 0, err
		}
		switch typ {
		case 'Z', 'T', 'F', 'N':
			// No payload per element, so no count is too large for the
			// data: nested, each claiming the bytes left, 16 KB held 245
			// MB of values. XGBoost never writes one.
			return 0, 0, fmt.Errorf("container typed %q (elements without payload)", typ)
		}
		if r.i >= len(r.b) || r.b[r.i] != '#' {
			return 0, 0, errors.New("typed container without a count")
		}
	}
	if r.i < len(r.b) && r.b[r.i] == '#' {
		r.i++
		if count, err = r.length(); err != nil {
			return 0, 0, err
		}
		// Refuse counts the data cannot hold: every element takes at least
		// a byte (containers typed null, true, false or no-op, which hold
		// no payload, are refused above).
		if count > len(r.b)-r.i {
			return 0, 0, fmt.Errorf("count %d exceeds the data", count)
		}
	}
	return typ, count, nil
}

func (r *ubReader) elem(typ byte, depth int) (any, error) {
	if typ != 0 {
		return r.typed(typ, depth)
	}
	return r.value(depth)
}

func (r *ubReader) array(depth int) (any, error) {
	if depth > ubMaxDepth {
		return nil, errors.New("nesting too deep")
	}
	typ, count, err := r.header()
	if err != nil {
		return nil, err
	}
	if count >= 0 {
		out := make([]any, count)
		for k := range out {
			if out[k], err = r.elem(typ, depth); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	var out []any
	for {
		if r.i < len(r.b) && r.b[r.i] == ']' {
			r.i++
			return out, nil
		}
		v, err := r.value(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

func (r *ubReader) object(depth int) (any, error) {
	if depth > ubMaxDepth {
		return nil, errors.New("nesting too deep")
	}
	typ, count, err := r.header()
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for k := 0; count < 0 || k < count; k++ {
		if count < 0 && r.i < len(r.b) && r.b[r.i] == '}' {
			r.i++
			return out, nil
		}
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		if out[key], err = r.elem(typ, depth); err != nil {
			return nil, err
		}
	}
	return out, nil
}

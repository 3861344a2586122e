package onnxml

import (
	"fmt"
	"sort"
	"strings"
)

// checkAttrs fails on any attribute the operator does not know.
func checkAttrs(nd *nodeProto, known ...string) error {
	var bad []string
	for name := range nd.attrs {
		ok := false
		for _, k := range known {
			if name == k {
				ok = true
				break
			}
		}
		if !ok {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("%w: attribute %s of %s", ErrUnsupported, strings.Join(bad, ", "), nd.opType)
	}
	return nil
}

func attrString(nd *nodeProto, name, def string) string {
	if a, ok := nd.attrs[name]; ok {
		return string(a.s)
	}
	return def
}

func attrInt(nd *nodeProto, name string, def int64) int64 {
	if a, ok := nd.attrs[name]; ok {
		return a.i
	}
	return def
}

func attrInts(nd *nodeProto, name string) []int64 {
	if a, ok := nd.attrs[name]; ok {
		return a.ints
	}
	return nil
}

func attrStrings(nd *nodeProto, name string) []string {
	a, ok := nd.attrs[name]
	if !ok {
		return nil
	}
	out := make([]string, len(a.strings))
	for i, s := range a.strings {
		out[i] = string(s)
	}
	return out
}

// attrFloats reads a float list attribute or its *_as_tensor form (opset 3,
// float or double); isDouble reports a double tensor.
func attrFloats(nd *nodeProto, name string) (vals []float64, isDouble bool, err error) {
	if a, ok := nd.attrs[name+"_as_tensor"]; ok && a.t != nil {
		vals, err = a.t.float64s()
		return vals, a.t.dataType == dtDouble, err
	}
	if a, ok := nd.attrs[name]; ok {
		vals = make([]float64, len(a.floats))
		for i, f := range a.floats {
			vals[i] = float64(f)
		}
	}
	return vals, false, nil
}

package schemas

import (
	"encoding/json"
	"fmt"
	"strings"
)

// zeroSizeItems returns an error naming an array or map of an Avro schema
// whose items can be encoded in no bytes (null, a record of such fields, a
// fixed of size 0). maxAvroBlockItems bounds one block, but blocks of
// such items cost a few bytes each whatever their count: a 43-byte record
// of eight blocks of 2^20 nulls allocated 715 MB and decoded without
// error. The local schemas have none; a registry's writer schema with one
// is refused, as one that cannot be resolved is.
func zeroSizeItems(schema string) error {
	var root any
	if err := json.Unmarshal([]byte(schema), &root); err != nil {
		return fmt.Errorf("not a valid Avro schema: %w", err)
	}
	w := zeroWalk{named: map[string]bool{}}
	w.zero(root, "", "")
	return w.err
}

// zeroWalk records, per named type (by full name), whether it encodes in
// no bytes.
type zeroWalk struct {
	named map[string]bool
	err   error
}

// zero reports whether schema s encodes in no bytes, recording the first
// array or map of such items it meets (at path, the fields leading to it);
// ns is the enclosing namespace, which names without a dot are in.
func (w *zeroWalk) zero(s any, path, ns string) bool {
	switch s := s.(type) {
	case string:
		if s == "null" {
			return true
		}
		return w.named[fullName(s, ns)]
	case []any: // a union: its branch index takes a byte at least
		for _, b := range s {
			w.zero(b, path, ns)
		}
		return false
	case map[string]any:
		switch t, _ := s["type"].(string); t {
		case "record", "error":
			name := w.name(s, ns)
			w.named[name] = false // a reference to itself is not empty: it cannot recurse without a union or an array
			inner := name[:max(0, strings.LastIndexByte(name, '.'))]
			fields, _ := s["fields"].([]any)
			all := true
			for _, f := range fields {
				f, _ := f.(map[string]any)
				fn, _ := f["name"].(string)
				all = w.zero(f["type"], strings.TrimPrefix(path+"."+fn, "."), inner) && all
			}
			w.named[name] = all
			return all
		case "fixed":
			size, _ := s["size"].(float64)
			w.named[w.name(s, ns)] = size == 0
			return size == 0
		case "enum":
			w.named[w.name(s, ns)] = false
			return false
		case "array", "map":
			key, what := "items", "an array"
			if t == "map" {
				key, what = "values", "a map"
			}
			if w.zero(s[key], path, ns) && w.err == nil {
				at := ""
				if path != "" {
					at = fmt.Sprintf(" (field %q)", path)
				}
				w.err = fmt.Errorf("%s%s whose %s take no bytes (null, an empty record or a fixed of size 0): a block of them costs a few bytes whatever its count", what, at, key)
			}
			return false // its block count takes a byte at least
		default: // a primitive with attributes, as {"type": "long", "logicalType": ...}
			return w.zero(s["type"], path, ns)
		}
	}
	return false
}

// name is named type s's full name: its name when it has a dot, else in
// its namespace attribute or, without one, in the enclosing namespace.
func (w *zeroWalk) name(s map[string]any, ns string) string {
	n, _ := s["name"].(string)
	if own, ok := s["namespace"].(string); ok && !strings.Contains(n, ".") {
		ns = own
	}
	return fullName(n, ns)
}

// fullName is name n in namespace ns (a name with a dot is already full).
func fullName(n, ns string) string {
	if ns == "" || strings.Contains(n, ".") {
		return n
	}
	return ns + "." + n
}

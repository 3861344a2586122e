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
	w.zero(root, "")
	return w.err
}

// zeroWalk records, per named type, whether it encodes in no bytes.
type zeroWalk struct {
	named map[string]bool
	err   error
}

// zero reports whether schema s encodes in no bytes, recording the first
// array or map of such items it meets (at path, the fields leading to it).
func (w *zeroWalk) zero(s any, path string) bool {
	switch s := s.(type) {
	case string:
		if s == "null" {
			return true
		}
		return w.named[s] || w.named[s[strings.LastIndexByte(s, '.')+1:]]
	case []any: // a union: its branch index takes a byte at least
		for _, b := range s {
			w.zero(b, path)
		}
		return false
	case map[string]any:
		switch t, _ := s["type"].(string); t {
		case "record", "error":
			w.set(s, false) // a reference to itself is not empty: it cannot recurse without a union or an array
			fields, _ := s["fields"].([]any)
			all := true
			for _, f := range fields {
				f, _ := f.(map[string]any)
				fn, _ := f["name"].(string)
				all = w.zero(f["type"], strings.TrimPrefix(path+"."+fn, ".")) && all
			}
			w.set(s, all)
			return all
		case "fixed":
			size, _ := s["size"].(float64)
			w.set(s, size == 0)
			return size == 0
		case "enum":
			w.set(s, false)
			return false
		case "array", "map":
			key, what := "items", "an array"
			if t == "map" {
				key, what = "values", "a map"
			}
			if w.zero(s[key], path) && w.err == nil {
				at := ""
				if path != "" {
					at = fmt.Sprintf(" (field %q)", path)
				}
				w.err = fmt.Errorf("%s%s whose %s take no bytes (null, an empty record or a fixed of size 0): a block of them costs a few bytes whatever its count", what, at, key)
			}
			return false // its block count takes a byte at least
		default: // a primitive with attributes, as {"type": "long", "logicalType": ...}
			return w.zero(s["type"], path)
		}
	}
	return false
}

// set records whether named type s encodes in no bytes, under its full
// name and its short one (a reference may use either).
func (w *zeroWalk) set(s map[string]any, zero bool) {
	n, _ := s["name"].(string)
	w.named[n] = zero
	if ns, _ := s["namespace"].(string); ns != "" && !strings.Contains(n, ".") {
		w.named[ns+"."+n] = zero
	}
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		w.named[n[i+1:]] = zero
	}
}

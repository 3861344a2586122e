package scoring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checkKeys refuses a mapping key of n that is not a field of the struct
// type t (by its yaml tag), with an error naming the key, its line, where
// it is (what) and the keys t allows. A features file with a key the
// scorer does not read would otherwise be scored as if the key were not
// there: an `aggregate:` entry, say, silently scored as a missing field.
//
// It walks into fields whose type is a struct (or a pointer to or slice of
// one) so that nested mappings are checked too, except for types that
// decode themselves (yaml.Unmarshaler), which check their own keys.
// A node that is not a mapping is left to the decoder.
func checkKeys(n *yaml.Node, what string, t reflect.Type) error {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default key
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("line %d: %s: unknown key %q (want %s)", k.Line, what, k.Value, orList(names))
		}
		if err := checkNested(v, what+": "+k.Value, ft); err != nil {
			return err
		}
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// checkNested checks the value node v of a field of type t.
func checkNested(v *yaml.Node, what string, t reflect.Type) error {
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkNested(v, what, t.Elem())
	case reflect.Slice:
		if v.Kind != yaml.SequenceNode {
			return nil
		}
		for _, item := range v.Content {
			if err := checkNested(item, what, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Struct:
		return checkKeys(v, what, t)
	}
	return nil
}

// orList is "a, b or c".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// decodeStrict decodes the one YAML document of b into v (a pointer to a
// struct), refusing unknown keys (checkKeys) and a second document, which
// yaml.Unmarshal would ignore in silence.
func decodeStrict(b []byte, what string, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty: the caller says what is missing
		}
		return err
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return fmt.Errorf("line %d: a second YAML document (after ---); %s holds one", more.Line, what)
	} else if !errors.Is(err, io.EOF) {
		return err
	}
	if err := checkKeys(&doc, what, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	return doc.Decode(v)
}

// featureWhere names a feature mapping in an error: `feature "x"` when it
// has a name.
func featureWhere(n *yaml.Node) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
			return fmt.Sprintf("feature %q", n.Content[i+1].Value)
		}
	}
	return "feature"
}

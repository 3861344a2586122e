package xgboost

import (
	"fmt"
	"math"
	"strconv"
)

// Categorical splits (enable_categorical, pandas category columns).
//
// A tree with categorical splits marks them in split_type (1 =
// categorical) and lists each one's categories: categories_nodes[i] is
// the node, categories[categories_segments[i]:][:categories_sizes[i]] its
// category codes. XGBoost's decision (common::Decision, the same from 1.x
// to 3.x, and what its CPU predictor does) is:
//
//   - a missing value (NaN) goes to the node's default child;
//   - a value that is not a valid category — negative (−0 is category 0),
//     or ≥ 2^24, or ±Inf — goes left;
//   - otherwise the category is the value truncated toward zero (2.7 is
//     category 2) and goes right iff it is in the node's list, left
//     otherwise (a list holds the categories of the right child, as a
//     one-hot split "x == c" sends c right).

// catSet is the category list of one categorical split as a bit set.
type catSet struct{ words []uint64 }

// right reports whether a non-NaN value goes to the right child.
func (s catSet) right(v float32) bool {
	if !(v >= 0 && v < maxCategoryCode) {
		return false
	}
	c := uint32(v) // truncates toward zero
	w := c >> 6
	return int(w) < len(s.words) && s.words[w]>>(c&63)&1 != 0
}

// maxCategoryWords bounds the bit sets of a model (32 MiB), so that a
// hostile file cannot make the loader allocate without limit.
const maxCategoryWords = 1 << 22

// treeCategories reads the category lists of a tree's categorical splits,
// keyed by (original) node id. A tree without split_type has none.
func (m *Model) treeCategories(tree map[string]any, path string, n int) (map[int64]catSet, error) {
	st, ok := tree["split_type"]
	if !ok {
		return nil, nil
	}
	types, err := array(st, path+".split_type")
	if err != nil {
		return nil, err
	}
	if len(types) != n && len(types) != 0 {
		return nil, fmt.Errorf("%s.split_type has %d entries for %d nodes", path, len(types), n)
	}
	var catNodes []int64
	for i, v := range types {
		k, err := asInt(v)
		if err != nil {
			return nil, fmt.Errorf("%s.split_type[%d]: %w", path, i, err)
		}
		switch k {
		case 0:
		case 1:
			catNodes = append(catNodes, int64(i))
		default:
			return nil, fmt.Errorf("%w: %s node %d has split type %d (0 numeric, 1 categorical)", ErrUnsupported, path, i, k)
		}
	}
	if len(catNodes) == 0 {
		// No categorical split: any category lists must be empty.
		if l, _ := tree["categories_nodes"].([]any); len(l) > 0 {
			nid, _ := asInt(l[0])
			return nil, fmt.Errorf("%s: categories_nodes[0] = %d is not a categorical split", path, nid)
		}
		return nil, nil
	}
	nodes, err := intsField(tree, "categories_nodes", path)
	if err != nil {
		return nil, err
	}
	segs, err := intsField(tree, "categories_segments", path)
	if err != nil {
		return nil, err
	}
	sizes, err := intsField(tree, "categories_sizes", path)
	if err != nil {
		return nil, err
	}
	cats, err := intsField(tree, "categories", path)
	if err != nil {
		return nil, err
	}
	if len(segs) != len(nodes) || len(sizes) != len(nodes) {
		return nil, fmt.Errorf("%s: categories_nodes, categories_segments and categories_sizes have %d, %d and %d entries", path, len(nodes), len(segs), len(sizes))
	}
	out := make(map[int64]catSet, len(nodes))
	var next int64 // XGBoost writes the lists one after another, in node order
	for i, nid := range nodes {
		if nid < 0 || nid >= int64(n) {
			return nil, fmt.Errorf("%s: categories_nodes[%d] = %d is not a node", path, i, nid)
		}
		if k, _ := asInt(types[nid]); k != 1 {
			return nil, fmt.Errorf("%s: categories_nodes[%d] = %d is not a categorical split", path, i, nid)
		}
		if _, dup := out[nid]; dup {
			return nil, fmt.Errorf("%s: node %d has two category lists", path, nid)
		}
		beg, size := segs[i], sizes[i]
		if beg < 0 || size < 0 || beg > int64(len(cats)) || size > int64(len(cats))-beg {
			return nil, fmt.Errorf("%s: node %d's categories [%d, +%d) lie outside categories (%d)", path, nid, beg, size, len(cats))
		}
		// Lists that overlap would cost their total length, not the
		// file's: n nodes all naming one list of n categories took n² work.
		if beg != next {
			return nil, fmt.Errorf("%s: node %d's categories start at %d, want %d (each list follows the one before)", path, nid, beg, next)
		}
		next += size
		list := cats[beg : beg+size]
		var top int64 = -1
		for _, c := range list {
			if c < 0 || c >= maxCategoryCode {
				return nil, fmt.Errorf("%s: node %d has category %d (want 0 ≤ category < %d)", path, nid, c, maxCategoryCode)
			}
			top = max(top, c)
		}
		words := int(top/64 + 1)
		if top < 0 {
			words = 0
		}
		if m.catWords += words; m.catWords > maxCategoryWords {
			return nil, fmt.Errorf("%w: the category lists exceed %d MiB", ErrUnsupported, maxCategoryWords*8>>20)
		}
		set := catSet{words: make([]uint64, words)}
		for _, c := range list {
			set.words[c>>6] |= 1 << (c & 63)
		}
		out[nid] = set
	}
	for _, nid := range catNodes {
		if _, ok := out[nid]; !ok {
			return nil, fmt.Errorf("%s: categorical node %d has no category list", path, nid)
		}
	}
	return out, nil
}

// setCategories reads the category names XGBoost ≥ 3.1 stores with a model
// trained on a DataFrame (gradient_booster model "cats"): per feature, the
// categories in code order, as strings (numbers in decimal). They become
// Info.Categories, which the feature plan uses to map an event's category
// to its code.
func (m *Model) setCategories(model map[string]any) error {
	cv, ok := model["cats"]
	if !ok {
		return nil
	}
	cats, err := object(cv, "gradient_booster.model.cats")
	if err != nil {
		return err
	}
	enc, err := arrayField(cats, "enc", "gradient_booster.model.cats")
	if err != nil {
		return err
	}
	if len(enc) == 0 {
		return nil
	}
	if len(enc) != m.nfeat {
		return fmt.Errorf("gradient_booster.model.cats.enc has %d features, the model %d", len(enc), m.nfeat)
	}
	out := make([][]string, m.nfeat)
	found := false
	for f, ev := range enc {
		path := fmt.Sprintf("gradient_booster.model.cats.enc[%d]", f)
		col, err := object(ev, path)
		if err != nil {
			return err
		}
		names, err := categoryNames(col, path)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			out[f], found = names, true
		}
	}
	if found {
		m.info.Categories = out
	}
	return nil
}

// XGBoost's JSON value kinds of typed arrays (include/xgboost/json.h), as
// the "type" of a numeric category column.
const (
	kindF32 = 7
	kindF64 = 8
	kindI8  = 9
	kindU8  = 10
	kindI16 = 11
	kindU16 = 12
	kindI32 = 13
	kindU32 = 14
	kindI64 = 15
	kindU64 = 16
)

// categoryNames reads one feature's categories: strings as Arrow does
// (offsets into the concatenated UTF-8 bytes, which XGBoost writes as
// int8), or integers with their type.
func categoryNames(col map[string]any, path string) ([]string, error) {
	if _, ok := col["offsets"]; ok {
		offs, err := intsField(col, "offsets", path)
		if err != nil {
			return nil, err
		}
		vals, err := intsField(col, "values", path)
		if err != nil {
			return nil, err
		}
		if len(offs) == 0 {
			return nil, nil
		}
		if offs[0] != 0 || offs[len(offs)-1] != int64(len(vals)) {
			return nil, fmt.Errorf("%s: offsets run from %d to %d over %d bytes (want 0 to %d)", path, offs[0], offs[len(offs)-1], len(vals), len(vals))
		}
		b := make([]byte, len(vals))
		for i, v := range vals {
			if v < math.MinInt8 || v > math.MaxUint8 {
				return nil, fmt.Errorf("%s.values[%d] = %d is not a byte", path, i, v)
			}
			b[i] = byte(v)
		}
		names := make([]string, len(offs)-1)
		for i := range names {
			lo, hi := offs[i], offs[i+1]
			if lo < 0 || hi < lo || hi > int64(len(b)) {
				return nil, fmt.Errorf("%s.offsets[%d:%d] = %d, %d do not fit %d bytes", path, i, i+2, lo, hi, len(b))
			}
			names[i] = string(b[lo:hi])
		}
		return names, nil
	}
	kind, err := intParam(col, "type", -1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch kind {
	case kindI8, kindU8, kindI16, kindU16, kindI32, kindU32, kindI64, kindU64:
	case kindF32, kindF64:
		return nil, fmt.Errorf("%w: %s holds floating-point categories", ErrUnsupported, path)
	default:
		return nil, fmt.Errorf("%s: unknown category type %d", path, kind)
	}
	vals, err := intsField(col, "values", path)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(vals))
	for i, v := range vals {
		names[i] = strconv.FormatInt(v, 10)
	}
	return names, nil
}

package onnxml

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// The encoders turn categories into numbers. A string tensor reaches them
// as category codes: the feature plan codes an event's string by its index
// in the feature's category list (Info.Categories, the union of the lists
// of every encoder reading the column), and an unseen string as NaN, which
// the input step turns into −1. Each encoder maps a code to its own index
// with a table built once the graph is compiled (Model.codeTables), and treats
// −1 as onnxruntime treats a category it does not know.

// codeTable maps, for each column of a string tensor, a feature code to
// the encoder's own index (−1: not one of its categories). Columns whose
// features share one category list share one table.
type codeTable [][]int32

// catList is the category list of the string input columns that the same
// encoders read, which therefore have the same list (the union of those
// encoders' lists, in first-use order): an encoder reading 4,096 columns
// keeps one list for them, not 4,096 copies. A list is split (copied) when
// an encoder reads some of its columns only.
type catList struct {
	list    []string
	have    map[string]bool
	members int // the model features that have this list
}

func newCatList(members int) *catList {
	return &catList{list: []string{}, have: map[string]bool{}, members: members}
}

// codeReg is an encoder's code table, filled once the graph is compiled
// and every category list is complete.
type codeReg struct {
	t     codeTable
	src   []int // the model feature of each column
	index func(string) (int32, bool)
	// the encoder and its category attribute, for errors
	node, op, attr string
}

// stringCodes registers an encoder's categories (attribute attr of nd) for every
// column of the string value x and returns the tables, filled once the
// graph is compiled (codeTables). index gives the encoder's index of a
// category (ok false: none). The category entries the model would then
// hold, counted per column, are bounded by maxCategoryEntries: they are
// counted before anything is added.
func (m *Model) stringCodes(nd *nodeProto, x slotInfo, attr string, cats []string, index func(string) (int32, bool)) (codeTable, error) {
	// the distinct features the encoder reads, per list
	seen := make(map[int]bool, len(x.src))
	reads := map[*catList]int{}
	var lists []*catList
	for _, f := range x.src {
		if seen[f] {
			continue
		}
		seen[f] = true
		l := m.catOf[f]
		if reads[l] == 0 {
			lists = append(lists, l)
		}
		reads[l]++
	}
	// the encoder's categories once each, in order
	uniq := make([]string, 0, len(cats))
	inCats := make(map[string]bool, len(cats))
	for _, c := range cats {
		if !inCats[c] {
			inCats[c] = true
			uniq = append(uniq, c)
		}
	}
	// Count before adding: the entries of the columns' lists and, as the
	// lists only grow, a lower bound of the entries of this encoder's code
	// tables (one per list), which also bounds the work of the count.
	total, tables := m.catEntries, m.tableEntries
	for _, l := range lists {
		added := 0
		for _, c := range uniq {
			if !l.have[c] {
				added++
			}
		}
		// added and reads[l] are at most the file's size and maxColumns
		total += added * reads[l]
		tables += len(l.list) + added
		// (the error is wrapped with the node's name and operator)
		if total > maxCategoryEntries {
			return nil, fmt.Errorf("%w: %s: %d categories over %d string columns bring the string columns' category entries, counted per column, to at least %d (at most %d)",
				ErrUnsupported, attr, len(uniq), len(seen), total, maxCategoryEntries)
		}
		if tables > maxCategoryEntries {
			return nil, fmt.Errorf("%w: %s: %d categories over %d string columns bring the entries of the encoders' code tables to at least %d (at most %d)",
				ErrUnsupported, attr, len(uniq), len(seen), tables, maxCategoryEntries)
		}
	}
	m.catEntries, m.tableEntries = total, tables
	split := map[*catList]*catList{}
	for _, l := range lists {
		to := l
		if n := reads[l]; n < l.members {
			to = &catList{list: slices.Clone(l.list), have: maps.Clone(l.have), members: n}
			l.members -= n
			split[l] = to
		}
		for _, c := range uniq {
			if !to.have[c] {
				to.have[c] = true
				to.list = append(to.list, c)
			}
		}
	}
	for f := range seen {
		if to, ok := split[m.catOf[f]]; ok {
			m.catOf[f] = to
		}
	}
	t := make(codeTable, x.cols)
	m.codeRegs = append(m.codeRegs, codeReg{t: t, src: x.src, index: index, node: nd.name, op: nd.opType, attr: attr})
	return t, nil
}

// codeTables fills the encoders' code tables, one per encoder and category
// list, and sets each string feature's categories (m.cats).
func (m *Model) codeTables() error {
	entries := 0
	for _, r := range m.codeRegs {
		seen := map[*catList]bool{}
		for _, f := range r.src {
			if l := m.catOf[f]; !seen[l] {
				seen[l] = true
				if entries += len(l.list); entries > maxCategoryEntries {
					return fmt.Errorf("node %q (%s): %w: %s: its code table of %d entries (the categories of its columns' list) brings the string encoders' code tables to %d entries (at most %d)",
						r.node, r.op, ErrUnsupported, r.attr, len(l.list), entries, maxCategoryEntries)
				}
			}
		}
	}
	for _, r := range m.codeRegs {
		tables := map[*catList][]int32{}
		for j, f := range r.src {
			l := m.catOf[f]
			tb, ok := tables[l]
			if !ok {
				tb = make([]int32, len(l.list))
				for c, s := range l.list {
					tb[c] = -1
					if k, ok := r.index(s); ok {
						tb[c] = k
					}
				}
				tables[l] = tb
			}
			r.t[j] = tb
		}
	}
	for f, l := range m.catOf {
		if l != nil {
			m.cats[f] = slices.Clip(l.list)
		}
	}
	return nil
}

func (t codeTable) lookup(col int, code int64) int32 {
	if code < 0 {
		return -1
	}
	return t[col][code]
}

// OneHotEncoder: each value becomes a row of K floats, 1 at its category's
// index (the last index of a category listed twice, as onnxruntime's map
// keeps); a category it does not know gives zeros when zeros = 1 (the
// default) and, as onnxruntime fails the call when zeros = 0, makes the row
// unscorable. Output shape: the input's, plus K.
func buildOneHotEncoder(m *Model, nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "cats_int64s", "cats_strings", "zeros"); err != nil {
		return built{}, err
	}
	ints, strs := attrInts(nd, "cats_int64s"), attrStrings(nd, "cats_strings")
	if len(ints) > 0 && len(strs) > 0 || len(ints)+len(strs) == 0 {
		return built{}, fmt.Errorf("OneHotEncoder needs one of cats_int64s and cats_strings")
	}
	if len(x.dims) > 1 {
		return built{}, fmt.Errorf("%w: OneHotEncoder of a rank-%d tensor (onnxruntime takes rank 2 at most)", ErrUnsupported, len(x.dims)+1)
	}
	zeros := attrInt(nd, "zeros", 1) != 0
	k := len(ints) + len(strs)
	attr := "cats_int64s"
	if len(strs) > 0 {
		attr = "cats_strings"
	}
	cols, ok := mulBounded(x.cols, k, maxTensorValues)
	if !ok {
		return built{}, fmt.Errorf("%w: OneHotEncoder of %d columns by %d categories (%s) makes more than %d columns", ErrUnsupported, x.cols, k, attr, maxTensorValues)
	}
	var table codeTable
	var intIndex map[int64]int32
	switch {
	case x.dt == dtString && len(strs) > 0:
		last := make(map[string]int32, len(strs))
		for i, s := range strs {
			last[s] = int32(i)
		}
		var err error
		if table, err = m.stringCodes(nd, x, attr, strs, func(s string) (int32, bool) { i, ok := last[s]; return i, ok }); err != nil {
			return built{}, err
		}
	case x.dt != dtString && len(ints) > 0:
		if err := checkFloat(x); err != nil {
			return built{}, err
		}
		intIndex = make(map[int64]int32, len(ints))
		for i, v := range ints {
			intIndex[v] = int32(i)
		}
	case x.dt == dtString:
		return built{}, fmt.Errorf("%w: OneHotEncoder of strings with integer categories", ErrUnsupported)
	default:
		return built{}, fmt.Errorf("%w: OneHotEncoder of %s input with string categories", ErrUnsupported, typeName(x.dt))
	}
	dims := append(append([]int(nil), x.dims...), k)
	b := built{outs: []outSpec{{dt: dtFloat, cols: cols, dims: dims, alias: -1}}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			clear(yv.f32)
			for r := 0; r < n; r++ {
				for j := 0; j < x.cols; j++ {
					i := r*x.cols + j
					idx := int32(-1)
					if table != nil {
						idx = table.lookup(j, xv.i64[i])
					} else if v, ok := asInt64(xv.at64(i)); ok {
						if c, found := intIndex[v]; found {
							idx = c
						}
					}
					switch {
					case idx >= 0:
						yv.f32[i*k+int(idx)] = 1
					case !zeros:
						fr.markBad(r)
					}
				}
			}
		}
	}
	return b, nil
}

// LabelEncoder from strings (or int64) to int64 or float: opset 1
// (classes_strings: a string's index, default_int64 otherwise; a class
// listed twice keeps its last index) and opsets 2–3 (keys_* to values_*,
// default_int64 −1 or default_float −0.0; a key listed twice keeps its
// first value).
func buildLabelEncoder(m *Model, nd *nodeProto, in []int, x slotInfo) (built, error) {
	if err := checkAttrs(nd, "classes_strings", "default_int64", "default_string", "default_float",
		"keys_strings", "keys_int64s", "values_int64s", "values_floats"); err != nil {
		return built{}, err
	}
	outDT := int32(dtInt64)
	var ivals []int64
	var fvals []float32
	defInt := attrInt(nd, "default_int64", -1)
	defFloat := float32(math.Copysign(0, -1))
	if a, ok := nd.attrs["default_float"]; ok {
		defFloat = a.f
	}
	var skeys []string
	var ikeys []int64
	firstWins := true
	if classes := attrStrings(nd, "classes_strings"); classes != nil {
		skeys, firstWins = classes, false
		for i := range classes {
			ivals = append(ivals, int64(i))
		}
	} else {
		skeys, ikeys = attrStrings(nd, "keys_strings"), attrInts(nd, "keys_int64s")
		ivals = attrInts(nd, "values_int64s")
		if f, _, _ := attrFloats(nd, "values_floats"); f != nil {
			fvals, outDT = toF32(f), dtFloat
		}
		if (skeys == nil) == (ikeys == nil) || (ivals == nil) == (fvals == nil) {
			return built{}, fmt.Errorf("%w: LabelEncoder needs keys_strings or keys_int64s and values_int64s or values_floats", ErrUnsupported)
		}
	}
	nkeys := len(skeys) + len(ikeys)
	if nvals := len(ivals) + len(fvals); nvals != nkeys {
		return built{}, fmt.Errorf("LabelEncoder has %d keys and %d values", nkeys, nvals)
	}
	var table codeTable
	var intIndex map[int64]int32
	switch {
	case x.dt == dtString && skeys != nil:
		index := make(map[string]int32, len(skeys))
		for i, s := range skeys {
			if _, seen := index[s]; !seen || !firstWins {
				index[s] = int32(i)
			}
		}
		attr := "keys_strings"
		if !firstWins {
			attr = "classes_strings"
		}
		var err error
		if table, err = m.stringCodes(nd, x, attr, skeys, func(s string) (int32, bool) { i, ok := index[s]; return i, ok }); err != nil {
			return built{}, err
		}
	case x.dt == dtInt64 && ikeys != nil:
		intIndex = make(map[int64]int32, len(ikeys))
		for i, v := range ikeys {
			if _, seen := intIndex[v]; !seen || !firstWins {
				intIndex[v] = int32(i)
			}
		}
	default:
		return built{}, fmt.Errorf("%w: LabelEncoder of %s input with these keys", ErrUnsupported, typeName(x.dt))
	}
	b := built{outs: []outSpec{{dt: outDT, cols: x.cols, dims: x.dims, alias: -1}}}
	b.make = func(out []int) step {
		return func(fr *frame, n int) {
			xv, yv := &fr.vals[in[0]], fr.out(out[0], n)
			for r := 0; r < n; r++ {
				for j := 0; j < x.cols; j++ {
					i := r*x.cols + j
					idx := int32(-1)
					if table != nil {
						idx = table.lookup(j, xv.i64[i])
					} else if c, ok := intIndex[xv.i64[i]]; ok {
						idx = c
					}
					switch {
					case outDT == dtFloat && idx >= 0:
						yv.f32[i] = fvals[idx]
					case outDT == dtFloat:
						yv.f32[i] = defFloat
					case idx >= 0:
						yv.i64[i] = ivals[idx]
					default:
						yv.i64[i] = defInt
					}
				}
			}
		}
	}
	return b, nil
}

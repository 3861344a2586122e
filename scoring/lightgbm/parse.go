package lightgbm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/streamscore/streamscore/scoring"
)

// Format is reported in Info.Format.
const Format = "lightgbm"

// ErrUnsupported is wrapped by load errors for models that are valid
// LightGBM files but use something this evaluator does not score (another
// header version, an unknown objective or field).
var ErrUnsupported = errors.New("unsupported LightGBM model")

// maxFeatures bounds max_feature_idx so that feature indices fit the int32
// node fields and a hostile file cannot ask for absurd row widths.
const maxFeatures = 1 << 24

// Load reads a model file. name is the model name; empty means the file
// name without extension.
func Load(path, name string) (*Model, error) {
	return scoring.LoadFile(path, name, Parse)
}

// IsText reports whether data looks like a LightGBM text model: a line
// "tree" followed by a line "version=v…".
func IsText(data []byte) bool {
	first, rest, _ := bytes.Cut(data, []byte("\n"))
	if string(bytes.TrimRight(first, "\r")) != "tree" {
		return false
	}
	second, _, _ := bytes.Cut(rest, []byte("\n"))
	return bytes.HasPrefix(second, []byte("version=v"))
}

// headerKeys are the lines LightGBM 2.x–4.x writes before the first tree
// (gbdt_model_text.cpp). average_output is a bare key.
var headerKeys = map[string]bool{
	"version": true, "num_class": true, "num_tree_per_iteration": true, "label_index": true,
	"max_feature_idx": true, "objective": true, "average_output": true, "feature_names": true,
	"feature_infos": true, "monotone_constraints": true, "tree_sizes": true,
}

// treeKeys are the fields of a Tree= block (tree.cpp).
var treeKeys = map[string]bool{
	"num_leaves": true, "num_cat": true, "split_feature": true, "split_gain": true, "threshold": true,
	"decision_type": true, "left_child": true, "right_child": true, "leaf_value": true,
	"leaf_weight": true, "leaf_count": true, "internal_value": true, "internal_weight": true,
	"internal_count": true, "cat_boundaries": true, "cat_threshold": true, "is_linear": true,
	"leaf_const": true, "num_features": true, "leaf_features": true, "leaf_coeff": true,
	"shrinkage": true,
}

// Parse reads a model from memory. The version is a hash of data.
func Parse(data []byte, name string) (*Model, error) {
	if !IsText(data) {
		return nil, errors.New("not a LightGBM text model (want a first line \"tree\" and a second line \"version=v…\")")
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	hdr := map[string]string{}
	i := 1
	for ; i < len(lines) && !strings.HasPrefix(lines[i], "Tree=") && !endOfTrees(lines[i]); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		if !headerKeys[k] {
			return nil, fmt.Errorf("%w: header line %d %q: unknown key %q", ErrUnsupported, i+1, clip(l), k)
		}
		hdr[k] = v
	}
	m := &Model{}
	if err := m.header(hdr); err != nil {
		return nil, err
	}
	var blocks []treeBlock
	for i < len(lines) && strings.HasPrefix(lines[i], "Tree=") {
		b := treeBlock{line: i + 1, fields: map[string]string{}}
		idx, err := strconv.Atoi(strings.TrimPrefix(lines[i], "Tree="))
		if err != nil || idx != len(blocks) {
			return nil, fmt.Errorf("line %d: %q: want Tree=%d", i+1, clip(lines[i]), len(blocks))
		}
		for i++; i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "Tree=") && !endOfTrees(lines[i]); i++ {
			k, v, ok := strings.Cut(lines[i], "=")
			if !ok || !treeKeys[k] {
				return nil, fmt.Errorf("%w: tree %d, line %d %q: unknown field %q", ErrUnsupported, idx, i+1, clip(lines[i]), k)
			}
			if _, dup := b.fields[k]; dup {
				return nil, fmt.Errorf("tree %d, line %d: field %s given twice", idx, i+1, k)
			}
			b.fields[k] = v
		}
		blocks = append(blocks, b)
		for i < len(lines) && lines[i] == "" {
			i++
		}
	}
	// LightGBM 2.x files may go from the last tree straight to the
	// feature importances; anything else (the end of the file included)
	// means the file is cut short.
	if i >= len(lines) || !endOfTrees(lines[i]) {
		at := "the end of the file"
		if i < len(lines) {
			at = fmt.Sprintf("line %d %q", i+1, clip(lines[i]))
		}
		return nil, fmt.Errorf("after %d trees: want \"end of trees\", got %s (truncated file?)", len(blocks), at)
	}
	if len(blocks) == 0 {
		return nil, errors.New("the model has no trees")
	}
	if ts := strings.Fields(hdr["tree_sizes"]); len(ts) > 0 && len(ts) != len(blocks) {
		return nil, fmt.Errorf("tree_sizes lists %d trees, the file has %d (truncated file?)", len(ts), len(blocks))
	}
	for t := range blocks {
		if err := m.addTree(t, &blocks[t]); err != nil {
			return nil, fmt.Errorf("tree %d (line %d): %w", t, blocks[t].line, err)
		}
	}
	if len(m.trees)%m.k != 0 {
		return nil, fmt.Errorf("%d trees is not a whole number of iterations of %d trees", len(m.trees), m.k)
	}
	m.iterations = len(m.trees) / m.k
	m.trailer(lines[i:])
	if err := m.finish(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	m.info.Name = name
	m.info.Version = hex.EncodeToString(sum[:6])
	m.info.Format = Format
	return m, nil
}

// endOfTrees reports whether a line ends the tree section.
func endOfTrees(l string) bool {
	switch l {
	case "end of trees", "feature importances:", "feature_importances:", "parameters:":
		return true
	}
	return strings.HasPrefix(l, "pandas_categorical:")
}

type treeBlock struct {
	line   int
	fields map[string]string
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

func (m *Model) header(h map[string]string) error {
	switch h["version"] {
	case "v2", "v3", "v4":
		m.version = h["version"]
	case "":
		return errors.New("the header has no version= line")
	default:
		return fmt.Errorf("%w: version=%s (want v2, v3 or v4)", ErrUnsupported, h["version"])
	}
	numClass, err := headerInt(h, "num_class", -1)
	if err != nil {
		return err
	}
	if numClass < 1 {
		return fmt.Errorf("num_class=%s: want a positive count", h["num_class"])
	}
	if m.k, err = headerInt(h, "num_tree_per_iteration", numClass); err != nil {
		return err
	}
	if m.k < 1 || m.k > 1<<16 {
		return fmt.Errorf("num_tree_per_iteration=%d: want 1 to 65536", m.k)
	}
	maxIdx, err := headerInt(h, "max_feature_idx", -1)
	if err != nil {
		return err
	}
	if maxIdx < 0 || maxIdx >= maxFeatures {
		return fmt.Errorf("max_feature_idx=%s: want 0 to %d", h["max_feature_idx"], maxFeatures-1)
	}
	m.nfeat = maxIdx + 1
	_, m.average = h["average_output"]
	names := strings.Fields(h["feature_names"])
	if len(names) != m.nfeat {
		return fmt.Errorf("feature_names lists %d names, max_feature_idx=%d says %d features", len(names), maxIdx, m.nfeat)
	}
	m.info.Features = names
	m.objText = strings.TrimSpace(h["objective"])
	obj, err := parseObjective(m.objText)
	if err != nil {
		return err
	}
	m.obj = obj
	want := 1
	if obj.kind == objSoftmax || obj.kind == objOVA {
		want = obj.numClass
		if numClass != obj.numClass {
			return fmt.Errorf("objective=%s says %d classes, num_class=%d", m.objText, obj.numClass, numClass)
		}
	}
	if m.k != want {
		if obj.kind == objNone {
			return fmt.Errorf("%w: a model without a built-in objective and %d trees per iteration (its outputs are raw scores of %d classes)", ErrUnsupported, m.k, m.k)
		}
		return fmt.Errorf("objective=%s wants %d trees per iteration, num_tree_per_iteration=%d", m.objText, want, m.k)
	}
	return nil
}

func headerInt(h map[string]string, key string, def int) (int, error) {
	v, ok := h[key]
	if !ok {
		if def < 0 {
			return 0, fmt.Errorf("the header has no %s= line", key)
		}
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%s=%s: want an integer", key, clip(v))
	}
	return n, nil
}

// Decision type bits (tree.h).
const (
	dtCategorical = 1
	dtDefaultLeft = 2
	missingShift  = 2
)

// Missing types.
const (
	missNone = 0
	missZero = 1
	missNaN  = 2
)

func (m *Model) addTree(t int, b *treeBlock) error {
	f := b.fields
	ints := func(key string, n int) ([]int, error) { return intList(f, key, n) }
	floats := func(key string, n int) ([]float64, error) { return floatList(f, key, n) }
	nl, err := fieldInt(f, "num_leaves")
	if err != nil {
		return err
	}
	numCat, err := fieldInt(f, "num_cat")
	if err != nil {
		return err
	}
	if nl < 1 || nl > 1<<20 {
		return fmt.Errorf("num_leaves=%d: want 1 to %d", nl, 1<<20)
	}
	isLinear := false
	if v, ok := f["is_linear"]; ok {
		switch strings.TrimSpace(v) {
		case "0":
		case "1":
			isLinear = true
		default:
			return fmt.Errorf("is_linear=%s: want 0 or 1", clip(v))
		}
	}
	leafValue, err := floats("leaf_value", nl)
	if err != nil {
		return err
	}
	tr := tree{
		leafOff:  int32(len(m.leaves)),
		nodeOff:  int32(len(m.nodes)),
		nLeaves:  int32(nl),
		class:    int32(t % m.k),
		isLinear: isLinear,
	}
	m.leaves = append(m.leaves, leafValue...)
	if nl > 1 {
		if numCat < 0 || numCat > nl-1 {
			return fmt.Errorf("num_cat=%d with %d splits", numCat, nl-1)
		}
		n := nl - 1
		feat, err := ints("split_feature", n)
		if err != nil {
			return err
		}
		thr, err := floats("threshold", n)
		if err != nil {
			return err
		}
		left, err := ints("left_child", n)
		if err != nil {
			return err
		}
		right, err := ints("right_child", n)
		if err != nil {
			return err
		}
		dt := make([]int, n) // LightGBM's default when the line is absent
		if _, ok := f["decision_type"]; ok {
			if dt, err = ints("decision_type", n); err != nil {
				return err
			}
		}
		var bounds, words []int
		if numCat > 0 {
			if bounds, err = ints("cat_boundaries", numCat+1); err != nil {
				return err
			}
			if bounds[0] != 0 {
				return fmt.Errorf("cat_boundaries starts at %d, want 0", bounds[0])
			}
			for c := 1; c <= numCat; c++ {
				if bounds[c] < bounds[c-1] {
					return fmt.Errorf("cat_boundaries not ascending at %d: %v", c, bounds[c-1:c+1])
				}
			}
			if words, err = ints("cat_threshold", bounds[numCat]); err != nil {
				return err
			}
		}
		catBase := int32(len(m.cats))
		for _, w := range words {
			if w < 0 || w > math.MaxUint32 {
				return fmt.Errorf("cat_threshold word %d is not a 32-bit bitset word", w)
			}
			m.cats = append(m.cats, uint32(w))
		}
		for j := 0; j < n; j++ {
			d := dt[j]
			if d < 0 || d > 15 || (d>>missingShift)&3 == 3 {
				return fmt.Errorf("%w: split %d: decision_type %d (LightGBM writes 0 to 11)", ErrUnsupported, j, d)
			}
			if feat[j] < 0 || feat[j] >= m.nfeat {
				return fmt.Errorf("split %d: split_feature %d, the model has %d features", j, feat[j], m.nfeat)
			}
			nd := node{feat: int32(feat[j]), missing: uint8((d >> missingShift) & 3), defaultLeft: d&dtDefaultLeft != 0}
			for s, c := range [2]int{left[j], right[j]} {
				var ref int32
				switch {
				case c >= 0 && c < n:
					ref = tr.nodeOff + int32(c)
				case c < 0 && ^c < nl:
					ref = ^(tr.leafOff + int32(^c))
				default:
					return fmt.Errorf("split %d: child %d out of range (%d splits, %d leaves)", j, c, n, nl)
				}
				if s == 0 {
					nd.left = ref
				} else {
					nd.right = ref
				}
			}
			// A tree without categorical splits is walked with numerical
			// decisions only (Tree::GetLeaf), whatever bit 0 says.
			if d&dtCategorical != 0 && numCat > 0 {
				ci := thr[j]
				if !(ci >= 0 && ci < float64(numCat)) {
					return fmt.Errorf("categorical split %d: threshold %v is not a bitset index below num_cat=%d", j, thr[j], numCat)
				}
				c := int(ci)
				nd.categorical = true
				nd.catLo, nd.catHi = catBase+int32(bounds[c]), catBase+int32(bounds[c+1])
				tr.hasCat = true
			} else {
				nd.thr = thr[j]
			}
			m.nodes = append(m.nodes, nd)
		}
		if err := checkShape(m.nodes[tr.nodeOff:], tr.nodeOff, tr.leafOff, nl); err != nil {
			return err
		}
	}
	if isLinear {
		consts, err := floats("leaf_const", nl)
		if err != nil {
			return err
		}
		counts, err := ints("num_features", nl)
		if err != nil {
			return err
		}
		total := 0
		for _, c := range counts {
			if c < 0 || c > m.nfeat {
				return fmt.Errorf("num_features %d for a leaf, the model has %d features", c, m.nfeat)
			}
			total += c
		}
		lf, err := ints("leaf_features", total)
		if err != nil {
			return err
		}
		lc, err := floats("leaf_coeff", total)
		if err != nil {
			return err
		}
		tr.linOff = int32(len(m.linLeaves))
		at := 0
		for l := 0; l < nl; l++ {
			ll := linLeaf{c: consts[l], lo: int32(len(m.linFeat))}
			for j := at; j < at+counts[l]; j++ {
				if lf[j] < 0 || lf[j] >= m.nfeat {
					return fmt.Errorf("leaf %d: linear feature %d, the model has %d features", l, lf[j], m.nfeat)
				}
				m.linFeat = append(m.linFeat, int32(lf[j]))
				m.linCoeff = append(m.linCoeff, lc[j])
			}
			at += counts[l]
			ll.hi = int32(len(m.linFeat))
			m.linLeaves = append(m.linLeaves, ll)
		}
	}
	m.readCounts(t, f, nl)
	m.trees = append(m.trees, tr)
	return nil
}

// readCounts appends tree t's leaf_count and internal_count (the training
// rows that reached each leaf and split, what TreeSHAP weighs paths with)
// to the model's. A tree without them, or with malformed ones, leaves the
// model unable to explain (countErr says why); prediction does not use
// them. A single-leaf tree needs none: its value is its expectation.
func (m *Model) readCounts(t int, f map[string]string, nl int) {
	if m.countErr != nil {
		return
	}
	var lc, ic []float64
	if nl > 1 {
		var err error
		if lc, err = floatList(f, "leaf_count", nl); err == nil {
			ic, err = floatList(f, "internal_count", nl-1)
		}
		if err != nil {
			m.countErr = fmt.Errorf("tree %d: %w", t, err)
			m.leafCount, m.nodeCount = nil, nil
			return
		}
	} else {
		lc = []float64{0}
	}
	m.leafCount = append(m.leafCount, lc...)
	m.nodeCount = append(m.nodeCount, ic...)
}

// checkShape verifies that the splits form one binary tree rooted at split
// 0 that reaches every split and every leaf exactly once, so that a walk
// always ends at a leaf.
func checkShape(nodes []node, nodeOff, leafOff int32, nl int) error {
	seenNode := make([]bool, len(nodes))
	seenLeaf := make([]bool, nl)
	stack := []int32{nodeOff}
	seenNode[0] = true
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		nd := &nodes[i-nodeOff]
		for _, c := range [2]int32{nd.left, nd.right} {
			if c >= 0 {
				if seenNode[c-nodeOff] {
					return fmt.Errorf("split %d is reached twice (not a tree)", c-nodeOff)
				}
				seenNode[c-nodeOff] = true
				stack = append(stack, c)
				continue
			}
			l := ^c - leafOff
			if seenLeaf[l] {
				return fmt.Errorf("leaf %d is reached twice (not a tree)", l)
			}
			seenLeaf[l] = true
		}
	}
	for j, ok := range seenNode {
		if !ok {
			return fmt.Errorf("split %d is not reachable from the root", j)
		}
	}
	for l, ok := range seenLeaf {
		if !ok {
			return fmt.Errorf("leaf %d is not reachable from the root", l)
		}
	}
	return nil
}

func fieldInt(f map[string]string, key string) (int, error) {
	v, ok := f[key]
	if !ok {
		return 0, fmt.Errorf("no %s field", key)
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%s=%s: want an integer", key, clip(v))
	}
	return n, nil
}

func fieldList(f map[string]string, key string, n int) ([]string, error) {
	v, ok := f[key]
	if !ok {
		return nil, fmt.Errorf("no %s field", key)
	}
	xs := strings.Fields(v)
	if len(xs) != n {
		return nil, fmt.Errorf("%s has %d values, want %d", key, len(xs), n)
	}
	return xs, nil
}

func intList(f map[string]string, key string, n int) ([]int, error) {
	xs, err := fieldList(f, key, n)
	if err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i, s := range xs {
		if out[i], err = strconv.Atoi(s); err != nil {
			return nil, fmt.Errorf("%s[%d] = %q: want an integer", key, i, clip(s))
		}
	}
	return out, nil
}

// floatList parses doubles as LightGBM's loader does for thresholds, leaf
// values and linear coefficients: correctly rounded (they are written with
// 17 significant digits, so this is the double LightGBM held).
func floatList(f map[string]string, key string, n int) ([]float64, error) {
	xs, err := fieldList(f, key, n)
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	for i, s := range xs {
		if out[i], err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("%s[%d] = %q: want a number", key, i, clip(s))
		}
	}
	return out, nil
}

// trailer reads what follows "end of trees": the parameters block (for
// categorical_feature and describe) and the pandas_categorical line.
func (m *Model) trailer(lines []string) {
	m.params = map[string]string{}
	inParams := false
	for _, l := range lines {
		switch {
		case l == "parameters:":
			inParams = true
		case l == "end of parameters":
			inParams = false
		case inParams && strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			k, v, _ := strings.Cut(l[1:len(l)-1], ":")
			m.params[strings.TrimSpace(k)] = strings.TrimSpace(v)
		case strings.HasPrefix(l, "pandas_categorical:"):
			m.pandas = strings.TrimSpace(strings.TrimPrefix(l, "pandas_categorical:"))
		}
	}
}

// categories maps the pandas_categorical lists to the features named by the
// categorical_feature parameter, in order. It returns nil, and a note for
// describe, when the file does not allow an unambiguous mapping.
func (m *Model) categories() ([][]string, string) {
	if m.pandas == "" || m.pandas == "null" || m.pandas == "[]" {
		return nil, ""
	}
	var lists [][]any
	dec := json.NewDecoder(strings.NewReader(m.pandas))
	dec.UseNumber()
	if err := dec.Decode(&lists); err != nil {
		return nil, fmt.Sprintf("pandas_categorical not read (%v): categorical inputs must be codes", err)
	}
	var idx []int
	for _, s := range strings.FieldsFunc(m.params["categorical_feature"], func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n >= m.nfeat {
			return nil, fmt.Sprintf("categorical_feature %q is not a list of feature indices: categorical inputs must be codes", m.params["categorical_feature"])
		}
		idx = append(idx, n)
	}
	if len(idx) != len(lists) {
		return nil, fmt.Sprintf("%d pandas_categorical lists for %d categorical_feature entries: categorical inputs must be codes", len(lists), len(idx))
	}
	out := make([][]string, m.nfeat)
	for j, list := range lists {
		cats := make([]string, len(list))
		seen := map[string]bool{}
		for c, v := range list {
			switch x := v.(type) {
			case string:
				cats[c] = x
			case json.Number:
				f, err := x.Float64()
				if err != nil {
					return nil, fmt.Sprintf("pandas_categorical category %v: categorical inputs must be codes", x)
				}
				cats[c] = strconv.FormatFloat(f, 'g', -1, 64)
			case bool:
				cats[c] = strconv.FormatBool(x)
			default:
				return nil, fmt.Sprintf("pandas_categorical category %v (%T): categorical inputs must be codes", v, v)
			}
			if seen[cats[c]] {
				return nil, fmt.Sprintf("pandas_categorical lists %q twice: categorical inputs must be codes", cats[c])
			}
			seen[cats[c]] = true
		}
		out[idx[j]] = cats
	}
	return out, ""
}

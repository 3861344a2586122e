package xgboost

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

// ErrUnsupported is wrapped by load errors for valid XGBoost models that use
// something this evaluator does not implement.
var ErrUnsupported = errors.New("unsupported XGBoost model")

// Formats reported in Info.Format.
const (
	FormatJSON   = "xgboost-json"
	FormatUBJSON = "xgboost-ubjson"
)

// node is one tree node in a flat array. A leaf has left == 0 (index 0 is
// the first tree's root, never a child) and its value in split. Internal
// nodes have their right child at left+1 and info = feature | defaultLeft<<31.
type node struct {
	split float32
	info  uint32
	left  int32
}

const defaultLeftBit = 1 << 31

type transform int

const (
	identity transform = iota
	sigmoid
	exponential
	softmax
)

// Model is a loaded XGBoost booster. It is immutable and safe for
// concurrent use.
type Model struct {
	info      scoring.Info
	objective string
	transform transform
	groups    int       // output groups: classes for multi:*, else 1
	base      []float32 // base margin per group
	nodes     []node
	roots     []int32 // root index of each tree
	treeGroup []int32 // output group of each tree
	nfeat     int
	complete  []ctree // the fast layout; nil when a tree does not fit it
}

// Load reads a model file (JSON or UBJSON, told apart by content). name is
// the model name; empty means the file name without extension.
func Load(path, name string) (*Model, error) {
	return scoring.LoadFile(path, name, Parse)
}

// IsJSON reports whether data looks like a JSON (rather than UBJSON) model.
func IsJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) < 2 || t[0] != '{' {
		return false
	}
	t = bytes.TrimLeft(t[1:], " \t\r\n")
	return len(t) > 0 && (t[0] == '"' || t[0] == '}')
}

// Parse reads a model from memory. The version is a hash of data.
func Parse(data []byte, name string) (*Model, error) {
	var (
		doc    any
		err    error
		format string
	)
	if IsJSON(data) {
		format = FormatJSON
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		err = dec.Decode(&doc)
	} else {
		format = FormatUBJSON
		doc, err = decodeUBJSON(data)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", format, err)
	}
	m, err := build(doc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	m.info.Name = name
	m.info.Version = hex.EncodeToString(sum[:6])
	m.info.Format = format
	return m, nil
}

func build(doc any) (*Model, error) {
	root, err := object(doc, "model")
	if err != nil {
		return nil, err
	}
	learner, err := objectField(root, "learner", "model")
	if err != nil {
		return nil, err
	}
	lmp, err := objectField(learner, "learner_model_param", "learner")
	if err != nil {
		return nil, err
	}
	nfeat, err := intParam(lmp, "num_feature", 0)
	if err != nil {
		return nil, err
	}
	numClass, err := intParam(lmp, "num_class", 0)
	if err != nil {
		return nil, err
	}
	if nt, err := intParam(lmp, "num_target", 1); err != nil || nt > 1 {
		return nil, fmt.Errorf("%w: num_target %d (multi-target models)", ErrUnsupported, nt)
	}
	if nfeat <= 0 || nfeat > math.MaxInt32/2 {
		return nil, fmt.Errorf("learner_model_param.num_feature %d is not a positive count", nfeat)
	}
	obj, err := objectField(learner, "objective", "learner")
	if err != nil {
		return nil, err
	}
	objName, err := stringField(obj, "name", "learner.objective")
	if err != nil {
		return nil, err
	}
	m := &Model{objective: objName, nfeat: int(nfeat), groups: 1}
	if err := m.setObjective(objName, numClass); err != nil {
		return nil, err
	}
	baseStr, err := stringField(lmp, "base_score", "learner_model_param")
	if err != nil {
		return nil, err
	}
	if err := m.setBase(baseStr); err != nil {
		return nil, err
	}
	if err := m.setFeatures(learner); err != nil {
		return nil, err
	}
	gb, err := objectField(learner, "gradient_booster", "learner")
	if err != nil {
		return nil, err
	}
	if err := m.setTrees(gb); err != nil {
		return nil, err
	}
	m.complete = m.buildComplete()
	return m, nil
}

func (m *Model) setObjective(name string, numClass int64) error {
	m.info.Output = scoring.Regression
	m.info.Classes = 1
	switch name {
	case "binary:logistic":
		m.transform = sigmoid
		m.info.Output, m.info.Classes = scoring.Binary, 2
	case "reg:logistic":
		m.transform = sigmoid
	case "binary:logitraw":
		m.transform = identity
	case "reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:pseudohubererror", "reg:absoluteerror":
		m.transform = identity
	case "count:poisson", "reg:gamma", "reg:tweedie":
		m.transform = exponential
	case "multi:softprob", "multi:softmax":
		if numClass < 2 || numClass > 1<<16 {
			return fmt.Errorf("objective %s with num_class %d", name, numClass)
		}
		m.transform = softmax
		m.groups = int(numClass)
		m.info.Output, m.info.Classes = scoring.MultiClass, int(numClass)
	default:
		return fmt.Errorf("%w: objective %q (supported: binary:logistic, binary:logitraw, reg:logistic, reg:squarederror, reg:squaredlogerror, reg:pseudohubererror, reg:absoluteerror, count:poisson, reg:gamma, reg:tweedie, multi:softprob, multi:softmax)", ErrUnsupported, name)
	}
	return nil
}

// setBase parses base_score ("5E-1", or "[5E-1]" / "[a,b,c]" as XGBoost ≥ 3.1
// writes it) and applies the objective's link in float32.
func (m *Model) setBase(s string) error {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	parts := strings.Split(s, ",")
	if len(parts) != 1 && len(parts) != m.groups {
		return fmt.Errorf("base_score %q: want 1 or %d values", s, m.groups)
	}
	m.base = make([]float32, m.groups)
	for g := range m.base {
		p := parts[0]
		if len(parts) > 1 {
			p = parts[g]
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return fmt.Errorf("base_score %q: %w", s, err)
		}
		b := float32(f)
		switch m.transform {
		case sigmoid:
			if !(b > 0 && b < 1) {
				return fmt.Errorf("base_score %v must be in (0, 1) for %s", b, m.objective)
			}
			m.base[g] = -logf(float32(1)/b - float32(1))
		case exponential:
			if !(b > 0) {
				return fmt.Errorf("base_score %v must be positive for %s", b, m.objective)
			}
			m.base[g] = logf(b)
		default:
			m.base[g] = b
		}
	}
	return nil
}

func (m *Model) setFeatures(learner map[string]any) error {
	names, _ := array(learner["feature_names"], "learner.feature_names")
	if len(names) == 0 {
		m.info.Features = make([]string, m.nfeat)
		for i := range m.info.Features {
			m.info.Features[i] = "f" + strconv.Itoa(i)
		}
		return nil
	}
	if len(names) != m.nfeat {
		return fmt.Errorf("learner.feature_names has %d names, num_feature is %d", len(names), m.nfeat)
	}
	m.info.Features = make([]string, len(names))
	for i, v := range names {
		s, ok := v.(string)
		if !ok || s == "" {
			return fmt.Errorf("learner.feature_names[%d] is not a name", i)
		}
		m.info.Features[i] = s
	}
	return nil
}

func (m *Model) setTrees(gb map[string]any) error {
	kind, err := stringField(gb, "name", "gradient_booster")
	if err != nil {
		return err
	}
	if kind != "gbtree" {
		return fmt.Errorf("%w: booster %q (only gbtree)", ErrUnsupported, kind)
	}
	model, err := objectField(gb, "model", "gradient_booster")
	if err != nil {
		return err
	}
	if p, ok := model["gbtree_model_param"].(map[string]any); ok {
		if n, _ := intParam(p, "size_leaf_vector", 0); n > 1 {
			return fmt.Errorf("%w: multi-output trees (size_leaf_vector %d)", ErrUnsupported, n)
		}
	}
	trees, err := arrayField(model, "trees", "gradient_booster.model")
	if err != nil {
		return err
	}
	info, err := intsField(model, "tree_info", "gradient_booster.model")
	if err != nil {
		return err
	}
	if len(info) != len(trees) {
		return fmt.Errorf("tree_info has %d entries for %d trees", len(info), len(trees))
	}
	m.roots = make([]int32, len(trees))
	m.treeGroup = make([]int32, len(trees))
	for t, tv := range trees {
		if info[t] < 0 || info[t] >= int64(m.groups) {
			return fmt.Errorf("tree %d: output group %d, model has %d", t, info[t], m.groups)
		}
		m.treeGroup[t] = int32(info[t])
		m.roots[t] = int32(len(m.nodes))
		if err := m.addTree(tv, t); err != nil {
			return err
		}
	}
	return nil
}

// addTree appends one tree, renumbered breadth-first so that the right
// child of every internal node directly follows its left child.
func (m *Model) addTree(tv any, t int) error {
	path := fmt.Sprintf("trees[%d]", t)
	tree, err := object(tv, path)
	if err != nil {
		return err
	}
	if p, ok := tree["tree_param"].(map[string]any); ok {
		if n, _ := intParam(p, "size_leaf_vector", 0); n > 1 {
			return fmt.Errorf("%w: %s is a multi-output tree", ErrUnsupported, path)
		}
	}
	left, err := intsField(tree, "left_children", path)
	if err != nil {
		return err
	}
	right, err := intsField(tree, "right_children", path)
	if err != nil {
		return err
	}
	feat, err := intsField(tree, "split_indices", path)
	if err != nil {
		return err
	}
	cond, err := floatsField(tree, "split_conditions", path)
	if err != nil {
		return err
	}
	defLeft, err := intsField(tree, "default_left", path)
	if err != nil {
		return err
	}
	n := len(left)
	if n == 0 || len(right) != n || len(feat) != n || len(cond) != n || len(defLeft) != n {
		return fmt.Errorf("%s: node arrays have different lengths or are empty", path)
	}
	if st, ok := tree["split_type"]; ok {
		types, _ := array(st, path+".split_type")
		for i, v := range types {
			if k, _ := asInt(v); k != 0 {
				return fmt.Errorf("%w: %s node %d has a categorical split", ErrUnsupported, path, i)
			}
		}
	}
	base := int32(len(m.nodes))
	newID := make([]int32, n) // old id -> new id (0 = not placed yet)
	order := []int64{0}       // old ids in new order
	newID[0] = 0
	placed := make([]bool, n)
	placed[0] = true
	for k := 0; k < len(order); k++ {
		old := order[k]
		l, r := left[old], right[old]
		if l == -1 {
			continue
		}
		if l < 0 || r < 0 || l >= int64(n) || r >= int64(n) || placed[l] || placed[r] || l == r {
			return fmt.Errorf("%s: node %d has invalid children %d, %d", path, old, l, r)
		}
		placed[l], placed[r] = true, true
		newID[l], newID[r] = int32(len(order)), int32(len(order)+1)
		order = append(order, l, r)
	}
	for _, old := range order {
		nd := node{split: cond[old]}
		if left[old] != -1 {
			f := feat[old]
			if f < 0 || f >= int64(m.nfeat) {
				return fmt.Errorf("%s: node %d splits on feature %d, model has %d", path, old, f, m.nfeat)
			}
			if math.IsNaN(float64(cond[old])) {
				return fmt.Errorf("%s: node %d has a NaN split condition", path, old)
			}
			nd.info = uint32(f)
			if defLeft[old] != 0 {
				nd.info |= defaultLeftBit
			}
			nd.left = base + newID[left[old]]
		}
		m.nodes = append(m.nodes, nd)
	}
	return nil
}

// Info describes the model.
func (m *Model) Info() scoring.Info { return m.info }

// Objective is the model's objective name.
func (m *Model) Objective() string { return m.objective }

// NumTrees is the number of trees.
func (m *Model) NumTrees() int { return len(m.roots) }

// NumNodes is the number of reachable nodes over all trees.
func (m *Model) NumNodes() int { return len(m.nodes) }

func logf(x float32) float32 { return float32(math.Log(float64(x))) }

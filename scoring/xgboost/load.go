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

// Boosters reported by Booster.
const (
	BoosterGBTree   = "gbtree"
	BoosterDart     = "dart"
	BoosterGBLinear = "gblinear"
)

// node is one tree node in a flat array. A leaf has left == 0 (index 0 is
// the first tree's root, never a child) and its value in split. Internal
// nodes have their right child at left+1 and info = feature |
// categoricalBit | defaultLeftBit. A numeric node holds its threshold in
// split; a categorical node holds, in split's bits, the index of its
// category set in Model.catSets.
type node struct {
	split float32
	info  uint32
	left  int32
}

const (
	defaultLeftBit = 1 << 31
	categoricalBit = 1 << 30
	featureMask    = categoricalBit - 1
	// maxFeatures bounds num_feature: every event becomes a dense row of
	// that many float32 values (and the index must fit below the flag bits).
	maxFeatures     = 1 << 20
	maxCategoryCode = 1 << 24 // XGBoost's bound on a category (OutOfRangeCat + 1)
)

type transform int

const (
	identity transform = iota
	sigmoid
	exponential // expf, as count:poisson, reg:gamma, reg:tweedie, survival:cox
	expDouble   // exp in float64 rounded to float32, as survival:aft
	softmax
	hinge // 1 when the margin is > 0, else 0
)

// Model is a loaded XGBoost booster. It is immutable and safe for
// concurrent use.
type Model struct {
	info      scoring.Info
	objective string
	booster   string
	transform transform
	groups    int       // outputs per row: classes for multi:*, targets, else 1
	base      []float32 // base margin per group
	nfeat     int

	// trees (gbtree, dart)
	nodes     []node
	roots     []int32 // root index of each tree
	treeGroup []int32 // output group of each tree
	treeCat   []bool  // whether a tree has a categorical split
	catSets   []catSet
	catWords  int     // words in catSets, bounded by maxCategoryWords
	complete  []ctree // the fast layout; nil when no tree fits it

	// gblinear: weight of feature f for group g at f*groups+g, then one
	// bias per group
	linear []float32

	// For contributions (shap.go): per node of nodes, its cover and raw
	// leaf value; per tree, its dart weight (nil for gbtree). coverErr says
	// why stats is nil (a tree without sum_hessian).
	stats      []nodeStat
	treeWeight []float32
	coverErr   error
	shap       *shapOnce // built on the first Explainer call
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
	if err := notAModel(data); err != nil {
		return nil, err
	}
	var (
		doc    any
		err    error
		format string
	)
	if IsJSON(data) {
		format = FormatJSON
		// XGBoost writes NaN (the split condition of a categorical node)
		// and infinities as bare literals, which JSON does not have.
		dec := json.NewDecoder(bytes.NewReader(quoteNonFinite(data)))
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
	numTarget, err := intParam(lmp, "num_target", 1)
	if err != nil {
		return nil, err
	}
	if numTarget < 1 || numTarget > 1<<16 {
		return nil, fmt.Errorf("learner_model_param.num_target %d is not a target count", numTarget)
	}
	if nfeat <= 0 {
		return nil, fmt.Errorf("learner_model_param.num_feature %d is not a positive count", nfeat)
	}
	if nfeat > maxFeatures {
		return nil, fmt.Errorf("%w: num_feature %d exceeds the %d inputs streamscore scores in a dense row", ErrUnsupported, nfeat, maxFeatures)
	}
	obj, err := objectField(learner, "objective", "learner")
	if err != nil {
		return nil, err
	}
	objName, err := stringField(obj, "name", "learner.objective")
	if err != nil {
		return nil, err
	}
	m := &Model{objective: objName, nfeat: int(nfeat), groups: 1, shap: new(shapOnce)}
	if err := m.setObjective(obj, objName, numClass, numTarget); err != nil {
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
	if err := m.setBooster(gb, baseStr); err != nil {
		return nil, err
	}
	m.complete = m.buildComplete()
	return m, nil
}

// objectives lists what setObjective accepts, for the refusal message.
const objectives = "binary:logistic, binary:logitraw, binary:hinge, reg:logistic, reg:squarederror, " +
	"reg:squaredlogerror, reg:pseudohubererror, reg:absoluteerror, reg:quantileerror, reg:expectileerror, " +
	"count:poisson, reg:gamma, reg:tweedie, survival:aft, survival:cox, rank:pairwise, rank:ndcg, rank:map, " +
	"multi:softprob, multi:softmax"

func (m *Model) setObjective(obj map[string]any, name string, numClass, numTarget int64) error {
	m.info.Output = scoring.Regression
	m.info.Classes = 1
	switch name {
	case "binary:logistic":
		m.transform = sigmoid
		m.info.Output, m.info.Classes = scoring.Binary, 2
	case "binary:hinge":
		m.transform = hinge
		m.info.Output, m.info.Classes = scoring.Binary, 2
	case "reg:logistic":
		m.transform = sigmoid
	case "binary:logitraw", "reg:squarederror", "reg:linear", "reg:squaredlogerror",
		"reg:pseudohubererror", "reg:absoluteerror", "rank:pairwise", "rank:ndcg", "rank:map":
		m.transform = identity
	case "reg:quantileerror", "reg:expectileerror":
		// One quantile (expectile) is the identity. With several, XGBoost
		// versions post-process the outputs differently (newer ones sort
		// the quantiles of a row, expectiles are accumulated through a
		// softplus), so only one is scored.
		param, key := "quantile_loss_param", "quantile_alpha"
		if name == "reg:expectileerror" {
			param, key = "expectile_loss_param", "expectile_alpha"
		}
		if n := alphaCount(obj, param, key); n > 1 {
			return fmt.Errorf("%w: objective %s with %d %s values (one per target): streamscore scores one quantile per model; train one model per %s", ErrUnsupported, name, n, key, key)
		}
		m.transform = identity
	case "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox":
		m.transform = exponential
	case "survival:aft":
		m.transform = expDouble
	case "multi:softprob", "multi:softmax":
		if numClass < 2 || numClass > 1<<16 {
			return fmt.Errorf("objective %s with num_class %d", name, numClass)
		}
		if numTarget > 1 {
			return fmt.Errorf("%w: objective %s with num_target %d (multi-class multi-target)", ErrUnsupported, name, numTarget)
		}
		m.transform = softmax
		m.groups = int(numClass)
		m.info.Output, m.info.Classes = scoring.MultiClass, int(numClass)
		return nil
	default:
		return fmt.Errorf("%w: objective %q (supported: %s)", ErrUnsupported, name, objectives)
	}
	if numTarget > 1 {
		m.groups = int(numTarget)
		m.info.Targets = int(numTarget)
	}
	return nil
}

// alphaCount is the number of values in an objective's alpha list
// ("[5E-1]", "[0.1, 0.9]" or a bare number), 1 when it is absent.
func alphaCount(obj map[string]any, param, key string) int {
	p, ok := obj[param].(map[string]any)
	if !ok {
		return 1
	}
	s, ok := p[key].(string)
	if !ok {
		return 1
	}
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "["), "]"))
	if s == "" {
		return 1
	}
	return strings.Count(s, ",") + 1
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
		case exponential, expDouble:
			if !(b > 0) {
				return fmt.Errorf("base_score %v must be positive for %s", b, m.objective)
			}
			m.base[g] = logf(b)
		default:
			if math.IsNaN(float64(b)) || math.IsInf(float64(b), 0) {
				return fmt.Errorf("base_score %q is not finite", s)
			}
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

// setBooster reads the gradient booster: gbtree, dart (gbtree's trees with
// one weight each) or gblinear.
func (m *Model) setBooster(gb map[string]any, baseStr string) error {
	kind, err := stringField(gb, "name", "gradient_booster")
	if err != nil {
		return err
	}
	m.booster = kind
	switch kind {
	case BoosterGBTree:
		model, err := objectField(gb, "model", "gradient_booster")
		if err != nil {
			return err
		}
		return m.setTrees(model, nil)
	case BoosterDart:
		inner, err := objectField(gb, "gbtree", "gradient_booster")
		if err != nil {
			return err
		}
		model, err := objectField(inner, "model", "gradient_booster.gbtree")
		if err != nil {
			return err
		}
		weights, err := floatsField(gb, "weight_drop", "gradient_booster")
		if err != nil {
			return err
		}
		return m.setTrees(model, weights)
	case BoosterGBLinear:
		model, err := objectField(gb, "model", "gradient_booster")
		if err != nil {
			return err
		}
		return m.setLinear(model, baseStr)
	}
	return fmt.Errorf("%w: booster %q (supported: gbtree, dart, gblinear)", ErrUnsupported, kind)
}

// setTrees reads the trees of a gbtree model; weights, for dart, scale each
// tree's leaves.
func (m *Model) setTrees(model map[string]any, weights []float32) error {
	if p, ok := model["gbtree_model_param"].(map[string]any); ok {
		if n, _ := intParam(p, "size_leaf_vector", 0); n > 1 {
			return fmt.Errorf("%w: %s", ErrUnsupported, vectorLeafMsg(n))
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
	if weights != nil && len(weights) != len(trees) {
		return fmt.Errorf("dart weight_drop has %d weights for %d trees", len(weights), len(trees))
	}
	if err := m.setCategories(model); err != nil {
		return err
	}
	m.roots = make([]int32, len(trees))
	m.treeGroup = make([]int32, len(trees))
	m.treeCat = make([]bool, len(trees))
	m.treeWeight = weights
	m.stats = []nodeStat{} // nil once a tree lacks covers
	for t, tv := range trees {
		if info[t] < 0 || info[t] >= int64(m.groups) {
			return fmt.Errorf("tree %d: output group %d, model has %d", t, info[t], m.groups)
		}
		m.treeGroup[t] = int32(info[t])
		m.roots[t] = int32(len(m.nodes))
		w := float32(1)
		if weights != nil {
			w = weights[t]
			if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
				return fmt.Errorf("dart weight_drop[%d] = %v is not finite", t, w)
			}
		}
		if err := m.addTree(tv, t, weights != nil, w); err != nil {
			return err
		}
	}
	return nil
}

func vectorLeafMsg(n int64) string {
	return fmt.Sprintf("vector-leaf trees (multi_strategy=\"multi_output_tree\", size_leaf_vector %d); train with multi_strategy=\"one_output_per_tree\" (the default), whose trees streamscore scores", n)
}

// addTree appends one tree, renumbered breadth-first so that the right
// child of every internal node directly follows its left child. A dart
// tree's leaves are stored multiplied by its weight w, in float32, as
// XGBoost multiplies each tree's output before adding it.
func (m *Model) addTree(tv any, t int, dart bool, w float32) error {
	path := fmt.Sprintf("trees[%d]", t)
	tree, err := object(tv, path)
	if err != nil {
		return err
	}
	if p, ok := tree["tree_param"].(map[string]any); ok {
		if n, _ := intParam(p, "size_leaf_vector", 0); n > 1 {
			return fmt.Errorf("%w: %s: %s", ErrUnsupported, path, vectorLeafMsg(n))
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
	cats, err := m.treeCategories(tree, path, n)
	if err != nil {
		return err
	}
	covers := m.treeCovers(tree, path, n)
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
		if m.stats != nil {
			st := nodeStat{cover: covers[old]}
			if left[old] == -1 {
				st.value = cond[old]
			}
			m.stats = append(m.stats, st)
		}
		if left[old] == -1 {
			if dart {
				nd.split = float32(nd.split * w)
			}
			m.nodes = append(m.nodes, nd)
			continue
		}
		f := feat[old]
		if f < 0 || f >= int64(m.nfeat) {
			return fmt.Errorf("%s: node %d splits on feature %d, model has %d", path, old, f, m.nfeat)
		}
		nd.info = uint32(f)
		if defLeft[old] != 0 {
			nd.info |= defaultLeftBit
		}
		if set, ok := cats[old]; ok {
			if len(m.catSets) >= math.MaxInt32 {
				return fmt.Errorf("%s: too many categorical splits", path)
			}
			nd.info |= categoricalBit
			nd.split = math.Float32frombits(uint32(len(m.catSets)))
			m.catSets = append(m.catSets, set)
			m.treeCat[t] = true
		} else if math.IsNaN(float64(nd.split)) {
			return fmt.Errorf("%s: node %d has a NaN split condition", path, old)
		}
		nd.left = base + newID[left[old]]
		m.nodes = append(m.nodes, nd)
	}
	return nil
}

// Info describes the model.
func (m *Model) Info() scoring.Info { return m.info }

// Objective is the model's objective name.
func (m *Model) Objective() string { return m.objective }

// Booster is the model's booster: gbtree, dart or gblinear.
func (m *Model) Booster() string { return m.booster }

// NumTrees is the number of trees (0 for gblinear).
func (m *Model) NumTrees() int { return len(m.roots) }

// NumNodes is the number of reachable nodes over all trees.
func (m *Model) NumNodes() int { return len(m.nodes) }

// NumCategoricalSplits is the number of categorical split nodes.
func (m *Model) NumCategoricalSplits() int { return len(m.catSets) }

func logf(x float32) float32 { return float32(math.Log(float64(x))) }

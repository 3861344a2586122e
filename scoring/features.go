package scoring

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/schemas"
)

// Transforms a features file may name.
const (
	TransformNone      = ""
	TransformHourOfDay = "hour_of_day" // UTC hour 0–23 of a time (epoch ms or RFC 3339)
	TransformDayOfWeek = "day_of_week" // UTC weekday, 0 = Monday … 6 = Sunday
	TransformLog1p     = "log1p"       // ln(1+x); x must be > -1
	TransformBool      = "bool"        // boolean (or number: non-zero = 1) to 0/1
	TransformOneHot    = "one_hot"     // 1 when the string equals Value, else 0
	// TransformCategory maps a category (a string, or a number matched by
	// its shortest decimal form) to its code: its index in Categories, or in
	// the model's own category list for the feature (Info.Categories). A
	// value not in the list is missing (NaN), as pandas codes an unseen
	// category -1 and XGBoost and LightGBM then see a missing value. With
	// the model's own list (no categories in the features file) of a model
	// whose library reads numeric categorical inputs as codes
	// (Info.NumbersAreCodes: LightGBM), a number is the code itself.
	TransformCategory = "category"
)

// FeatureSpec is one model input in a features file. In YAML it is either a
// plain name or a mapping {name, from, transform, value, default}.
type FeatureSpec struct {
	Name      string   `yaml:"name"`
	From      string   `yaml:"from"`      // event field; default Name
	Transform string   `yaml:"transform"` // one of the Transform constants
	Value     string   `yaml:"value"`     // the category of one_hot
	Default   *float64 `yaml:"default"`   // used when the field is absent or null
	// Categories lists the categories of a category transform in code
	// order (code = index); optional when the model stores its own.
	Categories []string `yaml:"categories"`
	// Aggregate makes the feature a windowed aggregate over the entity's
	// history instead of an event field (see AggregateSpec); transform and
	// default apply on top.
	Aggregate *AggregateSpec `yaml:"aggregate"`
}

// UnmarshalYAML accepts a plain name as well as a mapping. A key that is
// not a field of FeatureSpec is an error naming it and its line.
func (s *FeatureSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Name = n.Value
		return nil
	}
	if err := checkKeys(n, featureWhere(n), reflect.TypeFor[FeatureSpec]()); err != nil {
		return err
	}
	type plain FeatureSpec
	return n.Decode((*plain)(s))
}

// FeatureFile is the YAML document of FEATURES_PATH / --features.
type FeatureFile struct {
	Features []FeatureSpec `yaml:"features"`
}

// ReadFeatureFile parses a features file.
func ReadFeatureFile(path string) ([]FeatureSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read features file: %w", err)
	}
	return ParseFeatures(b)
}

// ParseFeatures parses the YAML of a features file. Unknown keys are
// refused, naming the key and its line.
func ParseFeatures(b []byte) ([]FeatureSpec, error) {
	var f FeatureFile
	if err := decodeStrict(b, "features file", &f); err != nil {
		return nil, fmt.Errorf("parse features file: %w", err)
	}
	if len(f.Features) == 0 {
		return nil, errors.New("features file lists no features (want features: [...])")
	}
	return f.Features, nil
}

// ErrFeature is wrapped by every per-record extraction error.
var ErrFeature = errors.New("feature error")

type column struct {
	name, from string
	transform  string
	value      string
	def        float64
	hasDef     bool
	codes      map[string]int // category → code (TransformCategory)
	agg        int            // index of the feature's aggregate in Plan.aggs, or -1
	numIsCode  bool           // the model's own list: a number is the code
	// samePrev: the column reads the event field the column before it
	// reads (one-hot columns of one field): Extract looks it up once.
	samePrev bool
}

// Plan is compiled feature code: it fills one model input row from an event.
// A Plan is immutable and safe for concurrent use.
type Plan struct {
	cols []column
	aggs []Aggregate // the distinct aggregates the columns read
}

// Compile builds the plan of a model whose inputs are modelFeatures (see
// CompileFor).
func Compile(modelFeatures []string, specs []FeatureSpec) (*Plan, error) {
	return CompileFor(Info{Features: modelFeatures}, specs)
}

// CompileFor builds the plan of a model. Without specs, model feature f is
// event field f (a feature for which the model stores categories takes the
// category transform). With specs, they must list the model's inputs in
// order: as many as the model has, with the same names when the model names
// them.
func CompileFor(info Info, specs []FeatureSpec) (*Plan, error) {
	modelFeatures := info.Features
	if len(info.Categories) != 0 && len(info.Categories) != len(modelFeatures) {
		return nil, fmt.Errorf("the model reports categories for %d of its %d inputs", len(info.Categories), len(modelFeatures))
	}
	if specs == nil {
		specs = make([]FeatureSpec, len(modelFeatures))
		for i, f := range modelFeatures {
			if f == "" {
				return nil, errors.New("the model's inputs have no names (an ONNX model with one tensor input): give a features file (FEATURES_PATH or --features) that lists them in order")
			}
			specs[i] = FeatureSpec{Name: f}
		}
	}
	if len(specs) != len(modelFeatures) {
		return nil, fmt.Errorf("features file lists %d features, the model has %d inputs %v", len(specs), len(modelFeatures), modelFeatures)
	}
	p := &Plan{cols: make([]column, len(specs))}
	for i, s := range specs {
		if s.Name == "" {
			return nil, fmt.Errorf("feature %d has no name", i)
		}
		if modelFeatures[i] != "" && modelFeatures[i] != s.Name {
			return nil, fmt.Errorf("feature %d is %q in the features file but %q in the model", i, s.Name, modelFeatures[i])
		}
		var modelCats []string
		if len(info.Categories) > 0 {
			modelCats = info.Categories[i]
		}
		if modelCats != nil && s.Transform == TransformNone {
			s.Transform = TransformCategory // the model's own categories
		}
		c := column{name: s.Name, from: s.From, transform: s.Transform, value: s.Value, agg: -1}
		if c.from == "" {
			c.from = s.Name
		}
		if s.Aggregate != nil {
			if s.From != "" {
				return nil, fmt.Errorf("%w: feature %q: from and aggregate exclude each other (an aggregate names its field inside)", ErrAggregate, s.Name)
			}
			a, err := compileAggregate(s.Name, s.Aggregate)
			if err != nil {
				return nil, err
			}
			c.agg = slices.IndexFunc(p.aggs, func(x Aggregate) bool { return x.Key() == a.Key() })
			if c.agg < 0 {
				c.agg = len(p.aggs)
				p.aggs = append(p.aggs, a)
			}
			c.from = a.Key()
		}
		if s.Transform != TransformCategory && s.Categories != nil {
			return nil, fmt.Errorf("feature %q: categories are only for transform category", s.Name)
		}
		switch s.Transform {
		case TransformNone, TransformHourOfDay, TransformDayOfWeek, TransformLog1p, TransformBool:
			if s.Value != "" {
				return nil, fmt.Errorf("feature %q: value is only for one_hot", s.Name)
			}
		case TransformOneHot:
			if s.Value == "" {
				return nil, fmt.Errorf("feature %q: one_hot needs a value", s.Name)
			}
		case TransformCategory:
			codes, err := categoryCodes(s, modelCats)
			if err != nil {
				return nil, err
			}
			c.codes = codes
			c.numIsCode = s.Categories == nil && info.NumbersAreCodes
		default:
			return nil, fmt.Errorf("feature %q: unknown transform %q (want hour_of_day, day_of_week, log1p, bool, one_hot or category)", s.Name, s.Transform)
		}
		if s.Default != nil {
			if math.IsNaN(*s.Default) || math.IsInf(*s.Default, 0) {
				return nil, fmt.Errorf("feature %q: default must be finite", s.Name)
			}
			c.def, c.hasDef = *s.Default, true
		}
		p.cols[i] = c
	}
	for i := 1; i < len(p.cols); i++ {
		c, prev := &p.cols[i], &p.cols[i-1]
		c.samePrev = c.agg < 0 && prev.agg < 0 && c.from == prev.from
	}
	return p, nil
}

// categoryCodes builds the code table of a category feature from the
// features file's list or the model's own; when both are given they must
// agree, since a code means the model's category.
func categoryCodes(s FeatureSpec, modelCats []string) (map[string]int, error) {
	cats := s.Categories
	switch {
	case cats == nil && modelCats == nil:
		return nil, fmt.Errorf("feature %q: transform category needs categories (the model stores none for it)", s.Name)
	case cats == nil:
		cats = modelCats
	case modelCats != nil && !slices.Equal(cats, modelCats):
		return nil, fmt.Errorf("feature %q: the features file's categories %v differ from the model's own %v", s.Name, cats, modelCats)
	}
	if s.Value != "" {
		return nil, fmt.Errorf("feature %q: value is only for one_hot", s.Name)
	}
	codes := make(map[string]int, len(cats))
	for k, c := range cats {
		if _, dup := codes[c]; dup {
			return nil, fmt.Errorf("feature %q: category %q is listed twice", s.Name, c)
		}
		codes[c] = k
	}
	return codes, nil
}

// Name is the name of input i (Names()[i], without a copy).
func (p *Plan) Name(i int) string { return p.cols[i].name }

// Names are the model input names in order.
func (p *Plan) Names() []string {
	out := make([]string, len(p.cols))
	for i, c := range p.cols {
		out[i] = c.name
	}
	return out
}

// Sources are the event fields the plan reads (each once, in first-use
// order); aggregates read the entity's history, not the event (their
// fields are Aggregates' concern).
func (p *Plan) Sources() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range p.cols {
		if c.agg < 0 && !seen[c.from] {
			seen[c.from] = true
			out = append(out, c.from)
		}
	}
	return out
}

// Len is the number of inputs a row has.
func (p *Plan) Len() int { return len(p.cols) }

// Extract fills row (len Len()) from ev. An absent or null field is its
// default, or NaN (missing). A field of the wrong type or a non-finite number
// is an error wrapping ErrFeature that names the feature; row is then
// partially written and must not be scored.
func (p *Plan) Extract(ev *schemas.Event, row []float32) error {
	if len(row) != len(p.cols) {
		return fmt.Errorf("%w: row has %d slots, plan has %d features", ErrShape, len(row), len(p.cols))
	}
	var in schemas.Value
	for i := range p.cols {
		c := &p.cols[i]
		if !c.samePrev {
			in = c.input(ev)
		}
		v, err := c.feature(in)
		if err != nil {
			return err
		}
		if f := float32(v); math.IsInf(float64(f), 0) { // finite in float64, infinite once rounded
			return fmt.Errorf("%w: feature %q (field %q): %v is beyond the float32 range the model computes in", ErrFeature, c.name, c.from, v)
		}
		row[i] = float32(v)
	}
	return nil
}

// Extract64 is Extract for models that compute in float64 (ONNX graphs with
// double input): the values are not rounded to float32.
func (p *Plan) Extract64(ev *schemas.Event, row []float64) error {
	if len(row) != len(p.cols) {
		return fmt.Errorf("%w: row has %d slots, plan has %d features", ErrShape, len(row), len(p.cols))
	}
	var in schemas.Value
	for i := range p.cols {
		c := &p.cols[i]
		if !c.samePrev {
			in = c.input(ev)
		}
		v, err := c.feature(in)
		if err != nil {
			return err
		}
		row[i] = v
	}
	return nil
}

// input is what the column reads of ev: its aggregate or its field (the
// zero Value, null, when absent).
func (c *column) input(ev *schemas.Event) schemas.Value {
	if c.agg >= 0 {
		if c.agg < len(ev.Aggs) {
			return ev.Aggs[c.agg]
		}
		return schemas.Value{}
	}
	v, _ := ev.Field(c.from)
	return v
}

// feature is the column's feature value for its input v.
func (c *column) feature(v schemas.Value) (float64, error) {
	if v.Kind == schemas.Null {
		if c.hasDef {
			return c.def, nil
		}
		return math.NaN(), nil
	}
	x, err := c.apply(v)
	if err != nil {
		return 0, fmt.Errorf("%w: feature %q (field %q): %v", ErrFeature, c.name, c.from, err)
	}
	return x, nil
}

func (c *column) apply(v schemas.Value) (float64, error) {
	switch c.transform {
	case TransformCategory:
		var k string
		switch v.Kind {
		case schemas.String:
			k = v.Str
		case schemas.Number:
			if c.numIsCode {
				if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
					return 0, fmt.Errorf("non-finite number %v", v.Num)
				}
				return v.Num, nil
			}
			k = strconv.FormatFloat(v.Num, 'g', -1, 64)
		case schemas.Bool:
			// a boolean category: the list must have it (pandas bool
			// categories are listed as true/false)
			k = strconv.FormatBool(v.Num != 0)
			if _, ok := c.codes[k]; !ok {
				return 0, fmt.Errorf("category wants a string, got %s", v.Kind)
			}
		default:
			return 0, fmt.Errorf("category wants a string, got %s", v.Kind)
		}
		if code, ok := c.codes[k]; ok {
			return float64(code), nil
		}
		return math.NaN(), nil // unseen: missing
	case TransformOneHot:
		if v.Kind != schemas.String {
			return 0, fmt.Errorf("one_hot wants a string, got %s", v.Kind)
		}
		if v.Str == c.value {
			return 1, nil
		}
		return 0, nil
	case TransformBool:
		switch v.Kind {
		case schemas.Bool:
			return v.Num, nil
		case schemas.Number:
			if math.IsNaN(v.Num) {
				return 0, errors.New("NaN is not a boolean")
			}
			if v.Num != 0 {
				return 1, nil
			}
			return 0, nil
		}
		return 0, fmt.Errorf("want a boolean, got %s", v.Kind)
	case TransformHourOfDay, TransformDayOfWeek:
		t, ok := schemas.TimeOf(v)
		if !ok {
			return 0, fmt.Errorf("want a time (epoch ms or RFC 3339), got %s", v.Kind)
		}
		if c.transform == TransformHourOfDay {
			return float64(t.Hour()), nil
		}
		return float64((t.Weekday() + 6) % 7), nil // Monday = 0
	}
	var x float64
	switch v.Kind {
	case schemas.Number:
		x = v.Num
	case schemas.Bool:
		x = v.Num
	default:
		return 0, fmt.Errorf("want a number, got %s", v.Kind)
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("non-finite number %v", x)
	}
	if c.transform == TransformLog1p {
		if x <= -1 {
			return 0, fmt.Errorf("log1p needs a value > -1, got %v", x)
		}
		x = math.Log1p(x)
	}
	return x, nil
}

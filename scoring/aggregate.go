package scoring

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/schemas"
)

// Aggregate functions of a features file's `aggregate:`.
const (
	AggCount         = "count"          // matching events
	AggSum           = "sum"            // of a numeric field
	AggMean          = "mean"           // of a numeric field
	AggMin           = "min"            // of a numeric field
	AggMax           = "max"            // of a numeric field
	AggCountDistinct = "count_distinct" // distinct values of a scalar field
	AggLast          = "last"           // the field's value in the latest matching event
	AggSinceLast     = "since_last"     // seconds from the latest matching event to this one
)

// numericAgg reports whether fn reads a numeric field.
func numericAgg(fn string) bool {
	switch fn {
	case AggSum, AggMean, AggMin, AggMax:
		return true
	}
	return false
}

// AggregateSpec is the `aggregate:` mapping of a feature in a features
// file: {fn, of, field, over, where}.
type AggregateSpec struct {
	Fn    string                  `yaml:"fn"`
	Of    string                  `yaml:"of"`    // transaction | activity
	Field string                  `yaml:"field"` // the field fn reads (numeric fns, count_distinct, last)
	Over  string                  `yaml:"over"`  // the window, a Go duration
	Where map[string]WhereMatches `yaml:"where"` // equality on fields: a value or a list of values
}

// WhereMatches is the value, or list of values, a `where` field must equal.
type WhereMatches []schemas.Value

// UnmarshalYAML reads a scalar or a list of scalars: strings, numbers or
// booleans.
func (w *WhereMatches) UnmarshalYAML(n *yaml.Node) error {
	nodes := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		nodes = n.Content
	}
	for _, x := range nodes {
		if x.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: a where value is a string, number or boolean, or a list of them", x.Line)
		}
		*w = append(*w, scalarValue(x))
	}
	if len(*w) == 0 {
		return fmt.Errorf("line %d: an empty list of where values matches nothing", n.Line)
	}
	return nil
}

// scalarValue reads a YAML scalar as an event value: a number, a boolean
// or (otherwise, and when quoted) a string.
func scalarValue(n *yaml.Node) schemas.Value {
	switch n.Tag {
	case "!!int", "!!float":
		if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil {
			return schemas.NumberValue(f)
		}
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return schemas.BoolValue(b)
		}
	}
	return schemas.StringValue(n.Value)
}

// Condition is one `where` equality: the field equals one of Values (same
// kind and value; a field that is absent or null matches nothing).
type Condition struct {
	Field  string
	Values []schemas.Value
}

// Matches reports whether ev satisfies the condition.
func (c Condition) Matches(ev *schemas.Event) bool {
	v, ok := ev.Field(c.Field)
	if !ok || v.Kind == schemas.Null {
		return false
	}
	for _, w := range c.Values {
		if w.Kind == v.Kind && w.Num == v.Num && w.Str == v.Str {
			return true
		}
	}
	return false
}

// Aggregate is a compiled aggregate: over the events x of the entity of
// kind Of that satisfy every Where condition, with
// t − Over ≤ time(x) < t for an event at time t (DESIGN.md, "Entity
// features"). Two features with the same definition share one Aggregate
// (Key).
type Aggregate struct {
	Fn    string
	Of    schemas.EventType
	Field string
	Over  time.Duration
	Where []Condition // sorted by field
}

// Key is the canonical form of the definition: equal definitions have
// equal keys.
func (a Aggregate) Key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s(%s.%s over %v", a.Fn, a.Of, a.Field, a.Over)
	for _, c := range a.Where {
		fmt.Fprintf(&b, " where %s in [", c.Field)
		for i, v := range c.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			switch v.Kind {
			case schemas.String:
				b.WriteString(strconv.Quote(v.Str))
			case schemas.Bool:
				b.WriteString(strconv.FormatBool(v.Num != 0))
			default:
				b.WriteString(strconv.FormatFloat(v.Num, 'g', -1, 64))
			}
		}
		b.WriteByte(']')
	}
	b.WriteByte(')')
	return b.String()
}

// Empty is the value of the aggregate over no events: 0 for count, sum
// and count_distinct, missing (NaN) for the others.
func (a Aggregate) Empty() float64 {
	switch a.Fn {
	case AggCount, AggSum, AggCountDistinct:
		return 0
	}
	return math.NaN()
}

// ErrAggregate is wrapped by every invalid aggregate's error.
var ErrAggregate = errors.New("invalid aggregate")

// compileAggregate validates the aggregate of feature name.
func compileAggregate(name string, s *AggregateSpec) (Aggregate, error) {
	bad := func(format string, args ...any) (Aggregate, error) {
		return Aggregate{}, fmt.Errorf("%w: feature %q: %s", ErrAggregate, name, fmt.Sprintf(format, args...))
	}
	a := Aggregate{Fn: s.Fn, Field: s.Field}
	switch s.Fn {
	case AggCount, AggSinceLast:
	case AggSum, AggMean, AggMin, AggMax, AggCountDistinct, AggLast:
		if s.Field == "" {
			return bad("fn %s needs a field", s.Fn)
		}
	case "":
		return bad("aggregate needs fn (one of count, sum, mean, min, max, count_distinct, last, since_last)")
	default:
		return bad("unknown fn %q (want count, sum, mean, min, max, count_distinct, last or since_last)", s.Fn)
	}
	if (s.Fn == AggCount || s.Fn == AggSinceLast) && s.Field != "" {
		return bad("fn %s takes no field (it counts or times matching events; use where to choose them)", s.Fn)
	}
	kind, err := schemas.ParseEventType(s.Of)
	if err != nil || s.Of == "" {
		return bad("of %q: want transaction or activity", s.Of)
	}
	a.Of = kind
	if s.Over == "" {
		return bad("aggregate needs over (the window, a Go duration such as 1h)")
	}
	over, err := time.ParseDuration(s.Over)
	if err != nil {
		return bad("over %q: want a Go duration such as 1h or 168h", s.Over)
	}
	if over <= 0 {
		return bad("over %q: the window must be positive", s.Over)
	}
	if over%time.Millisecond != 0 {
		return bad("over %q: event times are milliseconds; the window must be whole milliseconds", s.Over)
	}
	a.Over = over
	for f, vals := range s.Where {
		if f == "" {
			return bad("where has an empty field name")
		}
		a.Where = append(a.Where, Condition{Field: f, Values: vals})
	}
	slices.SortFunc(a.Where, func(x, y Condition) int { return strings.Compare(x.Field, y.Field) })
	return a, nil
}

// Aggregates are the plan's aggregates, in the order of its aggregate
// features (the event's Aggs are in this order).
func (p *Plan) Aggregates() []Aggregate { return p.aggs }

// AggregateFeature is the name of the first feature that reads the
// aggregate with a's definition, or "" (for error messages).
func (p *Plan) AggregateFeature(a Aggregate) string {
	for _, c := range p.cols {
		if c.agg >= 0 && p.aggs[c.agg].Key() == a.Key() {
			return c.name
		}
	}
	return ""
}

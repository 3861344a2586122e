package load

import (
	"fmt"
	"strings"

	"github.com/streamscore/streamscore/scoring"
)

// Describe renders what `streamscore model inspect` prints: name, version,
// format, output kind (and targets), booster and objective, features, the
// category lists a model stores, and the tree, node and categorical split
// counts (and ONNX operators) where the format has them, and whether the
// model explains its scores (and why not).
func Describe(m scoring.Model) string {
	info := m.Info()
	var b strings.Builder
	fmt.Fprintf(&b, "name:     %s\n", info.Name)
	fmt.Fprintf(&b, "version:  %s\n", info.Version)
	fmt.Fprintf(&b, "format:   %s\n", info.Format)
	switch {
	case info.MultiTarget() && info.Output == scoring.Binary:
		fmt.Fprintf(&b, "output:   %d targets, each a binary classifier (target_0 … target_%d = each one's P(class 1); score = target 0's)\n", info.Targets, info.Targets-1)
	case info.MultiTarget():
		fmt.Fprintf(&b, "output:   %d targets, each a regression (target_0 … target_%d = each one's prediction; score = target 0's)\n", info.Targets, info.Targets-1)
	case info.Output == scoring.Regression:
		fmt.Fprintf(&b, "output:   regression (score = the prediction)\n")
	case info.Output == scoring.Binary:
		fmt.Fprintf(&b, "output:   binary classifier (score = P(class 1))\n")
	default:
		fmt.Fprintf(&b, "output:   %d-class classifier (score = top class probability, label = its index)\n", info.Classes)
	}
	if o, ok := m.(interface {
		Objective() string
		Booster() string
	}); ok {
		fmt.Fprintf(&b, "booster:  %s, objective %s\n", o.Booster(), o.Objective())
	}
	names := make([]string, len(info.Features))
	unnamed := false
	for i, f := range info.Features {
		names[i] = f
		if f == "" {
			names[i], unnamed = fmt.Sprintf("#%d", i), true
		}
	}
	if _, open := m.(scoring.WidthFitter); open && len(names) == 0 {
		b.WriteString("features: as many as the features file lists (the model's input has no fixed column count")
		if w, ok := m.(interface{ MinWidth() int }); ok && w.MinWidth() > 0 {
			fmt.Fprintf(&b, "; at least %d", w.MinWidth())
		}
		b.WriteString(")\n")
	} else {
		fmt.Fprintf(&b, "features: %d: %s\n", len(names), strings.Join(names, ", "))
	}
	for i, c := range info.Categories {
		if c != nil {
			fmt.Fprintf(&b, "          %s: categories %s\n", names[i], strings.Join(c, ", "))
		}
	}
	if unnamed {
		b.WriteString("          (the model does not name its inputs: a features file must list them in order)\n")
	}
	for i, cats := range info.Categories {
		if cats == nil {
			continue
		}
		shown := cats[:min(len(cats), 8)]
		more := ""
		if len(cats) > len(shown) {
			more = ", …"
		}
		fmt.Fprintf(&b, "category: %s: %d categories stored in the model (%s%s)\n", names[i], len(cats), strings.Join(shown, ", "), more)
	}
	if t, ok := m.(interface {
		NumTrees() int
		NumNodes() int
	}); ok && t.NumTrees() > 0 {
		cat := ""
		if c, ok := m.(interface{ NumCategoricalSplits() int }); ok && c.NumCategoricalSplits() > 0 {
			cat = fmt.Sprintf(", %d categorical splits", c.NumCategoricalSplits())
		}
		fmt.Fprintf(&b, "trees:    %d (%d nodes%s)\n", t.NumTrees(), t.NumNodes(), cat)
	}
	if o, ok := m.(interface{ Operators() []string }); ok {
		fmt.Fprintf(&b, "graph:    %s\n", strings.Join(o.Operators(), " -> "))
	}
	if f, ok := m.(scoring.Float64Model); ok && f.Float64Input() {
		b.WriteString("input:    double (computed in float64)\n")
	}
	if d, ok := m.(interface{ Describe() []string }); ok {
		for _, l := range d.Describe() {
			b.WriteString(l + "\n")
		}
	}
	if _, err := scoring.NewExplainer(m); err != nil {
		fmt.Fprintf(&b, "reasons:  none (%v)\n", err)
	} else {
		b.WriteString("reasons:  exact TreeSHAP contributions (score --contributions, REASONS_TOP_K)\n")
	}
	return b.String()
}

package load

import (
	"fmt"
	"strings"

	"github.com/streamscore/streamscore/scoring"
)

// Describe renders what `streamscore model inspect` prints: name, version,
// format, output kind, features, and the tree and node counts (and ONNX
// operators) where the format has them.
func Describe(m scoring.Model) string {
	info := m.Info()
	var b strings.Builder
	fmt.Fprintf(&b, "name:     %s\n", info.Name)
	fmt.Fprintf(&b, "version:  %s\n", info.Version)
	fmt.Fprintf(&b, "format:   %s\n", info.Format)
	switch info.Output {
	case scoring.Regression:
		fmt.Fprintf(&b, "output:   regression (score = the prediction)\n")
	case scoring.Binary:
		fmt.Fprintf(&b, "output:   binary classifier (score = P(class 1))\n")
	default:
		fmt.Fprintf(&b, "output:   %d-class classifier (score = top class probability, label = its index)\n", info.Classes)
	}
	names := make([]string, len(info.Features))
	unnamed := false
	for i, f := range info.Features {
		names[i] = f
		if f == "" {
			names[i], unnamed = fmt.Sprintf("#%d", i), true
		}
	}
	fmt.Fprintf(&b, "features: %d: %s\n", len(names), strings.Join(names, ", "))
	if unnamed {
		b.WriteString("          (the model does not name its inputs: a features file must list them in order)\n")
	}
	if t, ok := m.(interface {
		NumTrees() int
		NumNodes() int
	}); ok && t.NumTrees() > 0 {
		fmt.Fprintf(&b, "trees:    %d (%d nodes)\n", t.NumTrees(), t.NumNodes())
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
	return b.String()
}

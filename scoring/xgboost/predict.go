package xgboost

import (
	"math"

	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/internal/fmath"
)

// block is the number of rows walked through one tree before moving to the
// next tree: the tree stays in cache while the rows' sums stay in tree order.
const block = 64

// Predict implements scoring.Model: out receives P(class 1) for binary
// models (0 or 1 for binary:hinge), one probability per class for
// multi-class models, one output per target for multi-target models, and
// the transformed prediction otherwise.
func (m *Model) Predict(x, out []float32) error {
	n, err := scoring.CheckShape(m.info, x, out)
	if err != nil {
		return err
	}
	m.margins(x, out, n)
	m.transformInPlace(out, n)
	return nil
}

// PredictMargin writes the untransformed margins (n rows × groups) to out,
// as XGBoost's output_margin=True does.
func (m *Model) PredictMargin(x, out []float32) error {
	n, err := scoring.CheckShape(m.info, x, out)
	if err != nil {
		return err
	}
	m.margins(x, out, n)
	return nil
}

func (m *Model) margins(x, out []float32, n int) {
	if m.linear != nil {
		m.marginsLinear(x, out, n)
		return
	}
	g, nf := m.groups, m.nfeat
	for r := 0; r < n; r++ {
		copy(out[r*g:(r+1)*g], m.base)
	}
	if m.complete != nil {
		m.marginsComplete(x, out, n)
		return
	}
	nodes := m.nodes
	for start := 0; start < n; start += block {
		end := min(start+block, n)
		for t, root := range m.roots {
			grp := int(m.treeGroup[t])
			if m.treeCat[t] {
				for r := start; r < end; r++ {
					out[r*g+grp] += m.leaf(root, x[r*nf:(r+1)*nf:(r+1)*nf])
				}
				continue
			}
			for r := start; r < end; r++ {
				row := x[r*nf : (r+1)*nf : (r+1)*nf]
				i := root
				for {
					nd := &nodes[i]
					if nd.left == 0 {
						out[r*g+grp] += nd.split
						break
					}
					v := row[nd.info&featureMask]
					switch {
					case v < nd.split:
						i = nd.left
					case v != v: // NaN: the node's default direction
						i = nd.left
						if nd.info&defaultLeftBit == 0 {
							i++
						}
					default:
						i = nd.left + 1
					}
				}
			}
		}
	}
}

// leaf walks one row through the tree at root, numeric and categorical
// splits alike, and returns its leaf value.
func (m *Model) leaf(root int32, row []float32) float32 {
	nodes := m.nodes
	i := root
	for {
		nd := &nodes[i]
		if nd.left == 0 {
			return nd.split
		}
		v := row[nd.info&featureMask]
		switch {
		case v != v: // NaN: the node's default direction
			i = nd.left
			if nd.info&defaultLeftBit == 0 {
				i++
			}
		case nd.info&categoricalBit != 0:
			i = nd.left
			if m.catSets[math.Float32bits(nd.split)].right(v) {
				i++
			}
		case v < nd.split:
			i = nd.left
		default:
			i = nd.left + 1
		}
	}
}

func (m *Model) transformInPlace(out []float32, n int) {
	switch m.transform {
	case sigmoid:
		for i, v := range out {
			out[i] = sigmoidf(v)
		}
	case exponential:
		for i, v := range out {
			out[i] = fmath.Expf(v)
		}
	case expDouble:
		for i, v := range out {
			out[i] = float32(math.Exp(float64(v)))
		}
	case hinge:
		for i, v := range out {
			if v > 0 {
				out[i] = 1
			} else {
				out[i] = 0
			}
		}
	case softmax:
		g := m.groups
		for r := 0; r < n; r++ {
			softmaxf(out[r*g : (r+1)*g])
		}
	}
}

// sigmoidf is XGBoost's common::Sigmoid in float32.
func sigmoidf(margin float32) float32 {
	x := -margin
	if x > 88.7 {
		x = 88.7
	}
	const eps float32 = 1e-16
	return float32(1) / (fmath.Expf(x) + float32(1) + eps)
}

// softmaxf is XGBoost's common::Softmax: float32 exponentials of the
// max-shifted margins, summed in float64, each divided in float32.
func softmaxf(row []float32) {
	wmax := row[0]
	for _, v := range row[1:] {
		if v > wmax {
			wmax = v
		}
	}
	var sum float64
	for k, v := range row {
		e := fmath.Expf(v - wmax)
		row[k] = e
		sum += float64(e)
	}
	s := float32(sum)
	for k := range row {
		row[k] /= s
	}
}

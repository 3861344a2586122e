package xgboost

import (
	"fmt"
	"math"
)

// gblinear: per output group g, XGBoost's GBLinear::Pred computes in
// float32
//
//	psum = bias[g] + base_margin
//	psum += x[f] * weight[f][g]   for each present (non-NaN) feature f, in order
//
// (a missing value is absent from XGBoost's sparse row, so it adds
// nothing), and the objective's transform follows as for trees.

// setLinear reads a gblinear model's weights: feature f of group g at
// f*groups+g, then the bias of each group.
func (m *Model) setLinear(model map[string]any, baseStr string) error {
	w, err := floatsField(model, "weights", "gradient_booster.model")
	if err != nil {
		return err
	}
	if want := (m.nfeat + 1) * m.groups; len(w) != want {
		return fmt.Errorf("gblinear has %d weights, want (num_feature %d + 1) × %d outputs = %d", len(w), m.nfeat, m.groups, want)
	}
	for i, v := range w {
		if math.IsNaN(float64(v)) {
			return fmt.Errorf("gblinear weight %d is NaN", i)
		}
	}
	// XGBoost 1.x and 2.x start every group from the one base score; a
	// per-output vector (XGBoost ≥ 3.1) is not known to be applied per
	// group by gblinear, so only an all-equal vector is accepted.
	for g := range m.base {
		if m.base[g] != m.base[0] {
			return fmt.Errorf("%w: gblinear with a different base_score per output (%s)", ErrUnsupported, baseStr)
		}
	}
	m.linear = w
	return nil
}

// marginsLinear writes the margins of n rows of a gblinear model to out.
func (m *Model) marginsLinear(x, out []float32, n int) {
	g, nf := m.groups, m.nfeat
	bias := m.linear[nf*g:]
	for r := 0; r < n; r++ {
		row := x[r*nf : (r+1)*nf : (r+1)*nf]
		o := out[r*g : (r+1)*g : (r+1)*g]
		for k := range o {
			psum := bias[k] + m.base[k]
			for f, v := range row {
				if v == v {
					// The conversion rounds the product, so that no
					// fused multiply-add changes the float32 sum.
					psum += float32(v * m.linear[f*g+k])
				}
			}
			o[k] = psum
		}
	}
}

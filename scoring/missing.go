package scoring

// PlanInput is one model input of a plan as a file scorer checks it before
// scoring: which event field (column) it reads, and whether a default
// fills it when that field is absent.
type PlanInput struct {
	Name       string // the model input
	Field      string // the event field it reads
	HasDefault bool   // the features file gives it a default
	Aggregate  bool   // computed from the entity's history, not read from a field (Field is its definition)
}

// Inputs describes the plan's inputs, in model order.
func (p *Plan) Inputs() []PlanInput {
	out := make([]PlanInput, len(p.cols))
	for i, c := range p.cols {
		out[i] = PlanInput{Name: c.name, Field: c.from, HasDefault: c.hasDef, Aggregate: c.agg >= 0}
	}
	return out
}

// Missing returns, for the last Score with this Batch, how many of the
// events whose features were extracted had each model input missing: NaN
// in the model's row, which is an absent or null field without a default,
// or a category the list does not hold. It is indexed like the scorer's
// Plan().Names() and has Plan().Len() entries; events that failed at the
// features stage are not counted. The slice is the Batch's own, valid
// until the next Score: a caller adds it to a metric once per batch
// (streamscore_feature_missing_total{model,feature}), so counting costs
// no allocation and no lock per row.
func (b *Batch) Missing() []uint32 { return b.missing }

// countMissing adds one to counts[k] for every NaN row[k].
func countMissing[T float32 | float64](row []T, counts []uint32) {
	for k, v := range row {
		if v != v {
			counts[k]++
		}
	}
}

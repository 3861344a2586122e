package batchscore

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/streamscore/streamscore/scoring"
)

// ErrColumn is wrapped by the error of a file layout whose columns clash
// (a feature named like a prediction column).
var ErrColumn = errors.New("output columns clash")

// layout is the columns a file output adds after the kept input columns:
// with features, every model input (the exact value the model saw), then
// the prediction columns. Several models (one per event kind) share one
// layout: the union of their columns, in the order of the scorers given,
// each model's values at the places of their names; a column another
// model has is empty on its rows. Values are text: numbers in Go's
// shortest form that reads back to the same float64 ('g', -1), a missing
// feature as empty (JSON output: null).
type layout struct {
	features bool
	margins  bool
	contribs bool
	cols     []string
	index    map[string]int
	places   map[*scoring.Scorer]*placement
	vals     []string
}

// placement is where a scorer's values go: its features' columns, its
// prediction values' (predictionValues order), then its contributions'
// (ContributionColumns order).
type placement struct{ feat, pred, contrib []int }

// newLayout lays out the columns of scorers (duplicates are ignored);
// margins adds the raw-score columns of the models that report them,
// contribs every model's contribution columns.
func newLayout(scorers []*scoring.Scorer, features, margins, contribs bool) (*layout, error) {
	l := &layout{features: features, margins: margins, contribs: contribs, index: map[string]int{}, places: map[*scoring.Scorer]*placement{}}
	var feats, preds, cons []string
	for _, s := range scorers {
		if features {
			for _, n := range s.Plan().Names() {
				if !slices.Contains(feats, n) {
					feats = append(feats, n)
				}
			}
		}
		for _, c := range predictionColumns(s, margins) {
			if !slices.Contains(preds, c) {
				preds = append(preds, c)
			}
		}
		if contribs {
			for _, c := range ContributionColumns(s.Info()) {
				if !slices.Contains(cons, c) {
					cons = append(cons, c)
				}
			}
		}
	}
	for _, f := range feats {
		if slices.Contains(preds, f) {
			return nil, fmt.Errorf("%w: feature %q has the name of a prediction column; rename it in the features file", ErrColumn, f)
		}
	}
	l.cols = append(append(feats, preds...), cons...)
	for i, c := range l.cols {
		l.index[c] = i
	}
	l.vals = make([]string, len(l.cols))
	for _, s := range scorers {
		l.place(s)
	}
	return l, nil
}

// predictionColumns are a scorer's prediction columns, with its raw-score
// columns when margins is set.
func predictionColumns(s *scoring.Scorer, margins bool) []string {
	cols := Columns(s.Info())
	if margins {
		cols = append(cols, marginColumns(s)...)
	}
	return cols
}

// place is where s's values go (computed once per scorer; a value whose
// name is not a column of the layout is not written).
func (l *layout) place(s *scoring.Scorer) *placement {
	if p, ok := l.places[s]; ok {
		return p
	}
	p := &placement{}
	at := func(name string) int {
		if i, ok := l.index[name]; ok {
			return i
		}
		return -1
	}
	if l.features {
		for _, n := range s.Plan().Names() {
			p.feat = append(p.feat, at(n))
		}
	}
	for _, c := range predictionColumns(s, l.margins) {
		p.pred = append(p.pred, at(c))
	}
	if l.contribs {
		for _, c := range ContributionColumns(s.Info()) {
			p.contrib = append(p.contrib, at(c))
		}
	}
	l.places[s] = p
	return p
}

// values renders a scored row's columns: feats are the model inputs as
// the model saw them (Record.Features; ignored without features), contrib
// the row's contributions (Record.Contributions, float32 written in the
// shortest form that reads back to the same float32; ignored without
// contributions). The slice is reused by the next call.
func (l *layout) values(s *scoring.Scorer, r *scoring.Result, feats []float64, contrib []float32, scoredAt string) []string {
	p := l.place(s)
	clear(l.vals)
	for i, v := range feats {
		if i < len(p.feat) && p.feat[i] >= 0 && v == v {
			l.vals[p.feat[i]] = strconv.FormatFloat(v, 'g', -1, 64)
		}
	}
	for i, v := range predictionValues(r, s.Info().Version, scoredAt) {
		if i < len(p.pred) && p.pred[i] >= 0 {
			l.vals[p.pred[i]] = v
		}
	}
	for i, v := range contrib {
		if i < len(p.contrib) && p.contrib[i] >= 0 {
			l.vals[p.contrib[i]] = strconv.FormatFloat(float64(v), 'g', -1, 32)
		}
	}
	return l.vals
}

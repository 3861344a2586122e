package drift

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// Format is the "format" value of a baseline file; FormatVersion its
// "version".
const (
	Format        = "streamscore-baseline"
	FormatVersion = 1
)

// DefaultBins is the number of quantile bins a baseline asks for.
const DefaultBins = 10

// Histogram is the distribution of one value over the training rows.
// Edges are ascending interior cut points; value bin i holds the values x
// with Edges[i−1] < x ≤ Edges[i] (bin 0 everything up to Edges[0], the
// last bin everything above the last edge), so len(Counts) is
// len(Edges)+1. Missing counts the rows where the value was missing
// (NaN); Shares and MissingShare are the counts over every row, missing
// ones included, so that they add up to 1.
type Histogram struct {
	Edges        []float64 `json:"edges"`
	Counts       []uint64  `json:"counts"`
	Shares       []float64 `json:"shares"`
	Missing      uint64    `json:"missing"`
	MissingShare float64   `json:"missing_share"`
}

// Feature is the histogram of one model input.
type Feature struct {
	Name string `json:"name"`
	Histogram
}

// Baseline is the training distribution of a model's inputs and score:
// the file `streamscore baseline` writes and a route's baseline: reads.
type Baseline struct {
	Format       string    `json:"format"`
	Version      int       `json:"version"`
	Model        string    `json:"model,omitempty"`
	ModelVersion string    `json:"model_version,omitempty"`
	Source       string    `json:"source,omitempty"`     // the training file
	CreatedAt    string    `json:"created_at,omitempty"` // RFC 3339
	Rows         uint64    `json:"rows"`                 // training rows counted
	Bins         int       `json:"bins"`                 // quantile bins asked for (a value with ties may have fewer)
	Features     []Feature `json:"features"`             // in model input order
	Score        Histogram `json:"score"`
}

// ErrBaseline is wrapped by every error about a baseline file's content;
// ErrMismatch by Check's, for a baseline of other features.
var (
	ErrBaseline = errors.New("invalid baseline")
	ErrMismatch = errors.New("baseline does not fit the model")
)

// Parse reads and validates a baseline file's JSON (unknown fields are
// refused, so a misspelt field is not silently ignored).
func Parse(data []byte) (*Baseline, error) {
	var b Baseline
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBaseline, err)
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return &b, nil
}

// ReadFile reads and validates a baseline file.
func ReadFile(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read baseline: %w", err)
	}
	b, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// WriteFile writes b as indented JSON, atomically (a temporary file in the
// same directory, then a rename).
func (b *Baseline) WriteFile(path string) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".baseline-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Validate checks the invariants: the format, names present and unique,
// finite strictly ascending edges, one count per bin, counts adding up to
// Rows.
func (b *Baseline) Validate() error {
	if b.Format != Format {
		return fmt.Errorf("%w: format %q, want %q", ErrBaseline, b.Format, Format)
	}
	if b.Version != FormatVersion {
		return fmt.Errorf("%w: version %d, this build reads version %d", ErrBaseline, b.Version, FormatVersion)
	}
	if b.Rows == 0 {
		return fmt.Errorf("%w: no rows", ErrBaseline)
	}
	if len(b.Features) == 0 {
		return fmt.Errorf("%w: no features", ErrBaseline)
	}
	seen := map[string]bool{}
	for i := range b.Features {
		f := &b.Features[i]
		if f.Name == "" {
			return fmt.Errorf("%w: feature %d has no name", ErrBaseline, i)
		}
		if seen[f.Name] {
			return fmt.Errorf("%w: feature %q is listed twice", ErrBaseline, f.Name)
		}
		seen[f.Name] = true
		if err := f.Histogram.validate(b.Rows); err != nil {
			return fmt.Errorf("%w: feature %q: %v", ErrBaseline, f.Name, err)
		}
	}
	if err := b.Score.validate(b.Rows); err != nil {
		return fmt.Errorf("%w: score: %v", ErrBaseline, err)
	}
	return nil
}

func (h *Histogram) validate(rows uint64) error {
	for i, e := range h.Edges {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return fmt.Errorf("edge %d is %v", i, e)
		}
		if i > 0 && e <= h.Edges[i-1] {
			return fmt.Errorf("edges not strictly ascending at %d (%v after %v)", i, e, h.Edges[i-1])
		}
	}
	if len(h.Counts) != len(h.Edges)+1 {
		return fmt.Errorf("%d counts for %d edges, want %d", len(h.Counts), len(h.Edges), len(h.Edges)+1)
	}
	if h.Shares != nil && len(h.Shares) != len(h.Counts) {
		return fmt.Errorf("%d shares for %d counts", len(h.Shares), len(h.Counts))
	}
	total := h.Missing
	for _, c := range h.Counts {
		total += c
	}
	if total != rows {
		return fmt.Errorf("counts and missing add up to %d, rows is %d", total, rows)
	}
	return nil
}

// Check reports whether the baseline describes these model inputs, in
// this order (a baseline of another model or features file is refused,
// naming the first difference).
func (b *Baseline) Check(features []string) error {
	names := b.Names()
	if slices.Equal(names, features) {
		return nil
	}
	for i := 0; i < min(len(names), len(features)); i++ {
		if names[i] != features[i] {
			return fmt.Errorf("%w: input %d is %q in the baseline but %q in the model", ErrMismatch, i, names[i], features[i])
		}
	}
	return fmt.Errorf("%w: the baseline has %d inputs %v, the model %d %v", ErrMismatch, len(names), names, len(features), features)
}

// Names are the features' names in order.
func (b *Baseline) Names() []string {
	out := make([]string, len(b.Features))
	for i, f := range b.Features {
		out[i] = f.Name
	}
	return out
}

// Bin is the value bin of x in a histogram with these edges (x not NaN):
// the number of edges below x.
func Bin(edges []float64, x float64) int {
	return sort.SearchFloat64s(edges, x) // first edge ≥ x: x is in (edges[i−1], edges[i]]
}

// Builder gathers training rows for a baseline. It keeps every non-missing
// value (8 bytes per value) to compute exact quantiles.
type Builder struct {
	names   []string
	values  [][]float64
	missing []uint64
	scores  []float64
	rows    uint64
}

// NewBuilder returns a builder for rows of these model inputs.
func NewBuilder(features []string) *Builder {
	return &Builder{names: slices.Clone(features), values: make([][]float64, len(features)), missing: make([]uint64, len(features))}
}

// Add adds one row of model inputs (NaN = missing) and the model's score
// of it.
func (b *Builder) Add(row []float64, score float64) error {
	if len(row) != len(b.names) {
		return fmt.Errorf("drift: row of %d values for %d features", len(row), len(b.names))
	}
	if math.IsNaN(score) || math.IsInf(score, 0) {
		return fmt.Errorf("drift: score %v", score)
	}
	for i, x := range row {
		if math.IsNaN(x) {
			b.missing[i]++
		} else {
			b.values[i] = append(b.values[i], x)
		}
	}
	b.scores = append(b.scores, score)
	b.rows++
	return nil
}

// Rows is the number of rows added.
func (b *Builder) Rows() uint64 { return b.rows }

// Build computes the baseline with up to bins quantile bins per value
// (DefaultBins when bins is 0). The edges are the distinct lower
// k/bins-quantiles (k = 1 … bins−1; the smallest value v with at least
// k/bins of the values ≤ v), less any equal to the maximum, so a value
// with few distinct values (a one-hot input) gets fewer bins, and a
// constant one a single bin.
func (b *Builder) Build(bins int) (*Baseline, error) {
	if bins == 0 {
		bins = DefaultBins
	}
	if bins < 2 || bins > 1000 {
		return nil, fmt.Errorf("drift: %d bins: want 2 to 1000", bins)
	}
	if b.rows == 0 {
		return nil, errors.New("drift: no rows to build a baseline from")
	}
	out := &Baseline{Format: Format, Version: FormatVersion, Rows: b.rows, Bins: bins}
	for i, name := range b.names {
		out.Features = append(out.Features, Feature{Name: name, Histogram: histogram(b.values[i], b.missing[i], b.rows, bins)})
	}
	out.Score = histogram(b.scores, 0, b.rows, bins)
	return out, nil
}

func histogram(values []float64, missing, rows uint64, bins int) Histogram {
	h := Histogram{Missing: missing, MissingShare: float64(missing) / float64(rows)}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	n := len(sorted)
	if n > 0 {
		top := sorted[n-1]
		for k := 1; k < bins; k++ {
			// the lower k/bins-quantile: sorted[⌈k·n/bins⌉ − 1]
			e := sorted[(k*n+bins-1)/bins-1]
			if e < top && (len(h.Edges) == 0 || e > h.Edges[len(h.Edges)-1]) {
				h.Edges = append(h.Edges, e)
			}
		}
	}
	if h.Edges == nil {
		h.Edges = []float64{}
	}
	h.Counts = make([]uint64, len(h.Edges)+1)
	for _, x := range sorted {
		h.Counts[Bin(h.Edges, x)]++
	}
	h.Shares = make([]float64, len(h.Counts))
	for i, c := range h.Counts {
		h.Shares[i] = float64(c) / float64(rows)
	}
	return h
}

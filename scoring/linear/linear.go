package linear

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/streamscore/streamscore/scoring"
)

// Marker is the value of the "format" field.
const Marker = "streamscore-linear"

// Format is reported in Info.Format.
const Format = "linear"

type file struct {
	Format       string             `json:"format"`
	Link         string             `json:"link"`
	Features     []string           `json:"features"`
	Coefficients json.RawMessage    `json:"coefficients"`
	Intercept    json.RawMessage    `json:"intercept"`
	Missing      map[string]float64 `json:"missing"`
	Version      string             `json:"version"`
}

// Model is a loaded linear model; immutable and safe for concurrent use.
type Model struct {
	info    scoring.Info
	link    string
	w       [][]float64 // per class (one row unless softmax)
	b       []float64
	missing []float64 // NaN: none
}

// IsLinear reports whether data looks like a file of this format.
func IsLinear(data []byte) bool {
	return bytes.Contains(data[:min(len(data), 4096)], []byte(`"`+Marker+`"`))
}

// Load reads a model file; name empty means the file name without extension.
func Load(path, name string) (*Model, error) {
	return scoring.LoadFile(path, name, Parse)
}

// Parse reads a model from memory.
func Parse(data []byte, name string) (*Model, error) {
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse linear model: %w", err)
	}
	if f.Format != Marker {
		return nil, fmt.Errorf("format is %q, want %q", f.Format, Marker)
	}
	nf := len(f.Features)
	if nf == 0 {
		return nil, errors.New("features: at least one is required")
	}
	seen := map[string]bool{}
	for _, n := range f.Features {
		if n == "" || seen[n] {
			return nil, fmt.Errorf("features: empty or repeated name %q", n)
		}
		seen[n] = true
	}
	m := &Model{link: f.Link}
	switch f.Link {
	case "identity", "logistic":
		var w []float64
		if err := json.Unmarshal(f.Coefficients, &w); err != nil {
			return nil, fmt.Errorf("coefficients: want a list of numbers: %w", err)
		}
		var b float64
		if len(f.Intercept) > 0 {
			if err := json.Unmarshal(f.Intercept, &b); err != nil {
				return nil, fmt.Errorf("intercept: want a number: %w", err)
			}
		}
		m.w, m.b = [][]float64{w}, []float64{b}
		m.info.Output, m.info.Classes = scoring.Regression, 1
		if f.Link == "logistic" {
			m.info.Output, m.info.Classes = scoring.Binary, 2
		}
	case "softmax":
		if err := json.Unmarshal(f.Coefficients, &m.w); err != nil {
			return nil, fmt.Errorf("coefficients: want one list per class: %w", err)
		}
		if len(m.w) < 2 {
			return nil, fmt.Errorf("coefficients: softmax needs at least 2 classes, got %d", len(m.w))
		}
		m.b = make([]float64, len(m.w))
		if len(f.Intercept) > 0 {
			if err := json.Unmarshal(f.Intercept, &m.b); err != nil || len(m.b) != len(m.w) {
				return nil, fmt.Errorf("intercept: want %d numbers, one per class", len(m.w))
			}
		}
		m.info.Output, m.info.Classes = scoring.MultiClass, len(m.w)
	default:
		return nil, fmt.Errorf("link %q: want identity, logistic or softmax", f.Link)
	}
	for k, row := range m.w {
		if len(row) != nf {
			return nil, fmt.Errorf("coefficients: class %d has %d values for %d features", k, len(row), nf)
		}
		for _, v := range append(row, m.b[k]) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, errors.New("coefficients and intercepts must be finite")
			}
		}
	}
	m.missing = make([]float64, nf)
	for i := range m.missing {
		m.missing[i] = math.NaN()
	}
	for name, v := range f.Missing {
		i := indexOf(f.Features, name)
		if i < 0 {
			return nil, fmt.Errorf("missing: %q is not a feature", name)
		}
		m.missing[i] = v
	}
	sum := sha256.Sum256(data)
	m.info.Name, m.info.Format, m.info.Features = name, Format, f.Features
	m.info.Version = hex.EncodeToString(sum[:6])
	if f.Version != "" {
		m.info.Version = f.Version
	}
	return m, nil
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}

// Info describes the model.
func (m *Model) Info() scoring.Info { return m.info }

// Predict implements scoring.Model.
func (m *Model) Predict(x, out []float32) error {
	n, err := scoring.CheckShape(m.info, x, out)
	if err != nil {
		return err
	}
	nf := len(m.info.Features)
	var zs [64]float64
	for r := 0; r < n; r++ {
		row := x[r*nf : (r+1)*nf]
		k := len(m.w)
		z := zs[:0]
		if k > len(zs) {
			z = make([]float64, 0, k)
		}
		for c, w := range m.w {
			acc := m.b[c]
			for i, wi := range w {
				v := float64(row[i])
				if v != v {
					v = m.missing[i]
				}
				acc += float64(wi * v) // the conversion forbids a fused multiply-add
			}
			z = append(z, acc)
		}
		switch m.link {
		case "identity":
			out[r] = float32(z[0])
		case "logistic":
			out[r] = float32(1 / (1 + math.Exp(-z[0])))
		case "softmax":
			mx := math.Inf(-1)
			for _, v := range z {
				mx = math.Max(mx, v)
			}
			var s float64
			for c := range z {
				z[c] = math.Exp(z[c] - mx)
				s += z[c]
			}
			for c := range z {
				out[r*k+c] = float32(z[c] / s)
			}
		}
	}
	return nil
}

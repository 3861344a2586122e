package scoring

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// OutputKind says how to read a model's output row.
type OutputKind int

// Output kinds.
const (
	// Binary models output one value per row: P(class 1).
	Binary OutputKind = iota
	// MultiClass models output one probability per class per row.
	MultiClass
	// Regression models (and raw margins) output one value per row.
	Regression
)

func (k OutputKind) String() string {
	switch k {
	case Binary:
		return "binary"
	case MultiClass:
		return "multiclass"
	case Regression:
		return "regression"
	}
	return fmt.Sprintf("OutputKind(%d)", int(k))
}

// Info describes a loaded model.
type Info struct {
	Name    string // MODEL_NAME, or the file name without extension
	Version string // stable: from the file's content unless the file names one
	Format  string // "xgboost-json", "xgboost-ubjson", ...
	// Features are the model's input names in input order. A format without
	// names (XGBoost trained without them) reports its own defaults f0, f1, ….
	Features []string
	// Categories, when not empty, has one entry per feature: the category
	// list of a categorical input whose categories the model stores
	// (XGBoost >= 3.1, LightGBM's pandas_categorical, an ONNX string input
	// feeding an encoder), nil for every other input. The feature plan maps
	// an event's category to its index in the list (TransformCategory).
	Categories [][]string
	Output     OutputKind
	// Classes is the number of classes of a classifier (2 for Binary) and 1
	// for Regression.
	Classes int
}

// Outputs is the number of output values per row.
func (i Info) Outputs() int {
	if i.Output == MultiClass {
		return i.Classes
	}
	return 1
}

// ErrShape is returned by Predict when the slices do not fit the model.
var ErrShape = errors.New("batch shape does not fit the model")

// Model is a loaded, immutable model.
//
// Predict scores a dense row-major batch: x holds n rows of
// len(Info().Features) float32 values (NaN = missing) and out receives n rows
// of Info().Outputs() values; n is len(x)/len(Features) and out must have
// exactly n*Outputs() elements, else Predict returns an error wrapping
// ErrShape and writes nothing. The caller owns both slices; Predict keeps
// neither and does not allocate per row. A Model is safe for concurrent use.
type Model interface {
	Info() Info
	Predict(x []float32, out []float32) error
}

// Float64Model is implemented by models that may compute in float64 (ONNX
// graphs with double input, as onnxruntime computes them). When
// Float64Input reports true, the Scorer extracts float64 rows and calls
// Predict64, which otherwise follows Predict's contract.
type Float64Model interface {
	Model
	Float64Input() bool
	Predict64(x []float64, out []float32) error
}

// Float64OutputModel is implemented by Float64Models whose results are
// float64 (LightGBM computes its score in double). Predict64To64 follows
// Predict64's contract with float64 outputs; when Float64Input reports true
// the Scorer calls it instead of Predict64, so the score reaches the
// prediction without a rounding to float32.
type Float64OutputModel interface {
	Float64Model
	Predict64To64(x []float64, out []float64) error
}

// MarginModel is implemented by models that can also report their raw
// scores: the margins before the objective's transform (LightGBM's
// predict(raw_score=True)). Margins is their number per row;
// PredictMargins64 follows Predict64To64's contract with Margins() values
// per row. File scoring writes them as raw_0 … raw_<Margins-1>.
type MarginModel interface {
	Margins() int
	PredictMargins64(x []float64, out []float64) error
}

// CheckShape validates a Predict call for evaluators and returns n.
func CheckShape(info Info, x, out []float32) (int, error) {
	nf := len(info.Features)
	if nf == 0 || len(x)%nf != 0 {
		return 0, fmt.Errorf("%w: %d inputs is not a whole number of rows of %d features", ErrShape, len(x), nf)
	}
	n := len(x) / nf
	if len(out) != n*info.Outputs() {
		return 0, fmt.Errorf("%w: %d rows need %d outputs, got %d", ErrShape, n, n*info.Outputs(), len(out))
	}
	return n, nil
}

// NameFromPath is a model's default name: its file name without extension.
func NameFromPath(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// LoadFile reads a model file and parses it with the format's parse
// function; an empty name means NameFromPath(path). Errors name the file.
func LoadFile[M any](path, name string, parse func(data []byte, name string) (M, error)) (M, error) {
	var zero M
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("read model: %w", err)
	}
	if name == "" {
		name = NameFromPath(path)
	}
	m, err := parse(data, name)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

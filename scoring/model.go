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
	// NumbersAreCodes says that a number given for one of those inputs is
	// the category's code itself, as the model's library reads a numeric
	// categorical input (LightGBM); otherwise a number is matched by value
	// against the list (XGBoost's stored categories may be numbers).
	NumbersAreCodes bool
	Output          OutputKind
	// Classes is the number of classes of a classifier (2 for Binary) and 1
	// for Regression.
	Classes int
	// Targets is the number of targets of a multi-target model (XGBoost's
	// num_target > 1): each row then has Targets outputs, one per target,
	// each read as Output says (a Binary target's P(class 1), a Regression
	// target's prediction); the score and label follow target 0. Zero or 1
	// means one target. A MultiClass model has one target.
	Targets int
}

// Outputs is the number of output values per row.
func (i Info) Outputs() int {
	switch {
	case i.Output == MultiClass:
		return i.Classes
	case i.Targets > 1:
		return i.Targets
	}
	return 1
}

// MultiTarget reports whether the model has more than one target.
func (i Info) MultiTarget() bool { return i.Output != MultiClass && i.Targets > 1 }

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

// WidthFitter is implemented by models whose input width the model file
// leaves open (an ONNX graph whose tensor input is [N, ?]). Their Info lists
// no features until FitWidth returns the model compiled for n input columns,
// the number the features file lists; NewScorer calls it for a model whose
// Info has no features. FitWidth returns an error naming the problem when
// the model cannot take n columns (n = 0: no features file; a tree that
// splits on a column beyond n). A model whose width is fixed returns itself.
type WidthFitter interface {
	Model
	FitWidth(n int) (Model, error)
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

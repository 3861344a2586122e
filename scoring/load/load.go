package load

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/lightgbm"
	"github.com/streamscore/streamscore/scoring/linear"
	"github.com/streamscore/streamscore/scoring/onnxml"
	"github.com/streamscore/streamscore/scoring/xgboost"
)

// Formats accepted by Model's format argument.
const (
	Auto     = "auto"
	XGBoost  = "xgboost"
	ONNX     = "onnx"
	Linear   = "linear"
	LightGBM = "lightgbm"
)

// Model loads the model at path. format is Auto or a format name; name is
// the model name (empty: the file name without extension).
func Model(path, format, name string) (scoring.Model, error) {
	if name == "" {
		name = scoring.NameFromPath(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	if format == Auto || format == "" {
		if format, err = Detect(path, data); err != nil {
			return nil, err
		}
	}
	switch format {
	case XGBoost:
		m, err := xgboost.Parse(data, name)
		if err != nil {
			return nil, fmt.Errorf("load %s as an XGBoost model: %w", path, err)
		}
		return m, nil
	case ONNX:
		m, err := onnxml.Parse(data, name)
		if err != nil {
			return nil, fmt.Errorf("load %s as an ONNX model: %w", path, err)
		}
		return m, nil
	case Linear:
		m, err := linear.Parse(data, name)
		if err != nil {
			return nil, fmt.Errorf("load %s as a linear model: %w", path, err)
		}
		return m, nil
	case LightGBM:
		m, err := lightgbm.Parse(data, name)
		if err != nil {
			return nil, fmt.Errorf("load %s as a LightGBM model: %w", path, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("model format %q is not supported (want auto, xgboost, onnx, linear or lightgbm)", format)
}

// ErrUnknownFormat is wrapped by Detect's error for a file whose format it
// cannot tell. The caller says how to name the format (MODEL_FORMAT, a
// route's format, --format): this package does not know which it read.
var ErrUnknownFormat = errors.New("cannot tell the format")

// Detect names the format of a model file. An XGBoost model in the legacy
// binary format, or an XGBoost dump, is refused with an error wrapping
// xgboost.ErrLegacyBinary or xgboost.ErrDump that says how to re-save it:
// no MODEL_FORMAT reads those.
func Detect(path string, data []byte) (string, error) {
	if xgboost.IsLegacyBinary(data) || xgboost.IsDump(data) {
		_, err := xgboost.Parse(data, "")
		return "", fmt.Errorf("%s: %w", path, err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ubj", ".ubjson":
		return XGBoost, nil
	case ".onnx":
		return ONNX, nil
	}
	// An ONNX ModelProto starts with ir_version (field 1, varint: 0x08).
	if len(data) > 1 && data[0] == 0x08 && data[1] < 0x80 {
		return ONNX, nil
	}
	if lightgbm.IsText(data) { // "tree" then "version=v…"
		return LightGBM, nil
	}
	if linear.IsLinear(data) {
		return Linear, nil
	}
	if xgboost.IsJSON(data) && strings.Contains(string(data[:min(len(data), 4096)]), `"learner"`) {
		return XGBoost, nil
	}
	if len(data) > 0 && data[0] == '{' && !xgboost.IsJSON(data) { // UBJSON object
		return XGBoost, nil
	}
	return "", fmt.Errorf("%w of %s: not an XGBoost JSON or UBJSON, ONNX, LightGBM text or streamscore-linear model", ErrUnknownFormat, path)
}

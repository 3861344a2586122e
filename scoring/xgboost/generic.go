package xgboost

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Helpers over the generic document tree shared by the JSON and UBJSON
// readers (JSON numbers arrive as json.Number so that float32 values parse
// without double rounding).

func object(v any, path string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want an object, got %T", path, v)
	}
	return m, nil
}

func field(m map[string]any, key, path string) (any, error) {
	v, ok := m[key]
	if !ok {
		return nil, fmt.Errorf("%s: missing %q", path, key)
	}
	return v, nil
}

func objectField(m map[string]any, key, path string) (map[string]any, error) {
	v, err := field(m, key, path)
	if err != nil {
		return nil, err
	}
	return object(v, path+"."+key)
}

func array(v any, path string) ([]any, error) {
	a, ok := v.([]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("%s: want an array, got %T", path, v)
	}
	return a, nil
}

func arrayField(m map[string]any, key, path string) ([]any, error) {
	v, err := field(m, key, path)
	if err != nil {
		return nil, err
	}
	return array(v, path+"."+key)
}

func stringField(m map[string]any, key, path string) (string, error) {
	v, err := field(m, key, path)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s.%s: want a string, got %T", path, key, v)
	}
	return s, nil
}

// asFloat32 reads a number as XGBoost's float32.
func asFloat32(v any) (float32, error) {
	switch x := v.(type) {
	case float32:
		return x, nil
	case float64:
		return float32(x), nil
	case int64:
		return float32(x), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 32)
		return float32(f), err
	case string: // parameters are strings in XGBoost models
		f, err := strconv.ParseFloat(x, 32)
		return float32(f), err
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

// asInt reads an integer (a JSON number, a UBJSON integer, a parameter
// string, or a boolean as 0/1).
func asInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case json.Number:
		return strconv.ParseInt(string(x), 10, 64)
	case string:
		return strconv.ParseInt(x, 10, 64)
	case float32:
		if float32(int64(x)) == x {
			return int64(x), nil
		}
	case float64:
		if float64(int64(x)) == x {
			return int64(x), nil
		}
	}
	return 0, fmt.Errorf("want an integer, got %v (%T)", v, v)
}

func intsField(m map[string]any, key, path string) ([]int64, error) {
	a, err := arrayField(m, key, path)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(a))
	for i, v := range a {
		if out[i], err = asInt(v); err != nil {
			return nil, fmt.Errorf("%s.%s[%d]: %w", path, key, i, err)
		}
	}
	return out, nil
}

func floatsField(m map[string]any, key, path string) ([]float32, error) {
	a, err := arrayField(m, key, path)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(a))
	for i, v := range a {
		if out[i], err = asFloat32(v); err != nil {
			return nil, fmt.Errorf("%s.%s[%d]: %w", path, key, i, err)
		}
	}
	return out, nil
}

// intParam reads an integer parameter stored as a string, with a default
// when absent.
func intParam(m map[string]any, key string, def int64) (int64, error) {
	v, ok := m[key]
	if !ok {
		return def, nil
	}
	n, err := asInt(v)
	if err != nil {
		return 0, fmt.Errorf("parameter %s: %w", key, err)
	}
	return n, nil
}

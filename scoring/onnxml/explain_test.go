package onnxml

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/scoring"
)

// TestCannotExplain: asking an ONNX model for contributions says why not.
func TestCannotExplain(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "sk_rf_pipeline.onnx"), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = scoring.NewExplainer(m)
	if !errors.Is(err, scoring.ErrCannotExplain) || !strings.Contains(err.Error(), "no node covers") {
		t.Fatalf("err = %v", err)
	}
}

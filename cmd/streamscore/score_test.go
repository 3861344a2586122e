package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// TestModelsByKind: a models file's routes become the models of the rows'
// kinds, by the kinds of INPUT_TOPICS (or of the file's topics); two
// models for one kind are refused naming the topics.
func TestModelsByKind(t *testing.T) {
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	dir := t.TempDir()
	file := filepath.Join(dir, "models.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("models:\n  - topics: [transactions]\n    path: " + abs("../../models/fraud.json") + "\n    features: " + abs("../../models/fraud.features.yaml") +
		"\n  - topics: [activity]\n    path: " + abs("../../models/takeover.json") + "\n    features: " + abs("../../models/takeover.features.yaml") + "\n")
	t.Setenv("INPUT_TOPICS", "")
	got, err := modelsByKind(file, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if got[schemas.Transaction].Info().Name != "fraud" || got[schemas.Activity].Info().Name != "takeover" {
		t.Fatalf("kinds: transaction %s, activity %s", got[schemas.Transaction].Info().Name, got[schemas.Activity].Info().Name)
	}
	// INPUT_TOPICS says the kinds: here both topics carry activity
	t.Setenv("INPUT_TOPICS", "transactions:activity,activity")
	if _, err := modelsByKind(file, scoring.DefaultPolicy); err == nil || !strings.Contains(err.Error(), "activity events come from topics transactions and activity") {
		t.Fatalf("two models for one kind: %v", err)
	}
	t.Setenv("INPUT_TOPICS", "transactions")
	if _, err := modelsByKind(file, scoring.DefaultPolicy); err == nil || !strings.Contains(err.Error(), `"activity", which is not in INPUT_TOPICS`) {
		t.Fatalf("route outside INPUT_TOPICS: %v", err)
	}
}

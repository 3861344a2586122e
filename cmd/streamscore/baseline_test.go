package main

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/internal/drift"
	"github.com/streamscore/streamscore/internal/loadgen"
	"github.com/streamscore/streamscore/models"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/load"
)

// writeTraining writes the bundled training data, as `loadgen
// --training-file` does.
func writeTraining(t *testing.T, path string, n int) {
	t.Helper()
	specs, err := models.FraudFeatures()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadgen.WriteTraining(context.Background(), loadgen.TrainingOptions{Path: path, Specs: specs, Kind: schemas.Transaction,
		Rows: n, Seed: 1, Customers: 1000, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
}

func readColumns(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cols := map[string][]string{}
	for _, r := range recs[1:] {
		for i, name := range recs[0] {
			cols[name] = append(cols[name], r[i])
		}
	}
	return cols
}

// lowerQuantileEdges are the edges the baseline documents, computed here
// from the definition: distinct lower k/10-quantiles below the maximum.
func lowerQuantileEdges(vals []float64, bins int) []float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	edges := []float64{}
	for k := 1; k < bins; k++ {
		// smallest v with at least k/bins of the values ≤ v
		var e float64
		for _, v := range s {
			n := 0
			for _, w := range s {
				if w <= v {
					n++
				}
			}
			if n*bins >= k*len(s) {
				e = v
				break
			}
		}
		if e < s[len(s)-1] && (len(edges) == 0 || e > edges[len(edges)-1]) {
			edges = append(edges, e)
		}
	}
	return edges
}

func binCounts(edges, vals []float64) []uint64 {
	c := make([]uint64, len(edges)+1)
	for _, v := range vals {
		b := len(edges)
		for i, e := range edges {
			if v <= e {
				b = i
				break
			}
		}
		c[b]++
	}
	return c
}

// TestBaselineCommand runs `streamscore baseline` on the bundled model
// and training data and checks the file against an independent
// computation: the inputs' bins from the CSV's columns (as float32, the
// model's precision), the score's from `streamscore score`'s output.
func TestBaselineCommand(t *testing.T) {
	dir := t.TempDir()
	train := filepath.Join(dir, "train.csv")
	writeTraining(t, train, 600)
	out := filepath.Join(dir, "baseline.json")
	model := filepath.Join("..", "..", "models", "fraud.json")
	if err := baselineCmd(context.Background(), []string{"--model", model, "--input", train, "--output", out}); err != nil {
		t.Fatal(err)
	}
	b, err := drift.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := load.Model(model, "auto", "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Model != "fraud" || b.ModelVersion != m.Info().Version || b.Rows != 600 || b.Source != "train.csv" {
		t.Fatalf("baseline header: model %q version %q rows %d source %q", b.Model, b.ModelVersion, b.Rows, b.Source)
	}
	if err := b.Check(m.Info().Features); err != nil {
		t.Fatal(err)
	}
	cols := readColumns(t, train)
	for _, f := range b.Features {
		var vals []float64
		var missing uint64
		for _, s := range cols[f.Name] {
			if s == "" { // an aggregate over no history yet
				missing++
				continue
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			vals = append(vals, float64(float32(v)))
		}
		if want := lowerQuantileEdges(vals, 10); !slices.Equal(f.Edges, want) {
			t.Errorf("%s: edges %v, want %v", f.Name, f.Edges, want)
		}
		if want := binCounts(f.Edges, vals); !slices.Equal(f.Counts, want) {
			t.Errorf("%s: counts %v, want %v", f.Name, f.Counts, want)
		}
		if f.Missing != missing {
			t.Errorf("%s: %d missing, want %d", f.Name, f.Missing, missing)
		}
	}
	if n := len(b.Features[0].Counts); n != 10 {
		t.Errorf("amount has %d bins, want 10", n)
	}
	if n := len(b.Features[3].Counts); n != 2 {
		t.Errorf("one-hot channel_web has %d bins, want 2", n)
	}
	// the score, from the batch scorer
	specs := []scoring.FeatureSpec(nil)
	s, err := scoring.NewScorer(m, specs, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	scored := filepath.Join(dir, "scored.csv")
	if _, err := batchscore.Run(context.Background(), batchscore.Options{Scorer: s, Input: train, Output: scored}); err != nil {
		t.Fatal(err)
	}
	var scores []float64
	for _, v := range readColumns(t, scored)["score"] {
		x, _ := strconv.ParseFloat(v, 64)
		scores = append(scores, x)
	}
	if want := lowerQuantileEdges(scores, 10); !slices.Equal(b.Score.Edges, want) {
		t.Errorf("score edges %v, want %v", b.Score.Edges, want)
	}
	if want := binCounts(b.Score.Edges, scores); !slices.Equal(b.Score.Counts, want) {
		t.Errorf("score counts %v, want %v", b.Score.Counts, want)
	}
}

// TestBaselineCommandErrors: a features file that reads event fields the
// training file lacks, and missing flags.
func TestBaselineCommandErrors(t *testing.T) {
	dir := t.TempDir()
	train := filepath.Join(dir, "train.csv")
	writeTraining(t, train, 20)
	out := filepath.Join(dir, "b.json")
	model := filepath.Join("..", "..", "models", "fraud.json")
	err := baselineCmd(context.Background(), []string{"--model", model, "--features", filepath.Join("..", "..", "models", "fraud.features.yaml"),
		"--input", train, "--output", out})
	if err == nil || !strings.Contains(err.Error(), "event_time") {
		t.Fatalf("features reading absent columns: %v", err)
	}
	if _, statErr := os.Stat(out); statErr == nil {
		t.Fatal("a baseline was written despite the error")
	}
	var ue usageError
	for _, args := range [][]string{{"--model", model, "--input", train}, {"--model", model, "--input", train, "--output", out, "--bins", "1"}} {
		if err := baselineCmd(context.Background(), args); !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

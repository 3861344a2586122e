package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/load"
)

// modelFlags are the flags that pick a model and its features.
type modelFlags struct {
	model, features, format, name string
}

func (f *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.model, "model", "", "model file (XGBoost JSON/UBJSON, ONNX, streamscore-linear JSON)")
	fs.StringVar(&f.features, "features", "", "features file (YAML) mapping fields to model inputs")
	fs.StringVar(&f.format, "format", "auto", "model format: auto, xgboost, onnx or linear")
	fs.StringVar(&f.name, "name", "", "model name (default: file name without extension)")
}

func (f *modelFlags) load() (scoring.Model, []scoring.FeatureSpec, error) {
	if f.model == "" {
		return nil, nil, usageError{errors.New("--model is required")}
	}
	m, err := load.Model(f.model, f.format, f.name)
	if err != nil {
		return nil, nil, err
	}
	var specs []scoring.FeatureSpec
	if f.features != "" {
		if specs, err = scoring.ReadFeatureFile(f.features); err != nil {
			return nil, nil, err
		}
	}
	return m, specs, nil
}

func scoreCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	var mf modelFlags
	mf.register(fs)
	input := fs.String("input", "", "input file: .csv or .jsonl")
	output := fs.String("output", "", "output file: .csv or .jsonl (rejects go to <output>.rejects)")
	threshold := fs.Float64("threshold", envFloat("SCORE_THRESHOLD", 0.5), "label = 1 when score > threshold (default $SCORE_THRESHOLD or 0.5)")
	bands := fs.String("risk-bands", envOr("RISK_BANDS", "0.3,0.6"), "risk segment edges (default $RISK_BANDS or 0.3,0.6)")
	contributions := fs.Bool("contributions", false, "add each row's feature contributions (exact TreeSHAP, in margin units: log-odds for logistic models): contrib_<feature> and contrib_bias, per class contrib_<k>_<feature>")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *input == "" || *output == "" {
		return usageError{errors.New("--input and --output are required")}
	}
	policy, err := parsePolicy(*threshold, *bands)
	if err != nil {
		return usageError{err}
	}
	m, specs, err := mf.load()
	if err != nil {
		return err
	}
	s, err := scoring.NewScorer(m, specs, policy)
	if err != nil {
		return err
	}
	sum, err := batchscore.Run(ctx, batchscore.Options{Scorer: s, Input: *input, Output: *output, Contributions: *contributions})
	if err != nil && sum.Rows == 0 {
		return err
	}
	fmt.Fprintf(os.Stderr, "scored %d of %d rows in %v (%.0f rows/s); %d rejected -> %s\n",
		sum.Scored, sum.Rows, sum.Elapsed.Round(1e6), float64(sum.Rows)/max(sum.Elapsed.Seconds(), 1e-9), sum.Rejected, sum.Rejects)
	if *contributions {
		fmt.Fprintf(os.Stderr, "contributions: %v explaining (%.0f rows/s)\n", sum.Explain.Round(1e6), float64(sum.Scored)/max(sum.Explain.Seconds(), 1e-9))
	}
	return err
}

func modelCmd(_ context.Context, args []string) error {
	if len(args) == 0 || args[0] != "inspect" {
		return usageError{errors.New("usage: streamscore model inspect FILE [--features F] [--format auto]")}
	}
	fs := flag.NewFlagSet("model inspect", flag.ContinueOnError)
	var mf modelFlags
	mf.register(fs)
	rest := args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		mf.model, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return usageError{err}
	}
	if mf.model == "" && fs.NArg() > 0 {
		mf.model = fs.Arg(0)
	}
	m, specs, err := mf.load()
	if err != nil {
		return err
	}
	fmt.Print(load.Describe(m))
	if specs != nil {
		s, err := scoring.NewScorer(m, specs, scoring.DefaultPolicy)
		if err != nil {
			return err
		}
		fmt.Printf("features file: %s (reads %s)\n", mf.features, strings.Join(s.Plan().Sources(), ", "))
	}
	return nil
}

func parsePolicy(threshold float64, bands string) (scoring.Policy, error) {
	parts := strings.Split(bands, ",")
	if len(parts) != 2 {
		return scoring.Policy{}, fmt.Errorf("--risk-bands %q: want two numbers such as 0.3,0.6", bands)
	}
	var p scoring.Policy
	p.Threshold = threshold
	for i, s := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return p, fmt.Errorf("--risk-bands %q: %v", bands, err)
		}
		p.Bands[i] = v
	}
	return p, p.Validate()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return v
	}
	return def
}

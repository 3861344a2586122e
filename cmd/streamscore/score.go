package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
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
	fs.StringVar(&f.model, "model", "", "model file (XGBoost JSON/UBJSON, ONNX, LightGBM text, streamscore-linear JSON)")
	fs.StringVar(&f.features, "features", "", "features file (YAML) mapping fields to model inputs")
	fs.StringVar(&f.format, "format", "auto", "model format: auto, xgboost, onnx, linear or lightgbm")
	fs.StringVar(&f.name, "name", "", "model name (default: file name without extension)")
}

func (f *modelFlags) load() (scoring.Model, []scoring.FeatureSpec, error) {
	if f.model == "" {
		return nil, nil, usageError{errors.New("--model is required")}
	}
	m, err := load.Model(f.model, f.format, f.name)
	if errors.Is(err, load.ErrUnknownFormat) {
		return nil, nil, fmt.Errorf("%w: name it with --format (xgboost, onnx, linear or lightgbm)", err)
	}
	if err != nil {
		return nil, nil, err
	}
	var specs []scoring.FeatureSpec
	if f.features != "" {
		if specs, err = scoring.ReadFeatureFile(f.features); err != nil {
			return nil, nil, fmt.Errorf("--features %s: %w", f.features, err)
		}
	}
	return m, specs, nil
}

func scoreCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	var mf modelFlags
	mf.register(fs)
	input := fs.String("input", "", "input file: .csv or .jsonl (.ndjson)")
	output := fs.String("output", "", "output file: .csv or .jsonl (rejects go to <output>.rejects)")
	fs.Float64("threshold", scoring.DefaultPolicy.Threshold, "label = 1 when score > threshold; $SCORE_THRESHOLD, when set, replaces the default")
	fs.String("risk-bands", "0.3,0.6", "risk segment edges A,B: Low below A, Medium from A, High from B; $RISK_BANDS, when set, replaces the default")
	contributions := fs.Bool("contributions", false, "add each row's feature contributions (exact TreeSHAP, in margin units: log-odds for logistic models): contrib_<feature> and contrib_bias, per class contrib_<k>_<feature>")
	allowMissing := fs.Bool("allow-missing-columns", false, "score even when a model input has no column (or, for JSON Lines, no key in the first rows) and no default: it is then missing on every row")
	if err := parseFlags(fs, args, command{synopsis: "streamscore score --model M [--features F] --input X.csv|X.jsonl --output Y.csv|Y.jsonl [flags]",
		about: `Scores a file with the same feature code, model and policy as the stream. The output keeps every row in
order with its non-feature columns and adds score, label, risk_segment, model_version, scored_at (and
prob_0 ... for multi-class). Rows that cannot be scored go to <output>.rejects (JSON Lines: line,
reason, row). A model input whose column the file lacks is an error unless the features file gives it
a default or --allow-missing-columns is set. --contributions adds each row's exact TreeSHAP
contributions (a model that cannot explain fails before any output is written). Exit codes: 0 done, 1 failure, 2 bad flags.`,
		env: func(w io.Writer) {
			fmt.Fprintln(w, "environment: SCORE_THRESHOLD and RISK_BANDS, when set, are the defaults of --threshold and --risk-bands.")
		}}); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (flags come as --name value)", fs.Arg(0))}
	}
	if *input == "" || *output == "" {
		return usageError{errors.New("--input and --output are required")}
	}
	policy, err := scorePolicy(fs, os.LookupEnv)
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
	sum, err := batchscore.Run(ctx, batchscore.Options{Scorer: s, Input: *input, Output: *output, AllowMissingColumns: *allowMissing,
		Contributions: *contributions})
	if sum.Rows > 0 || err == nil {
		fmt.Fprintf(os.Stderr, "scored %d of %d rows in %v (%.0f rows/s); %d rejected -> %s\n",
			sum.Scored, sum.Rows, sum.Elapsed.Round(1e6), float64(sum.Rows)/max(sum.Elapsed.Seconds(), 1e-9), sum.Rejected, sum.Rejects)
		if *contributions {
			fmt.Fprintf(os.Stderr, "contributions: %v explaining (%.0f rows/s)\n", sum.Explain.Round(1e6), float64(sum.Scored)/max(sum.Explain.Seconds(), 1e-9))
		}
	}
	return err
}

// scorePolicy is the threshold and bands of score: each from its flag when
// given, else from its variable when set, else the default. An error names
// what was read (the flag or the variable), the value and what is allowed;
// a bad value is never replaced by the default.
func scorePolicy(fs *flag.FlagSet, lookup func(string) (string, bool)) (scoring.Policy, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	source := func(flagName, envName string) (name, value string) {
		if given[flagName] {
			return "--" + flagName, fs.Lookup(flagName).Value.String()
		}
		if v, ok := lookup(envName); ok && v != "" {
			return envName, v
		}
		return "--" + flagName, fs.Lookup(flagName).DefValue
	}
	p := scoring.DefaultPolicy
	name, v := source("threshold", "SCORE_THRESHOLD")
	t, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(t) || math.IsInf(t, 0) {
		return p, fmt.Errorf("%s=%q: want a finite number such as 0.5", name, v)
	}
	p.Threshold = t
	name, v = source("risk-bands", "RISK_BANDS")
	parts := strings.Split(v, ",")
	if len(parts) != 2 {
		return p, fmt.Errorf("%s=%q: want two ascending finite numbers such as 0.3,0.6", name, v)
	}
	for i, part := range parts {
		b, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || math.IsNaN(b) || math.IsInf(b, 0) {
			return p, fmt.Errorf("%s=%q: %q is not a finite number; want two ascending numbers such as 0.3,0.6", name, v, part)
		}
		p.Bands[i] = b
	}
	if p.Bands[0] > p.Bands[1] {
		return p, fmt.Errorf("%s=%q: want two ascending numbers such as 0.3,0.6", name, v)
	}
	return p, p.Validate()
}

func modelCmd(_ context.Context, args []string) error {
	const synopsis = "streamscore model inspect FILE [--features F] [--format auto] [--name N]"
	about := "Prints a model's name, version, format, output kind, features, tree and node counts (and an ONNX graph's operators); with --features, the event fields the features file reads."
	fs := flag.NewFlagSet("model inspect", flag.ContinueOnError)
	var mf modelFlags
	mf.register(fs)
	if len(args) == 0 || args[0] != "inspect" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
			printUsage(os.Stdout, fs, command{synopsis: synopsis, about: about})
			return flag.ErrHelp
		}
		return usageError{errors.New("usage: " + synopsis)}
	}
	rest := args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		mf.model, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest, command{synopsis: synopsis, about: about}); err != nil {
		return err
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

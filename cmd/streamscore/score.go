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
	"time"

	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/entity"
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
	modelsFile := fs.String("models", "", "models file (the YAML of MODELS_FILE) instead of --model: each row is scored by the model of its event_type's topic")
	input := fs.String("input", "", "input file: .csv or .jsonl (.ndjson)")
	output := fs.String("output", "", "output file: .csv or .jsonl (rejects go to <output>.rejects)")
	withFeatures := fs.Bool("with-features", false, "write each row's model inputs (the exact values the model saw) as columns before the prediction columns")
	fs.Float64("threshold", scoring.DefaultPolicy.Threshold, "label = 1 when score > threshold; $SCORE_THRESHOLD, when set, replaces the default")
	fs.String("risk-bands", "0.3,0.6", "risk segment edges A,B: Low below A, Medium from A, High from B; $RISK_BANDS, when set, replaces the default")
	contributions := fs.Bool("contributions", false, "add each row's feature contributions (exact TreeSHAP, in margin units: log-odds for logistic models): contrib_<feature> and contrib_bias, per class contrib_<k>_<feature>")
	allowMissing := fs.Bool("allow-missing-columns", false, "score even when a model input has no column (or, for JSON Lines, no key in the first rows) and no default: it is then missing on every row")
	if err := parseFlags(fs, args, command{synopsis: "streamscore score --model M [--features F] | --models FILE, --input X.csv|X.jsonl --output Y.csv|Y.jsonl [flags]",
		about: `Scores a file with the same feature code, model and policy as the stream. The output keeps every row in
order with its non-feature columns and adds score, label, risk_segment, model_version, scored_at (and
prob_0 ... for multi-class). Rows that cannot be scored go to <output>.rejects (JSON Lines: line,
reason, row). A model input whose column the file lacks is an error unless the features file gives it
a default or --allow-missing-columns is set. With entity aggregates the file is a log of both kinds in
event-time order, each row with an event_type column (transaction or activity). --with-features writes
the model inputs; --contributions adds each row's exact TreeSHAP contributions (a model that cannot
explain fails before any output is written). Exit codes: 0 done, 1 failure, 2 bad flags.`,
		env: func(w io.Writer) {
			fmt.Fprintln(w, "environment: SCORE_THRESHOLD and RISK_BANDS, when set, are the defaults of --threshold and --risk-bands;")
			fmt.Fprintln(w, "EVENT_ID_FIELD, ENTITY_FIELD, EVENT_TIME_FIELD, ENTITY_STATE_MAX_BYTES and INPUT_TOPICS (with --models) as run reads them.")
		}}); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (flags come as --name value)", fs.Arg(0))}
	}
	if *input == "" || *output == "" {
		return usageError{errors.New("--input and --output are required")}
	}
	if *modelsFile != "" && (mf.model != "" || mf.features != "" || mf.name != "" || mf.format != "auto") {
		return usageError{errors.New("--models names each route's model, features, format and name: it excludes --model, --features, --format and --name")}
	}
	policy, err := scorePolicy(fs, os.LookupEnv)
	if err != nil {
		return usageError{err}
	}
	o := batchscore.Options{Input: *input, Output: *output, WithFeatures: *withFeatures, AllowMissingColumns: *allowMissing,
		Contributions: *contributions}
	if o.Names, o.State, err = logSettings(); err != nil {
		return usageError{err}
	}
	if *modelsFile != "" {
		if o.ByKind, err = modelsByKind(*modelsFile, policy); err != nil {
			return err
		}
	} else {
		m, specs, err := mf.load()
		if err != nil {
			return err
		}
		if o.Scorer, err = scoring.NewScorer(m, specs, policy); err != nil {
			return err
		}
	}
	sum, err := batchscore.Run(ctx, o)
	if sum.Rows > 0 || err == nil {
		fmt.Fprintf(os.Stderr, "scored %d of %d rows in %v (%.0f rows/s); %d rejected -> %s\n",
			sum.Scored, sum.Rows, sum.Elapsed.Round(1e6), float64(sum.Rows)/max(sum.Elapsed.Seconds(), 1e-9), sum.Rejected, sum.Rejects)
		if *contributions {
			fmt.Fprintf(os.Stderr, "contributions: %v explaining (%.0f rows/s)\n", sum.Explain.Round(1e6), float64(sum.Scored)/max(sum.Explain.Seconds(), 1e-9))
		}
		if sum.Evicted > 0 {
			fmt.Fprintf(os.Stderr, "warning: %d rows had their aggregates marked missing: the entity state reached ENTITY_STATE_MAX_BYTES=%d and evicted their history\n",
				sum.Evicted, o.State.MaxBytes)
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

// logSettings are the environment settings of a file whose features have
// aggregates, as `run` reads them: the identity fields and the bound on
// the entity state.
func logSettings() (schemas.FieldNames, entity.Options, error) {
	names := schemas.FieldNames{ID: envOr("EVENT_ID_FIELD", "event_id"), Entity: envOr("ENTITY_FIELD", "customer_id"),
		Time: envOr("EVENT_TIME_FIELD", "event_time")}
	st := entity.Options{MaxBytes: 536870912}
	if v := os.Getenv("ENTITY_STATE_MAX_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return names, st, fmt.Errorf("ENTITY_STATE_MAX_BYTES=%q: want 0 (no bound) or a number of bytes", v)
		}
		st.MaxBytes = n
	}
	return names, st, nil
}

// modelsByKind loads a models file for score: a row's event_type picks the
// route of the input topic of that kind. The topics' kinds are those of
// INPUT_TOPICS when it is set (topic or topic:kind), else those of the
// file's own topics by the same rule (a name containing "activit" holds
// activity events, any other transactions).
func modelsByKind(path string, policy scoring.Policy) (map[schemas.EventType]*scoring.Scorer, error) {
	specs, err := modelset.ParseFile(path)
	if err != nil {
		return nil, fmt.Errorf("--models %s: %w", path, err)
	}
	var cfg config.Config
	if v := os.Getenv("INPUT_TOPICS"); v != "" {
		cfg.InputTopics = strings.Split(v, ",")
	} else {
		for _, r := range specs {
			cfg.InputTopics = append(cfg.InputTopics, r.Topics...)
		}
	}
	inputs, err := cfg.Inputs()
	if err != nil {
		return nil, usageError{fmt.Errorf("INPUT_TOPICS: %w", err)}
	}
	set, err := modelset.Open(specs, policy, cfg.Topics())
	if err != nil {
		return nil, fmt.Errorf("--models %s: %w", path, err)
	}
	out := map[schemas.EventType]*scoring.Scorer{}
	from := map[schemas.EventType]string{}
	for _, in := range inputs {
		s := set.For(in.Topic).Scorer()
		if prev, ok := out[in.Type]; ok && prev != s {
			return nil, usageError{fmt.Errorf("--models %s: %s events come from topics %s and %s, routed to different models; score picks the model by event_type, so give one model per kind",
				path, in.Type, from[in.Type], in.Topic)}
		}
		out[in.Type], from[in.Type] = s, in.Topic
	}
	return out, nil
}

func modelCmd(_ context.Context, args []string) error {
	const synopsis = "streamscore model inspect FILE [--features F] [--format auto] [--name N]"
	about := "Prints a model's name, version, format, output kind, features, tree and node counts (and an ONNX graph's operators); with --features, the event fields the features file reads and, per event kind, the fields its aggregates read of the entity's earlier events."
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
		fmt.Print(describeFeatures(mf.features, s.Plan()))
	}
	return nil
}

// describeFeatures is what a features file reads: the scored event's
// fields, then per event kind the fields its aggregates read of the
// entity's earlier events (none for a kind only counted or timed).
func describeFeatures(path string, p *scoring.Plan) string {
	var b strings.Builder
	fields := strings.Join(p.Sources(), ", ")
	if fields == "" {
		fields = "none"
	}
	fmt.Fprintf(&b, "features file: %s\n  event fields: %s\n", path, fields)
	spec := entity.NewSpec(p.Aggregates())
	if len(spec.Aggregates()) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "  aggregates:   %d, over the entity's earlier events (windows up to %s), reading\n", len(spec.Aggregates()), shortDuration(spec.Longest()))
	kinds := spec.Kinds()
	width := 0
	for _, k := range kinds {
		width = max(width, len(k))
	}
	for _, k := range kinds {
		fields := strings.Join(spec.Fields(k), ", ")
		if fields == "" {
			fields = "no field (counts and times only)"
		}
		fmt.Fprintf(&b, "    %-*s %s\n", width+len(" events:"), string(k)+" events:", fields)
	}
	return b.String()
}

// shortDuration is d without Go's trailing zero units (168h, not 168h0m0s).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// envOr is the variable's value, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

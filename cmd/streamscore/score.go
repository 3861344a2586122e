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
	modelsFile := fs.String("models", "", "models file (the YAML of MODELS_FILE) instead of --model: each row is scored by the model of its event_type's topic")
	input := fs.String("input", "", "input file: .csv or .jsonl")
	output := fs.String("output", "", "output file: .csv or .jsonl (rejects go to <output>.rejects)")
	withFeatures := fs.Bool("with-features", false, "write each row's model inputs (the exact values the model saw) as columns before the prediction columns")
	threshold := fs.Float64("threshold", envFloat("SCORE_THRESHOLD", 0.5), "label = 1 when score > threshold (default $SCORE_THRESHOLD or 0.5)")
	bands := fs.String("risk-bands", envOr("RISK_BANDS", "0.3,0.6"), "risk segment edges (default $RISK_BANDS or 0.3,0.6)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *input == "" || *output == "" {
		return usageError{errors.New("--input and --output are required")}
	}
	if *modelsFile != "" && (mf.model != "" || mf.features != "" || mf.name != "" || mf.format != "auto") {
		return usageError{errors.New("--models names each route's model, features, format and name: it excludes --model, --features, --format and --name")}
	}
	policy, err := parsePolicy(*threshold, *bands)
	if err != nil {
		return usageError{err}
	}
	o := batchscore.Options{Input: *input, Output: *output, WithFeatures: *withFeatures}
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
	fmt.Fprintf(os.Stderr, "scored %d of %d rows in %v (%.0f rows/s); %d rejected -> %s\n",
		sum.Scored, sum.Rows, sum.Elapsed.Round(1e6), float64(sum.Rows)/max(sum.Elapsed.Seconds(), 1e-9), sum.Rejected, sum.Rejects)
	if sum.Evicted > 0 {
		fmt.Fprintf(os.Stderr, "warning: %d rows had their aggregates marked missing: the entity state reached ENTITY_STATE_MAX_BYTES=%d and evicted their history\n",
			sum.Evicted, o.State.MaxBytes)
	}
	return err
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

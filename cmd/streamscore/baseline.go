package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/internal/drift"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// baselineCmd is `streamscore baseline`: the training distribution of a
// model's inputs and score, for drift monitoring. The inputs are computed
// by the model's compiled feature plan, the code that serves the stream,
// and the rows are read as `score` reads them.
func baselineCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	var mf modelFlags
	mf.register(fs)
	input := fs.String("input", "", "training file: .csv (with a header) or .jsonl")
	output := fs.String("output", "", "baseline file to write (JSON)")
	bins := fs.Int("bins", drift.DefaultBins, "quantile bins per input and for the score")
	if err := parseFlags(fs, args, command{synopsis: "streamscore baseline --model M [--features F] --input train.csv|train.jsonl --output baseline.json [--bins N]",
		about: `Writes the training distribution of a model's inputs and score: per input, quantile bins of the
rows' values (as the model's compiled feature plan computes them, the code that serves the stream)
and the share of missing values; for the score, quantile bins of the model's scores on the rows.
The file is the reference of drift monitoring (README, "Monitoring the model").`}); err != nil {
		return err
	}
	if *input == "" || *output == "" {
		return usageError{errors.New("--input and --output are required")}
	}
	if *bins < 2 || *bins > 1000 {
		return usageError{fmt.Errorf("--bins %d: want 2 to 1000", *bins)}
	}
	m, specs, err := mf.load()
	if err != nil {
		return err
	}
	s, err := scoring.NewScorer(m, specs, scoring.DefaultPolicy)
	if err != nil {
		return err
	}
	start := time.Now()
	b, sum, err := buildBaseline(ctx, s, *input, *bins)
	if err != nil {
		return err
	}
	b.Source = filepath.Base(*input)
	b.CreatedAt = time.Now().UTC().Format(time.RFC3339)
	if err := b.WriteFile(*output); err != nil {
		return fmt.Errorf("write %s: %w", *output, err)
	}
	fmt.Fprintf(os.Stderr, "baseline of %s (%s) from %d of %d rows in %v -> %s\n",
		b.Model, b.ModelVersion, b.Rows, sum.rows, time.Since(start).Round(time.Millisecond), *output)
	for _, f := range b.Features {
		fmt.Fprintf(os.Stderr, "  %-24s %2d bins, missing %.2f%%\n", f.Name, len(f.Counts), 100*f.MissingShare)
	}
	fmt.Fprintf(os.Stderr, "  %-24s %2d bins\n", "(score)", len(b.Score.Counts))
	if sum.rejected > 0 {
		fmt.Fprintf(os.Stderr, "%d rows left out (cannot be scored); first: %s\n", sum.rejected, sum.firstReject)
	}
	return nil
}

type baselineSummary struct {
	rows, rejected int
	firstReject    string
}

// buildBaseline reads the training file in batches, scores each batch
// with s and adds every scored row's inputs (as the model sees them) and
// score to the baseline. Rows that the stream would dead-letter are left
// out and counted.
func buildBaseline(ctx context.Context, s *scoring.Scorer, input string, bins int) (*drift.Baseline, baselineSummary, error) {
	var sum baselineSummary
	rr, err := batchscore.OpenRows(input)
	if err != nil {
		return nil, sum, err
	}
	defer rr.Close()
	plan := s.Plan()
	if cols := rr.Columns(); cols != nil {
		// a column that is absent from the whole file is a mistake, not
		// missing data (a training file of model inputs needs no --features;
		// one of raw event fields needs the features file)
		var absent []string
		for _, f := range plan.Sources() {
			if !slices.Contains(cols, f) {
				absent = append(absent, f)
			}
		}
		if len(absent) > 0 {
			return nil, sum, fmt.Errorf("%s has no column %s, which the model's features read (columns: %s); "+
				"a file of model inputs by name needs no --features, a file of event fields needs the features file",
				input, strings.Join(absent, ", "), strings.Join(cols, ", "))
		}
	}
	f64, ok := s.Model().(scoring.Float64Model)
	wide := ok && f64.Float64Input()
	nf := plan.Len()
	x32 := make([]float32, nf)
	x64 := make([]float64, nf)
	bld := drift.NewBuilder(plan.Names())
	var sb scoring.Batch
	events := make([]*schemas.Event, 0, 4096)
	lines := make([]int, 0, 4096)
	reject := func(line int, reason string) {
		sum.rejected++
		if sum.firstReject == "" {
			sum.firstReject = fmt.Sprintf("line %d: %s", line, reason)
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, sum, err
		}
		rows, err := rr.Read(4096)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, sum, fmt.Errorf("%s: %w", input, err)
		}
		events, lines = events[:0], lines[:0]
		for _, r := range rows {
			sum.rows++
			if r.Err != nil {
				reject(r.Line, r.Err.Error())
				continue
			}
			events = append(events, r.Event)
			lines = append(lines, r.Line)
		}
		s.Score(events, &sb)
		for i, ev := range events {
			res := &sb.Results[i]
			if res.Err != nil {
				reject(lines[i], res.Stage+": "+res.Err.Error())
				continue
			}
			// the inputs the model saw: the plan's values, in the model's precision
			if wide {
				err = plan.Extract64(ev, x64)
			} else {
				err = plan.Extract(ev, x32)
				for k, v := range x32 {
					x64[k] = float64(v)
				}
			}
			if err == nil {
				err = bld.Add(x64, res.Score)
			}
			if err != nil {
				reject(lines[i], err.Error())
			}
		}
	}
	if bld.Rows() == 0 {
		return nil, sum, fmt.Errorf("%s: no row could be scored (%d rows; first: %s)", input, sum.rows, sum.firstReject)
	}
	b, err := bld.Build(bins)
	if err != nil {
		return nil, sum, err
	}
	info := s.Info()
	b.Model, b.ModelVersion = info.Name, info.Version
	for i := range b.Features {
		if b.Features[i].MissingShare == 1 {
			fmt.Fprintf(os.Stderr, "warning: input %q is missing in every row\n", b.Features[i].Name)
		}
	}
	return b, sum, nil
}

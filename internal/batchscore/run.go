package batchscore

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// fileTopic routes a file's rows to the run's model in the outcome core.
const fileTopic = "file"

// Options configure Run.
type Options struct {
	Scorer    *scoring.Scorer
	Input     string // .csv, .jsonl or .ndjson
	Output    string // .csv, .jsonl or .ndjson
	BatchSize int    // rows scored together (default 4096)
	Now       func() time.Time
	// AllowMissingColumns scores a file in which a model input without a
	// default has no column (CSV: not in the header; JSON Lines: a key of
	// none of the first 1,000 rows): that input is then missing on every
	// row. Without it Run refuses such a file (ErrMissingColumn).
	AllowMissingColumns bool
	// Contributions adds each row's feature contributions
	// (ContributionColumns); a model that cannot explain makes Run fail
	// before it writes anything, saying why.
	Contributions bool
}

// Summary counts a run.
type Summary struct {
	Rows, Scored, Rejected int
	Elapsed                time.Duration
	Explain                time.Duration // spent computing contributions
	Rejects                string        // path of the rejects file
}

// kind of a file by extension.
func kind(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return "csv", nil
	case ".jsonl", ".ndjson":
		return "jsonl", nil
	}
	return "", fmt.Errorf("%s: want a .csv, .jsonl or .ndjson file", path)
}

// Run scores Input into Output. It returns an error only for what stops
// the job (unreadable input, unwritable output, cancellation); rows that
// cannot be scored go to the rejects file.
func Run(ctx context.Context, o Options) (Summary, error) {
	start := time.Now()
	if o.BatchSize <= 0 {
		o.BatchSize = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Contributions {
		if _, err := o.Scorer.Explainer(); err != nil {
			return Summary{}, fmt.Errorf("contributions: %w", err)
		}
	}
	inKind, err := kind(o.Input)
	if err != nil {
		return Summary{}, err
	}
	outKind, err := kind(o.Output)
	if err != nil {
		return Summary{}, err
	}
	in, err := os.Open(o.Input)
	if err != nil {
		return Summary{}, err
	}
	defer in.Close()
	var rd reader
	if inKind == "csv" {
		cr, err := newCSVReader(in)
		if err != nil {
			return Summary{}, fmt.Errorf("%s: %w", o.Input, err)
		}
		if !o.AllowMissingColumns {
			if err := checkColumns(o.Scorer.Plan(), cr.header, "column", "in the CSV header"); err != nil {
				return Summary{}, fmt.Errorf("%s: %w", o.Input, err)
			}
		}
		rd = cr
	} else {
		jr := newJSONLReader(in)
		if !o.AllowMissingColumns {
			keys, ok, err := jr.peekKeys(jsonlCheckRows)
			if err != nil {
				return Summary{}, fmt.Errorf("%s: %w", o.Input, err)
			}
			if ok {
				if err := checkColumns(o.Scorer.Plan(), keys, "key", fmt.Sprintf("in any of the first %d rows", len(jr.pending))); err != nil {
					return Summary{}, fmt.Errorf("%s: %w", o.Input, err)
				}
			}
		}
		rd = jr
	}
	out, err := os.Create(o.Output)
	if err != nil {
		return Summary{}, err
	}
	defer out.Close()
	sum := Summary{Rejects: o.Output + ".rejects"}
	rejFile, err := os.Create(sum.Rejects)
	if err != nil {
		return Summary{}, err
	}
	defer rejFile.Close()
	rej := &rejectWriter{w: bufio.NewWriterSize(rejFile, 1<<16)}

	info := o.Scorer.Info()
	predCols := Columns(info)
	raw := marginColumns(o.Scorer)
	predCols = append(predCols, raw...)
	if o.Contributions {
		predCols = append(predCols, ContributionColumns(info)...)
	}
	var w writer
	if outKind == "csv" {
		w = newCSVWriter(out, predCols)
	} else {
		w = newJSONLWriter(out, predCols)
	}
	drop := map[string]bool{}
	for _, f := range o.Scorer.Plan().Sources() {
		drop[f] = true
	}

	// The outcome core scores the rows, as it scores the stream: the
	// rows' events are routed to the one model of the run.
	core, err := outcome.New(modelset.Static(map[string]*scoring.Scorer{fileTopic: o.Scorer}), nil, nil)
	if err != nil {
		return Summary{}, err
	}
	batch := core.NewBatch()
	batch.WantMargins(raw != nil)
	var explainErr error
	if o.Contributions {
		batch.SetExplain(outcome.Explain{For: outcome.ExplainAll, All: true,
			Report: func(_ *scoring.Scorer, _ int, took time.Duration, err error) {
				sum.Explain += took
				explainErr = cmp.Or(explainErr, err)
			}})
	}
	rows := make([]*row, o.BatchSize)
	for i := range rows {
		rows[i] = &row{}
	}
	recs := make([]*outcome.Record, 0, o.BatchSize)
	kept := make([]cell, 0, 32)
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		n := 0
		for n < o.BatchSize {
			if err := rd.Next(rows[n]); err == io.EOF {
				done = true
				break
			} else if err != nil {
				return sum, fmt.Errorf("%s: %w", o.Input, err)
			}
			n++
		}
		recs = recs[:0]
		for i := 0; i < n; i++ {
			if rows[i].err == nil {
				rows[i].rec.Topic = fileTopic
				recs = append(recs, &rows[i].rec)
			}
		}
		batch.Score(recs)
		if explainErr != nil {
			return sum, fmt.Errorf("contributions: %w", explainErr)
		}
		scoredAt := schemas.FormatTime(o.Now())
		for i := 0; i < n; i++ {
			r := rows[i]
			sum.Rows++
			reason := ""
			switch {
			case r.err != nil:
				reason = r.err.Error()
			case r.rec.Dead():
				reason = r.rec.Stage + ": " + r.rec.Err.Error()
			}
			if reason != "" {
				sum.Rejected++
				if err := rej.Write(r.line, reason, r.cells); err != nil {
					return sum, fmt.Errorf("write %s: %w", sum.Rejects, err)
				}
				continue
			}
			kept = kept[:0]
			for _, c := range r.cells {
				if !drop[c.name] {
					kept = append(kept, c)
				}
			}
			pred := predictionValues(&r.rec.Result, info.Version, scoredAt)
			if o.Contributions {
				if len(r.rec.Contributions) != o.Scorer.ContributionLen() {
					return sum, fmt.Errorf("line %d: scored without its contributions", r.line)
				}
				pred = appendContributions(pred, r.rec.Contributions)
			}
			if err := w.Write(kept, pred); err != nil {
				return sum, fmt.Errorf("write %s: %w", o.Output, err)
			}
			sum.Scored++
		}
	}
	if err := w.Flush(); err != nil {
		return sum, fmt.Errorf("write %s: %w", o.Output, err)
	}
	if err := rej.w.Flush(); err != nil {
		return sum, fmt.Errorf("write %s: %w", sum.Rejects, err)
	}
	if err := out.Close(); err != nil {
		return sum, fmt.Errorf("write %s: %w", o.Output, err)
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

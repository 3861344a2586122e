package batchscore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Options configure Run.
type Options struct {
	Scorer    *scoring.Scorer
	Input     string // .csv, .jsonl or .ndjson
	Output    string // .csv, .jsonl or .ndjson
	BatchSize int    // rows scored together (default 4096)
	Now       func() time.Time
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
		if rd, err = newCSVReader(in); err != nil {
			return Summary{}, fmt.Errorf("%s: %w", o.Input, err)
		}
	} else {
		rd = newJSONLReader(in)
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
	cl := o.Scorer.ContributionLen()
	var explained []int                    // results to explain, in order
	var contribs []float32                 // their contributions
	rowContrib := make([]int, o.BatchSize) // row → its contributions' index, −1 none
	if o.Contributions {
		predCols = append(predCols, ContributionColumns(info)...)
		explained = make([]int, 0, o.BatchSize)
		contribs = make([]float32, o.BatchSize*cl)
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

	rows := make([]*row, o.BatchSize)
	for i := range rows {
		rows[i] = &row{}
	}
	evs := make([]*schemas.Event, 0, o.BatchSize)
	idx := make([]int, 0, o.BatchSize)
	var batch scoring.Batch
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
		evs, idx = evs[:0], idx[:0]
		for i := 0; i < n; i++ {
			if rows[i].err == nil {
				evs = append(evs, &rows[i].ev)
				idx = append(idx, i)
			}
		}
		o.Scorer.Score(evs, &batch)
		scoredAt := schemas.FormatTime(o.Now())
		results := make([]*scoring.Result, n)
		for k, i := range idx {
			results[i] = &batch.Results[k]
		}
		if o.Contributions {
			explained = explained[:0]
			for k, i := range idx {
				rowContrib[i] = -1
				if batch.Results[k].Err == nil {
					rowContrib[i] = len(explained)
					explained = append(explained, k)
				}
			}
			t0 := time.Now()
			if err := o.Scorer.ExplainResults(&batch, explained, contribs[:len(explained)*cl]); err != nil {
				return sum, fmt.Errorf("contributions: %w", err)
			}
			sum.Explain += time.Since(t0)
		}
		for i := 0; i < n; i++ {
			r := rows[i]
			sum.Rows++
			reason := ""
			switch {
			case r.err != nil:
				reason = r.err.Error()
			case results[i].Err != nil:
				reason = results[i].Stage + ": " + results[i].Err.Error()
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
			pred := predictionValues(results[i], info.Version, scoredAt)
			if o.Contributions {
				c := rowContrib[i]
				pred = appendContributions(pred, contribs[c*cl:(c+1)*cl])
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

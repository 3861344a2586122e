package batchscore

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/entity"
)

// KindColumn is the column that says which event kind a row is
// (transaction or activity, the values of schemas.EventType and of the
// predictions' event_type). A file needs it when its features have
// aggregates, or when its models are chosen by kind (Options.ByKind).
const KindColumn = "event_type"

// Errors that stop a run, for callers that branch on them.
var (
	// ErrOrder: with aggregates, a row's event time is earlier than the
	// previous row's. Rows are never reordered: the entity state reads the
	// file as the stream's event-time merge would.
	ErrOrder = errors.New("event times out of order")
	// ErrKind: a row does not say its kind (no event_type, or a value that
	// is not an event kind).
	ErrKind = errors.New("row has no usable event kind")
	// ErrNoModel: a row's kind has no model (Options.ByKind lacks it).
	ErrNoModel = errors.New("no model scores this kind")
)

// fileTopic routes a file's rows to the run's model in the outcome core
// when rows have no kind.
const fileTopic = "file"

// kinds are the event kinds in stream order: a log's transactions are
// stream 0 of the entity state, its activity stream 1 (as INPUT_TOPICS
// transactions,activity are).
var kinds = []schemas.EventType{schemas.Transaction, schemas.Activity}

// Options configure Run.
type Options struct {
	// Scorer scores every row, whatever its kind (as MODEL_PATH scores
	// every input topic). Set it or ByKind.
	Scorer *scoring.Scorer
	// ByKind scores each row with the model of its kind (KindColumn), as a
	// MODELS_FILE routes each topic to its model. A row of a kind it lacks
	// stops the run (ErrNoModel).
	ByKind map[schemas.EventType]*scoring.Scorer
	// Names are the id, entity and time fields of rows when the features
	// have aggregates (default schemas.DefaultFieldNames).
	Names schemas.FieldNames
	// State bounds the entity state when the features have aggregates
	// (ENTITY_STATE_MAX_BYTES).
	State entity.Options
	// WithFeatures writes every model input, the exact value the model
	// saw, as a column before the prediction columns (as backfill
	// --with-features does).
	WithFeatures bool
	Input        string // .csv, .jsonl or .ndjson
	Output       string // .csv, .jsonl or .ndjson
	BatchSize    int    // rows scored together (default 4096)
	Now          func() time.Time
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
	// Evicted counts the rows whose aggregates were answered missing
	// because the entity state had evicted their entity's history (the
	// State.MaxBytes bound).
	Evicted int64
	Elapsed time.Duration
	Explain time.Duration // spent computing contributions
	Rejects string        // path of the rejects file
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

// engine is what Run scores rows with: the outcome core over the run's
// models, and with aggregates the entity state the lanes keep.
type engine struct {
	o       Options
	core    *outcome.Core
	batch   *outcome.Batch
	scorers []*scoring.Scorer // distinct, in kind order
	byKind  map[schemas.EventType]*scoring.Scorer
	kinded  bool // rows say their kind (KindColumn)
	aggs    bool // the features have aggregates: rows are a time-ordered log
	csv     bool

	prevTime time.Time
	prevLine int
}

func newEngine(o Options, csv bool) (*engine, error) {
	e := &engine{o: o, csv: csv, byKind: map[schemas.EventType]*scoring.Scorer{}}
	switch {
	case o.Scorer != nil && o.ByKind != nil:
		return nil, errors.New("batchscore: set Scorer or ByKind, not both")
	case o.Scorer != nil:
		for _, k := range kinds {
			e.byKind[k] = o.Scorer
		}
	case len(o.ByKind) > 0:
		for k, s := range o.ByKind {
			if !slices.Contains(kinds, k) {
				return nil, fmt.Errorf("batchscore: %w: %q", ErrKind, k)
			}
			e.byKind[k] = s
		}
		e.kinded = true
	default:
		return nil, errors.New("batchscore: no model")
	}
	for _, k := range kinds {
		if s := e.byKind[k]; s != nil && !slices.Contains(e.scorers, s) {
			e.scorers = append(e.scorers, s)
			e.aggs = e.aggs || len(s.Plan().Aggregates()) > 0
		}
	}
	e.kinded = e.kinded || e.aggs
	if e.o.Names == (schemas.FieldNames{}) {
		e.o.Names = schemas.DefaultFieldNames
	}
	var err error
	if !e.kinded {
		// Rows have no kind: they are routed to the one model of the run.
		e.core, err = outcome.New(modelset.Static(map[string]*scoring.Scorer{fileTopic: o.Scorer}), nil, nil)
		if err != nil {
			return nil, err
		}
		e.batch = e.core.NewBatch()
		return e, nil
	}
	// One input per kind, its topic named after it; the rows are decoded
	// by the file's reader (a JSON line as the JSON decoder reads it).
	routes := map[string]*scoring.Scorer{}
	var ins []outcome.Input
	for _, k := range kinds {
		dec, err := schemas.NewDecoder(schemas.JSON, k, e.o.Names)
		if err != nil {
			return nil, err
		}
		ins = append(ins, outcome.Input{Topic: string(k), Kind: k, Decoder: dec})
		if s := e.byKind[k]; s != nil {
			routes[string(k)] = s
		}
	}
	if e.core, err = outcome.New(modelset.Static(routes), ins, nil); err != nil {
		return nil, err
	}
	e.batch = e.core.NewBatch()
	if e.aggs {
		e.batch.SetState(entity.NewState(e.core.Spec(), o.State))
	}
	return e, nil
}

// admit prepares a row that was read for scoring: its kind routes it, and
// with aggregates its identity is taken and its time checked against the
// previous row's. It returns an error only for what stops the run.
func (e *engine) admit(r *row) error {
	if !e.kinded {
		r.rec.Topic = fileTopic
		return nil
	}
	k, err := e.rowKind(r)
	if err != nil {
		return err
	}
	if e.byKind[k] == nil {
		have := make([]string, 0, len(e.byKind))
		for _, x := range kinds {
			if e.byKind[x] != nil {
				have = append(have, string(x))
			}
		}
		return fmt.Errorf("%w: line %d is a %s event, and no model scores %s events (models are given for %s)",
			ErrNoModel, r.line, k, k, strings.Join(have, ", "))
	}
	r.rec.Topic, r.rec.Offset = string(k), int64(r.line)
	ev := &r.rec.Event
	ev.Type = k
	if !e.aggs {
		return nil
	}
	if e.csv {
		// A CSV cell has no type: an id is its text as written ("007"
		// stays "007", as the record key of the stream would).
		for _, c := range r.cells {
			if c.name == e.o.Names.ID || c.name == e.o.Names.Entity {
				ev.SetField(c.name, schemas.StringValue(c.text))
			}
		}
	}
	if err := ev.Identify(k, e.o.Names); err != nil {
		r.rec.Stage, r.rec.Err = outcome.StageDecode, err // rejected, as the stream dead-letters it
		return nil
	}
	if !e.prevTime.IsZero() && ev.Time.Before(e.prevTime) {
		return fmt.Errorf("%w: line %d: event time %s is earlier than %s on line %d; with aggregate features the rows must be in event-time order (sort the file by %s)",
			ErrOrder, r.line, schemas.FormatTime(ev.Time), schemas.FormatTime(e.prevTime), e.prevLine, e.o.Names.Time)
	}
	e.prevTime, e.prevLine = ev.Time, r.line
	return nil
}

// rowKind reads a row's kind column.
func (e *engine) rowKind(r *row) (schemas.EventType, error) {
	for _, c := range r.cells {
		if c.name != KindColumn {
			continue
		}
		v := c.textValue()
		if v == "" {
			break
		}
		k, err := schemas.ParseEventType(v)
		if err != nil {
			return "", fmt.Errorf("%w: line %d: %s %q: want transaction or activity", ErrKind, r.line, KindColumn, v)
		}
		return k, nil
	}
	return "", fmt.Errorf("%w: line %d has no %s; %s every row needs one (transaction or activity)", ErrKind, r.line, KindColumn, e.why())
}

// why says what makes the kind column needed.
func (e *engine) why() string {
	if e.aggs {
		var names []string
		for _, s := range e.scorers {
			for _, a := range s.Plan().Aggregates() {
				names = append(names, a.Key())
			}
		}
		if len(names) > 3 {
			names = append(names[:3], "…")
		}
		return "the features have aggregates (" + strings.Join(names, ", ") + "), so"
	}
	return "with a model per kind"
}

// score gives the admitted rows their outcomes.
func (e *engine) score(recs []*outcome.Record) {
	e.batch.Score(recs)
	if st := e.batch.State(); st != nil {
		// As a lane does after a batch: drop what no later window reaches
		// (later rows are not earlier than this one).
		st.Expire(e.prevTime)
	}
}

// Run scores Input into Output. It returns an error only for what stops
// the job (unreadable input, unwritable output, cancellation, and with
// kinds or aggregates a row without a usable kind, of a kind no model
// scores, or out of time order); rows that cannot be scored go to the
// rejects file.
func Run(ctx context.Context, o Options) (Summary, error) {
	start := time.Now()
	if o.BatchSize <= 0 {
		o.BatchSize = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	inKind, err := kind(o.Input)
	if err != nil {
		return Summary{}, err
	}
	outKind, err := kind(o.Output)
	if err != nil {
		return Summary{}, err
	}
	eng, err := newEngine(o, inKind == "csv")
	if err != nil {
		return Summary{}, err
	}
	if o.Contributions {
		for _, sc := range eng.scorers {
			if _, err := sc.Explainer(); err != nil {
				return Summary{}, fmt.Errorf("contributions: %w", err)
			}
		}
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
			for _, sc := range eng.scorers {
				if err := checkColumns(sc.Plan(), cr.header, "column", "in the CSV header"); err != nil {
					return Summary{}, fmt.Errorf("%s: %w", o.Input, err)
				}
			}
		}
		if eng.kinded && !slices.Contains(cr.header, KindColumn) {
			return Summary{}, fmt.Errorf("%s: %w: the header has no %s column; %s every row needs one (transaction or activity)",
				o.Input, ErrKind, KindColumn, eng.why())
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
				for _, sc := range eng.scorers {
					if err := checkColumns(sc.Plan(), keys, "key", fmt.Sprintf("in any of the first %d rows", len(jr.pending))); err != nil {
						return Summary{}, fmt.Errorf("%s: %w", o.Input, err)
					}
				}
			}
		}
		rd = jr
	}
	lay, err := newLayout(eng.scorers, o.WithFeatures, true, o.Contributions)
	if err != nil {
		return Summary{}, err
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

	var w writer
	if outKind == "csv" {
		w = newCSVWriter(out, lay.cols)
	} else {
		w = newJSONLWriter(out, lay.cols)
	}
	drop := map[string]bool{}
	for _, s := range eng.scorers {
		for _, f := range s.Plan().Sources() {
			drop[f] = true
		}
	}

	batch := eng.batch
	batch.WantMargins(slices.ContainsFunc(lay.cols, func(c string) bool { return strings.HasPrefix(c, ColRawPrefix) }))
	batch.KeepFeatures(o.WithFeatures)
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
			if rows[n].err == nil {
				if err := eng.admit(rows[n]); err != nil {
					return sum, fmt.Errorf("%s: %w", o.Input, err)
				}
			}
			n++
		}
		recs = recs[:0]
		for i := 0; i < n; i++ {
			if rows[i].err == nil {
				recs = append(recs, &rows[i].rec)
			}
		}
		eng.score(recs)
		if explainErr != nil {
			return sum, fmt.Errorf("contributions: %w", explainErr)
		}
		scoredAt := schemas.FormatTime(o.Now())
		for i := 0; i < n; i++ {
			r := rows[i]
			sum.Rows++
			reason := ""
			switch {
			case r.err != nil: // the row could not be read: the stream's decode stage
				reason = outcome.StageDecode + ": " + r.err.Error()
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
			if err := w.Write(kept, lay.values(r.rec.Scorer, &r.rec.Result, r.rec.Features, r.rec.Contributions, scoredAt)); err != nil {
				return sum, fmt.Errorf("write %s: %w", o.Output, err)
			}
			sum.Scored++
		}
	}
	sum.Evicted = batch.Evicted
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

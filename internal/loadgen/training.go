package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/entity"
)

// TrainingOptions configure WriteTraining.
type TrainingOptions struct {
	Path    string // the training file: a CSV of the features, then label
	LogPath string // where the log is kept; empty: a temporary file
	Specs   []scoring.FeatureSpec
	Kind    schemas.EventType // the rows' kind; the log has both
	Rows    int               // training rows to write
	// LogRate is the log's events per second of event time (default 0.5);
	// with Customers it sets how much history a customer has.
	LogRate   float64
	Seed      uint64
	Customers int
	Start     time.Time
	Names     schemas.FieldNames // default schemas.DefaultFieldNames
}

// TrainingSummary is what WriteTraining wrote.
type TrainingSummary struct {
	Events, Rows, Positives int
}

// WriteTraining writes labelled training rows computed by the serving
// code: the generator's stream of both kinds (synth, history-driven fraud)
// is written as a log file, scored by `streamscore score`'s own code
// (batchscore: the outcome core and the entity state, with features) under
// the features file, and the rows of Kind become the training file — each
// row's features exactly as the model will see them when the same events
// are scored by run, backfill or score, then the generator's ground truth.
// A missing value is an empty cell. The log is generated until it holds
// Rows events of Kind.
func WriteTraining(ctx context.Context, o TrainingOptions) (TrainingSummary, error) {
	var sum TrainingSummary
	if o.Rows <= 0 {
		return sum, errors.New("loadgen: training rows must be positive")
	}
	if o.LogRate <= 0 {
		o.LogRate = 0.5
	}
	if o.Names == (schemas.FieldNames{}) {
		o.Names = schemas.DefaultFieldNames
	}
	names := make([]string, len(o.Specs))
	for i, s := range o.Specs {
		names[i] = s.Name
	}
	sc, err := scoring.NewScorer(featuresOnly{names: names}, o.Specs, scoring.DefaultPolicy)
	if err != nil {
		return sum, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(o.Path), ".training-")
	if err != nil {
		return sum, err
	}
	defer os.RemoveAll(tmp)
	logPath := o.LogPath
	if logPath == "" {
		logPath = filepath.Join(tmp, "log.csv")
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return sum, err
	}
	g := synth.New(o.Seed, o.Customers, o.Names)
	rows := 0
	bw := bufio.NewWriterSize(lf, 1<<16)
	sum.Events, err = synth.WriteLog(bw, g, o.Start, o.LogRate, func(k schemas.EventType) bool {
		if k == o.Kind {
			rows++
		}
		return rows == o.Rows
	})
	if err == nil {
		err = bw.Flush()
	}
	if e := lf.Close(); err == nil {
		err = e
	}
	if err != nil {
		return sum, fmt.Errorf("write the log %s: %w", logPath, err)
	}
	// The training state is unbounded: an evicted entity would make its
	// rows' aggregates missing.
	scored := filepath.Join(tmp, "scored.csv")
	res, err := batchscore.Run(ctx, batchscore.Options{Scorer: sc, Names: o.Names, State: entity.Options{MaxBytes: 0},
		Input: logPath, Output: scored, WithFeatures: true})
	if err != nil {
		return sum, err
	}
	if res.Rejected > 0 {
		b, _ := os.ReadFile(res.Rejects)
		first, _, _ := bytes.Cut(b, []byte("\n"))
		return sum, fmt.Errorf("%d of the log's rows could not be scored under the features file, first: %s", res.Rejected, first)
	}
	sum.Rows, sum.Positives, err = extract(scored, o.Path, names, o.Kind)
	return sum, err
}

// extract writes the feature columns and the label of the scored rows of
// kind to path.
func extract(scored, path string, names []string, kind schemas.EventType) (rows, positives int, err error) {
	in, err := os.Open(scored)
	if err != nil {
		return 0, 0, err
	}
	defer in.Close()
	r := csv.NewReader(bufio.NewReaderSize(in, 1<<16))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return 0, 0, err
	}
	col := map[string]int{}
	for i, h := range header {
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	var idx []int
	for _, n := range append(append([]string{}, names...), batchscore.KindColumn, synth.TruthColumn) {
		i, ok := col[n]
		if !ok {
			return 0, 0, fmt.Errorf("scored log has no column %q", n)
		}
		idx = append(idx, i)
	}
	kindAt, truthAt := idx[len(names)], idx[len(names)+1]
	out, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer out.Close()
	w := csv.NewWriter(bufio.NewWriterSize(out, 1<<16))
	if err := w.Write(append(append([]string{}, names...), "label")); err != nil {
		return 0, 0, err
	}
	rec := make([]string, len(names)+1)
	for {
		cells, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rows, positives, err
		}
		if cells[kindAt] != string(kind) {
			continue
		}
		for k := range names {
			rec[k] = cells[idx[k]]
		}
		rec[len(names)] = cells[truthAt]
		if cells[truthAt] == "1" {
			positives++
		}
		if err := w.Write(rec); err != nil {
			return rows, positives, err
		}
		rows++
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return rows, positives, err
	}
	return rows, positives, out.Close()
}

// featuresOnly is a model that only exposes its inputs: the training
// export needs the feature plan's values, not a score.
type featuresOnly struct{ names []string }

func (m featuresOnly) Info() scoring.Info {
	return scoring.Info{Name: "features", Version: "0", Format: "none", Features: m.names, Output: scoring.Regression, Classes: 1}
}

func (m featuresOnly) Predict(_, out []float32) error {
	clear(out)
	return nil
}

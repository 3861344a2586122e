package batchscore

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/streamscore/streamscore/scoring"
)

// Cell is one output column of a row, with its text.
type Cell struct {
	Name, Text string
}

// FileWriter writes scored rows to a .csv or .jsonl file with the columns
// of `score` (with features, every model input before the prediction
// columns, as `score --with-features` writes them), and rejected rows to
// "<path>.rejects"; backfill uses it so that its files have the columns
// of `score`.
type FileWriter struct {
	path    string
	lay     *layout
	f, rf   *os.File
	w       writer
	rej     *rejectWriter
	cells   []cell
	header  []string // resuming a CSV file: the header it has
	Written int
	Rejects int
}

// FileColumns are the columns CreateFile's writer writes after the cells
// of each row.
func FileColumns(scorers []*scoring.Scorer, withFeatures bool) ([]string, error) {
	lay, err := newLayout(scorers, withFeatures, false, false)
	if err != nil {
		return nil, err
	}
	return lay.cols, nil
}

// CreateFile opens path for writing rows scored by scorers (the models in
// service: the columns are the union of theirs), with every model input
// when withFeatures is set; appending when resume is set, in which case a
// CSV header is not repeated (CheckHeader compares it with the columns
// the writer writes).
func CreateFile(path string, scorers []*scoring.Scorer, withFeatures, resume bool) (*FileWriter, error) {
	k, err := kind(path)
	if err != nil {
		return nil, err
	}
	lay, err := newLayout(scorers, withFeatures, false, false)
	if err != nil {
		return nil, err
	}
	var header []string
	if resume && k == "csv" {
		if header, err = readHeader(path); err != nil {
			return nil, err
		}
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if resume {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	rf, err := os.OpenFile(path+".rejects", flags, 0o644)
	if err != nil {
		f.Close()
		return nil, err
	}
	fw := &FileWriter{path: path, lay: lay, f: f, rf: rf, rej: &rejectWriter{w: bufio.NewWriterSize(rf, 1<<16)}}
	if k == "csv" {
		cw := newCSVWriter(f, lay.cols)
		if header != nil {
			cw.headerDone = true
			fw.header = header
		}
		fw.w = cw
	} else {
		fw.w = newJSONLWriter(f, lay.cols)
	}
	return fw, nil
}

// readHeader is the first record of the CSV file at path, nil when the
// file does not exist or is empty.
func readHeader(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	h, err := r.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the header of %s: %w", path, err)
	}
	return h, nil
}

// CheckHeader reports whether the CSV file being appended to has the
// header this writer would write for rows whose cells are named kept: an
// error naming both otherwise, as rows under another header corrupt the
// file. A new, empty or JSONL file passes.
func (fw *FileWriter) CheckHeader(kept []string) error {
	if fw.header == nil {
		return nil
	}
	want := append(slices.Clip(kept), fw.lay.cols...)
	if slices.Equal(fw.header, want) {
		return nil
	}
	return fmt.Errorf("%s has the header %s, the rows to append have the columns %s (written with or without --with-features, or with other models?): not appending to it",
		fw.path, strings.Join(fw.header, ","), strings.Join(want, ","))
}

func (fw *FileWriter) toCells(cells []Cell) []cell {
	fw.cells = fw.cells[:0]
	for _, c := range cells {
		fw.cells = append(fw.cells, cell{name: c.Name, text: c.Text})
	}
	return fw.cells
}

// Write writes a row scored by s: its cells, then (with features) the
// model inputs feats, then the prediction columns of r.
func (fw *FileWriter) Write(cells []Cell, s *scoring.Scorer, r *scoring.Result, feats []float64, scoredAt string) error {
	if err := fw.w.Write(fw.toCells(cells), fw.lay.values(s, r, feats, nil, scoredAt)); err != nil {
		return fmt.Errorf("write %s: %w", fw.path, err)
	}
	fw.Written++
	return nil
}

// Reject writes a row that could not be scored, with its position and
// reason.
func (fw *FileWriter) Reject(line int, reason string, cells []Cell) error {
	fw.Rejects++
	return fw.rej.Write(line, reason, fw.toCells(cells))
}

// Flush writes buffered rows to the files.
func (fw *FileWriter) Flush() error {
	if err := fw.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", fw.path, err)
	}
	if err := fw.rej.w.Flush(); err != nil {
		return fmt.Errorf("write %s.rejects: %w", fw.path, err)
	}
	return nil
}

// Close flushes and closes the files.
func (fw *FileWriter) Close() error {
	err := fw.Flush()
	if e := fw.f.Close(); err == nil {
		err = e
	}
	if e := fw.rf.Close(); err == nil {
		err = e
	}
	return err
}

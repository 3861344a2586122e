package batchscore

import (
	"fmt"
	"io"
	"os"

	"github.com/streamscore/streamscore/schemas"
)

// Row is one input row read by a RowReader: its line, its event (valid
// until the next Read), or the reason it cannot be read.
type Row struct {
	Line  int
	Event *schemas.Event
	Err   error
}

// RowReader reads a .csv or .jsonl file's rows as events, exactly as
// `score` reads them (CSV: an empty cell, nan or NaN is missing, a number
// is a number, true/false are booleans, anything else text; JSONL: the
// stream's JSON decoding), for commands that need a file's events
// without scoring it into a file (`streamscore baseline`).
type RowReader struct {
	f      *os.File
	rd     reader
	header []string
	rows   []*row
	out    []Row
}

// OpenRows opens a .csv (with a header) or .jsonl file.
func OpenRows(path string) (*RowReader, error) {
	k, err := kind(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rr := &RowReader{f: f}
	if k == "csv" {
		cr, err := newCSVReader(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rr.rd, rr.header = cr, cr.header
	} else {
		rr.rd = newJSONLReader(f)
	}
	return rr, nil
}

// Columns is a CSV file's header (nil for JSON Lines).
func (rr *RowReader) Columns() []string { return rr.header }

// Read reads up to n rows (fewer at the end of the file; none and io.EOF
// after it). The rows and their events are valid until the next Read. A
// row that cannot be parsed is returned with Row.Err set; an error is
// returned only when the file cannot be read on.
func (rr *RowReader) Read(n int) ([]Row, error) {
	for len(rr.rows) < n {
		rr.rows = append(rr.rows, &row{})
	}
	rr.out = rr.out[:0]
	for i := 0; i < n; i++ {
		r := rr.rows[i]
		if err := rr.rd.Next(r); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		rr.out = append(rr.out, Row{Line: r.line, Event: &r.rec.Event, Err: r.err})
	}
	if len(rr.out) == 0 && n > 0 {
		return nil, io.EOF
	}
	return rr.out, nil
}

// Close closes the file.
func (rr *RowReader) Close() error { return rr.f.Close() }

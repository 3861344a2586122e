package batchscore

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/schemas"
)

// cell is one input column of a row: its name and its text (CSV) or raw
// JSON value (JSONL).
type cell struct {
	name string
	text string
	json json.RawMessage // set for JSONL input
}

// row is one input row; its event is rec.Event.
type row struct {
	line  int
	cells []cell
	rec   outcome.Record
	err   error // the row could not be read (rejected with this reason)
}

// reader yields input rows; Next returns io.EOF at the end.
type reader interface {
	Next(r *row) error
}

// csvReader reads CSV with a header. An empty cell, "nan" or "NaN" is
// missing; a cell that parses as a number is a number; "true"/"false" are
// booleans; anything else is text.
type csvReader struct {
	r      *csv.Reader
	header []string
	line   int
}

func newCSVReader(in io.Reader) (*csvReader, error) {
	r := csv.NewReader(bufio.NewReaderSize(in, 1<<16))
	r.ReuseRecord = true
	r.FieldsPerRecord = -1
	h, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	return &csvReader{r: r, header: append([]string(nil), h...), line: 1}, nil
}

func (c *csvReader) Next(rw *row) error {
	rec, err := c.r.Read()
	if err == io.EOF {
		return io.EOF
	}
	c.line++
	rw.line, rw.err = c.line, nil
	if line, _ := c.r.FieldPos(0); line > 0 {
		rw.line = line
	}
	rw.cells = rw.cells[:0]
	rw.rec.Reset()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			rw.err = fmt.Errorf("malformed CSV: %v", pe.Err)
			return nil
		}
		return err
	}
	if len(rec) != len(c.header) {
		rw.err = fmt.Errorf("%d cells for %d columns", len(rec), len(c.header))
	}
	// The cells the row has, named by the header (a long row's extra cells
	// have no name and are dropped): a short row is rejected as it is,
	// without cells made up for the header's other columns, so that a row
	// costs what it holds, not what the header names.
	n := min(len(rec), len(c.header))
	rw.cells = slices.Grow(rw.cells, n)
	ev := &rw.rec.Event
	ev.Fields = slices.Grow(ev.Fields, n)
	for i, text := range rec[:n] {
		name := c.header[i]
		rw.cells = append(rw.cells, cell{name: name, text: text})
		ev.Fields = append(ev.Fields, schemas.Field{Name: name, Value: cellValue(text)})
	}
	return nil
}

func cellValue(s string) schemas.Value {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "", "nan":
		return schemas.Value{Kind: schemas.Null}
	case "true":
		return schemas.BoolValue(true)
	case "false":
		return schemas.BoolValue(false)
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return schemas.NumberValue(f)
	}
	return schemas.StringValue(s)
}

// jsonlReader reads one JSON object per line; blank lines are skipped.
type jsonlReader struct {
	s       *bufio.Scanner
	line    int
	pending []*row // read ahead by peekKeys, returned first
}

func newJSONLReader(in io.Reader) *jsonlReader {
	s := bufio.NewScanner(in)
	s.Buffer(make([]byte, 1<<16), 16<<20)
	return &jsonlReader{s: s}
}

func (j *jsonlReader) Next(rw *row) error {
	if len(j.pending) > 0 {
		*rw, j.pending = *j.pending[0], j.pending[1:]
		return nil
	}
	return j.next(rw)
}

func (j *jsonlReader) next(rw *row) error {
	for j.s.Scan() {
		j.line++
		b := bytes.TrimSpace(j.s.Bytes())
		if len(b) == 0 {
			continue
		}
		rw.line, rw.err, rw.cells = j.line, nil, rw.cells[:0]
		rw.rec.Reset()
		if err := orderedObject(b, func(name string, raw json.RawMessage) {
			rw.cells = append(rw.cells, cell{name: name, json: append(json.RawMessage(nil), raw...)})
		}); err != nil {
			rw.err = err
			if derr := schemas.DecodeJSONFields(b, &rw.rec.Event); derr != nil {
				rw.err = derr // the stream's decoder names the fault as a dead letter does
			}
			rw.cells = append(rw.cells[:0], cell{text: string(b)}) // not JSON: kept as text (the rejects file's "raw")
			return nil
		}
		if err := schemas.DecodeJSONFields(b, &rw.rec.Event); err != nil {
			rw.err = err
		}
		return nil
	}
	if err := j.s.Err(); err != nil {
		return fmt.Errorf("read JSON lines: %w", err)
	}
	return io.EOF
}

// orderedObject calls fn with each member of a JSON object, in order.
func orderedObject(b []byte, fn func(string, json.RawMessage)) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("malformed JSON: %v", err)
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("malformed JSON: %v", err)
		}
		fn(key, raw)
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("malformed JSON: %v", err)
	}
	return nil
}

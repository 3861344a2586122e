package batchscore

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/streamscore/streamscore/scoring"
)

// Prediction columns, after the kept input columns.
const (
	ColScore        = "score"
	ColLabel        = "label"
	ColRiskSegment  = "risk_segment"
	ColModelVersion = "model_version"
	ColScoredAt     = "scored_at"
	ColProbPrefix   = "prob_"   // prob_0 … prob_<K-1>, multi-class only
	ColTargetPrefix = "target_" // target_0 … target_<K-1>, multi-target only
	// ColRawPrefix names the raw scores raw_0 … raw_<M-1> that `score`
	// adds for a model that reports them (scoring.MarginModel: LightGBM).
	ColRawPrefix = "raw_"
)

// Columns lists the prediction columns for a model: for a multi-class
// model every class probability after the score, for a multi-target
// model every target's output (score is target 0's).
func Columns(info scoring.Info) []string {
	cols := []string{ColScore, ColLabel, ColRiskSegment, ColModelVersion, ColScoredAt}
	switch {
	case info.Output == scoring.MultiClass:
		for k := 0; k < info.Classes; k++ {
			cols = append(cols, ColProbPrefix+strconv.Itoa(k))
		}
	case info.MultiTarget():
		for k := 0; k < info.Targets; k++ {
			cols = append(cols, ColTargetPrefix+strconv.Itoa(k))
		}
	}
	return cols
}

// Contribution columns (score --contributions), after the prediction
// columns.
const (
	ColContribPrefix = "contrib_" // contrib_<feature>, or contrib_<k>_<feature> per group k
	ColContribBias   = "bias"     // contrib_bias, or contrib_<k>_bias
)

// ContributionColumns lists the contribution columns for a model, in the
// layout of scoring.Explainer: contrib_<feature> for each feature then
// contrib_bias; for a model with several output groups (classes of a
// multi-class model, targets of a multi-target one) the same for each group
// k, as contrib_<k>_<feature> and contrib_<k>_bias.
func ContributionColumns(info scoring.Info) []string {
	groups := info.Outputs()
	var cols []string
	for k := 0; k < groups; k++ {
		p := ColContribPrefix
		if groups > 1 {
			p += strconv.Itoa(k) + "_"
		}
		for _, f := range info.Features {
			cols = append(cols, p+f)
		}
		cols = append(cols, p+ColContribBias)
	}
	return cols
}

// appendContributions renders contributions as float32 printed
// round-trip (the shortest decimal that reads back as the same float32).
func appendContributions(out []string, c []float32) []string {
	for _, v := range c {
		out = append(out, strconv.FormatFloat(float64(v), 'g', -1, 32))
	}
	return out
}

// predictionValues renders a scored row's prediction columns as text
// (JSON output writes score, label, probabilities, targets and raw
// scores as numbers), then its raw scores when it has them.
func predictionValues(r *scoring.Result, version, scoredAt string) []string {
	out := []string{
		strconv.FormatFloat(r.Score, 'g', -1, 64),
		strconv.Itoa(int(r.Label)),
		r.Segment, version, scoredAt,
	}
	if r.Probs64 != nil {
		for _, p := range r.Probs64 {
			out = append(out, strconv.FormatFloat(p, 'g', -1, 64))
		}
	} else {
		for _, p := range r.Probs {
			out = append(out, strconv.FormatFloat(float64(p), 'g', -1, 64))
		}
	}
	for _, v := range r.Margins {
		out = append(out, strconv.FormatFloat(v, 'g', -1, 64))
	}
	return out
}

// marginColumns are the raw-score columns of a scorer whose model reports
// them in float64, or nil.
func marginColumns(s *scoring.Scorer) []string {
	mm, ok := s.Model().(scoring.MarginModel)
	f, ok64 := s.Model().(scoring.Float64Model)
	if !ok || !ok64 || !f.Float64Input() {
		return nil
	}
	cols := make([]string, mm.Margins())
	for k := range cols {
		cols[k] = ColRawPrefix + strconv.Itoa(k)
	}
	return cols
}

// writer writes scored rows.
type writer interface {
	Write(cells []cell, pred []string) error
	Flush() error
}

// csvWriter writes the kept columns of the first row's layout, then the
// prediction columns. Later rows are matched by column name (JSONL input
// may vary); a column a row lacks is empty.
type csvWriter struct {
	w          *csv.Writer
	kept       []string
	predCol    []string
	started    bool
	headerDone bool // appending to a file that has its header
	rec        []string
}

func newCSVWriter(out io.Writer, predCols []string) *csvWriter {
	return &csvWriter{w: csv.NewWriter(bufio.NewWriterSize(out, 1<<16)), predCol: predCols}
}

func (c *csvWriter) Write(cells []cell, pred []string) error {
	if !c.started {
		c.started = true
		for _, x := range cells {
			c.kept = append(c.kept, x.name)
		}
		if !c.headerDone {
			if err := c.w.Write(append(append([]string(nil), c.kept...), c.predCol...)); err != nil {
				return err
			}
		}
	}
	c.rec = c.rec[:0]
	for i, name := range c.kept {
		text := ""
		if i < len(cells) && cells[i].name == name {
			text = cells[i].textValue()
		} else {
			for _, x := range cells {
				if x.name == name {
					text = x.textValue()
					break
				}
			}
		}
		c.rec = append(c.rec, text)
	}
	return c.w.Write(append(c.rec, pred...))
}

func (c *csvWriter) Flush() error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	return nil
}

// textValue is a cell as CSV text: a JSON string unquoted, other JSON
// values as written.
func (x cell) textValue() string {
	if x.json == nil {
		return x.text
	}
	var s string
	if json.Unmarshal(x.json, &s) == nil {
		return s
	}
	if string(x.json) == "null" {
		return ""
	}
	return string(x.json)
}

// jsonValue is a cell as a JSON value: CSV text becomes a JSON string
// (ids such as "007" stay as written).
func (x cell) jsonValue() json.RawMessage {
	if x.json != nil {
		return x.json
	}
	b, _ := json.Marshal(x.text)
	return b
}

// jsonlWriter writes one object per row: the kept members in input order,
// then the prediction members.
type jsonlWriter struct {
	w       *bufio.Writer
	predCol []string
	buf     []byte
}

func newJSONLWriter(out io.Writer, predCols []string) *jsonlWriter {
	return &jsonlWriter{w: bufio.NewWriterSize(out, 1<<16), predCol: predCols}
}

// appendJSONString appends s as a JSON string (strconv.Quote would write
// Go escapes such as \x7f, which are not JSON).
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// appendMembers appends cells as the members of a JSON object.
func appendMembers(b []byte, cells []cell) []byte {
	for i, x := range cells {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, x.name)
		b = append(b, ':')
		b = append(b, x.jsonValue()...)
	}
	return b
}

func (j *jsonlWriter) Write(cells []cell, pred []string) error {
	b := appendMembers(append(j.buf[:0], '{'), cells)
	for k, name := range j.predCol {
		if len(cells) > 0 || k > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		switch {
		case name == ColRiskSegment || name == ColModelVersion || name == ColScoredAt:
			b = appendJSONString(b, pred[k])
		case pred[k] == "": // a missing feature, or a column of another kind's model
			b = append(b, "null"...)
		default:
			b = append(b, pred[k]...)
		}
	}
	b = append(b, '}', '\n')
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonlWriter) Flush() error { return j.w.Flush() }

// rejectWriter writes "<output>.rejects": one JSON object per rejected row.
type rejectWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (rw *rejectWriter) Write(line int, reason string, cells []cell) error {
	b := append(rw.buf[:0], `{"line":`...)
	b = strconv.AppendInt(b, int64(line), 10)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, reason)
	if len(cells) == 1 && cells[0].name == "" { // a line that is not a JSON object: its text
		b = appendJSONString(append(b, `,"raw":`...), cells[0].text)
		b = append(b, "}\n"...)
	} else {
		b = appendMembers(append(b, `,"row":{`...), cells)
		b = append(b, "}}\n"...)
	}
	rw.buf = b
	_, err := rw.w.Write(b)
	return err
}

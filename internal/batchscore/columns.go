package batchscore

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/streamscore/streamscore/scoring"
)

// ErrMissingColumn is wrapped by Run's error when a model input reads a
// column the input does not have and has no default: every row would be
// scored with that input missing, a silent wrong answer. The error names
// the input, its column and the closest column the file has. Options.
// AllowMissingColumns scores such a file anyway.
var ErrMissingColumn = errors.New("missing column")

// jsonlCheckRows is how many JSON Lines rows are read for their keys
// before scoring: a model input whose field is a key of none of them is a
// missing column.
const jsonlCheckRows = 1000

// checkColumns returns an error wrapping ErrMissingColumn for every input
// of plan without a default whose field is not among columns; noun and
// where say what the columns are ("column", "in the CSV header").
func checkColumns(plan *scoring.Plan, columns []string, noun, where string) error {
	have := make(map[string]bool, len(columns))
	for _, c := range columns {
		have[c] = true
	}
	var msgs []string
	reported := map[string]bool{}
	for _, in := range plan.Inputs() {
		if in.HasDefault || in.Aggregate || have[in.Field] || reported[in.Field] {
			continue
		}
		reported[in.Field] = true
		msg := fmt.Sprintf("model input %q has no %s %s", in.Name, noun, where)
		if in.Field != in.Name {
			msg = fmt.Sprintf("model input %q reads %s %q, which is not %s", in.Name, noun, in.Field, where)
		}
		if c, ok := closest(in.Field, columns); ok {
			msg += fmt.Sprintf(" (closest: %q)", c)
		} else {
			msg += fmt.Sprintf(" (there: %s)", list(columns, 12))
		}
		msgs = append(msgs, msg)
	}
	if msgs == nil {
		return nil
	}
	return fmt.Errorf("%w: %s; rename the %s, give the input a default in the features file, or pass --allow-missing-columns to score it as missing on every row",
		ErrMissingColumn, strings.Join(msgs, "; "), noun)
}

// closest is the column most like name, when one is close enough to be a
// likely misspelling: the smallest edit distance with case, '_', '-', '.'
// and spaces ignored (supportcalls for support_calls), one name holding
// the other counting as one edit (amount_usd for amount).
func closest(name string, columns []string) (string, bool) {
	best, bestD := "", -1
	for _, c := range columns {
		if c == "" {
			continue
		}
		fn, fc := fold(name), fold(c)
		d := 2 * editDistance(fn, fc)
		switch {
		case d == 0:
			d = min(1, editDistance(name, c)) // equal up to case and separators
		case min(len(fn), len(fc)) >= 3 && (strings.Contains(fc, fn) || strings.Contains(fn, fc)):
			d = min(d, 2) // amount for amount_usd: as close as one edit
		}
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2 * max(2, len(fold(name))/3)
	return best, bestD >= 0 && bestD <= limit
}

func fold(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', '.', ' ':
			return -1
		}
		return r
	}, strings.ToLower(s))
}

// editDistance is Levenshtein's distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// list quotes up to n names.
func list(names []string, n int) string {
	var q []string
	for _, s := range names {
		if s != "" && len(q) < n {
			q = append(q, fmt.Sprintf("%q", s))
		}
	}
	if len(q) == 0 {
		return "no columns"
	}
	if len(names) > n {
		q = append(q, "...")
	}
	return strings.Join(q, ", ")
}

// peekKeys reads up to n rows ahead and returns the keys they have; Next
// then returns those rows first. ok is false when no row of them is a JSON
// object (nothing to judge the keys by).
func (j *jsonlReader) peekKeys(n int) (keys []string, ok bool, err error) {
	seen := map[string]bool{}
	for len(j.pending) < n {
		r := &row{}
		if err := j.next(r); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, false, err
		}
		j.pending = append(j.pending, r)
		if len(r.cells) == 1 && r.cells[0].name == "" && r.err != nil {
			continue // not a JSON object
		}
		ok = true
		for _, c := range r.cells {
			if !seen[c.name] {
				seen[c.name] = true
				keys = append(keys, c.name)
			}
		}
	}
	return keys, ok, nil
}

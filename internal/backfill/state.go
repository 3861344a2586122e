package backfill

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/streamscore/streamscore/internal/lane"
)

// Span is one partition's work: offsets [Next, End) remain.
type Span struct {
	// Warm is where reading starts when entity aggregates need history:
	// records in [Warm, Next) only warm the state.
	Warm int64 `json:"warm"`
	Next int64 `json:"next"`
	End  int64 `json:"end"`
	read int64 // offset after the last record read in this run
}

// stateVersion is the version of the resume files Write writes. Version 1
// (files without a version) recorded no Output: resuming one checks only
// that a CSV file's header matches the columns the resumed run writes.
const stateVersion = 2

// State is where a backfill stands; an interrupted run writes it and
// --resume reads it back, so the rest is scored exactly once, into the
// same output, the same way.
type State struct {
	Version    int                        `json:"version,omitempty"`
	From       time.Time                  `json:"from"`
	To         time.Time                  `json:"to"`
	Topics     []string                   `json:"topics"`
	Partitions map[string]map[int32]*Span `json:"partitions"`
	// Inputs are the input topics as INPUT_TOPICS entries with their
	// event kind, "topic:kind" (absent in a version 1 file: a resume
	// reads Topics, with the kinds their names imply).
	Inputs []string `json:"inputs,omitempty"`
	// Output is what the run wrote and how (nil in a version 1 file).
	Output *Output `json:"output,omitempty"`
	// MaxRate is the run's --max-rate: the resumed run's default. It does
	// not change the output, so a resume may give another.
	MaxRate float64 `json:"max_rate,omitempty"`
}

// Output is every option of a run that changes what it writes; a resumed
// run must write the rest the same way, or the output mixes two kinds of
// row (a CSV file would have rows under another run's header).
type Output struct {
	File         string `json:"file,omitempty"`  // --output-file, absolute
	Topic        string `json:"topic,omitempty"` // --output-topic
	WithFeatures bool   `json:"with_features,omitempty"`
	// Encoding is OUTPUT_ENCODING (a topic output's; a file has its own).
	Encoding string `json:"encoding,omitempty"`
	// Models are the models in service, "name version" each.
	Models []string `json:"models"`
	// Columns are a file's columns after the source columns (with
	// --with-features the model inputs, then the prediction columns).
	Columns []string `json:"columns,omitempty"`
}

// conflict is the first difference between the output a resumed run
// would write (o) and the interrupted run's (s), naming the flag or
// variable to change; nil when they agree.
func (s *Output) conflict(o *Output) error {
	where := func(x *Output) string {
		switch {
		case x.File != "":
			return "--output-file " + x.File
		case x.Topic != "":
			return "--output-topic " + x.Topic
		}
		return "the output topics (no --output-file or --output-topic)"
	}
	switch {
	case s.File != o.File || s.Topic != o.Topic:
		return fmt.Errorf("the interrupted backfill wrote to %s, this one would write to %s: resume with %s", where(s), where(o), where(s))
	case s.WithFeatures != o.WithFeatures:
		if s.WithFeatures {
			return fmt.Errorf("the interrupted backfill wrote %s with --with-features (the model inputs' columns): resume with --with-features", s.File)
		}
		return fmt.Errorf("the interrupted backfill wrote %s without --with-features: resume without it (or --with-features=false)", s.File)
	case s.Encoding != o.Encoding:
		return fmt.Errorf("OUTPUT_ENCODING is %s, the interrupted backfill wrote %s to %s: resume with OUTPUT_ENCODING=%s", o.Encoding, s.Encoding, where(s), s.Encoding)
	case !slices.Equal(s.Models, o.Models):
		return fmt.Errorf("the models differ from the interrupted backfill's (it scored with %s, this one would with %s): resume with the same MODEL_PATH or MODELS_FILE and model files, or start a new backfill",
			strings.Join(s.Models, ", "), strings.Join(o.Models, ", "))
	case !slices.Equal(s.Columns, o.Columns):
		return fmt.Errorf("the interrupted backfill wrote %s with the columns %s, this one would write %s (another features file?): resume with the same files, or start a new backfill",
			s.File, strings.Join(s.Columns, ","), strings.Join(o.Columns, ","))
	}
	return nil
}

// ReadState loads a resume file.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: not a backfill resume file: %w", path, err)
	}
	if s.Version > stateVersion {
		return nil, fmt.Errorf("%s: a version %d resume file, written by a newer streamscore (this one reads up to version %d)", path, s.Version, stateVersion)
	}
	if !s.From.Before(s.To) || len(s.Partitions) == 0 {
		return nil, fmt.Errorf("%s: not a backfill resume file (no range or partitions)", path)
	}
	return &s, nil
}

// Write saves the state atomically, as a file of the current version.
func (s *State) Write(path string) error {
	s.Version = stateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Remaining is the number of offsets left over all partitions.
func (s *State) Remaining() int64 {
	var n int64
	for _, ps := range s.Partitions {
		for _, sp := range ps {
			n += max(0, sp.End-sp.Next)
		}
	}
	return n
}

// Describe lists every partition's position, one per line.
func (s *State) Describe() string {
	var lines []string
	for t, ps := range s.Partitions {
		for p, sp := range ps {
			lines = append(lines, fmt.Sprintf("  %s[%d]: next offset %d of end %d (%d left)", t, p, sp.Next, sp.End, max(0, sp.End-sp.Next)))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// rewind moves each partition's position back to the lowest offset given
// up (records that waited for the schema registry when the run was
// interrupted), so that a resumed run scores them.
func (s *State) rewind(abandoned map[lane.Partition]int64) {
	for tp, off := range abandoned {
		if sp := s.Partitions[tp.Topic][tp.Partition]; sp != nil && off < sp.Next {
			sp.Next = off
		}
	}
}

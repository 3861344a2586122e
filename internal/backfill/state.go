package backfill

import (
	"encoding/json"
	"fmt"
	"os"
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

// State is where a backfill stands; an interrupted run writes it and
// --resume reads it back, so the rest is scored exactly once.
type State struct {
	From       time.Time                  `json:"from"`
	To         time.Time                  `json:"to"`
	Topics     []string                   `json:"topics"`
	Partitions map[string]map[int32]*Span `json:"partitions"`
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
	if !s.From.Before(s.To) || len(s.Partitions) == 0 {
		return nil, fmt.Errorf("%s: not a backfill resume file (no range or partitions)", path)
	}
	return &s, nil
}

// Write saves the state atomically.
func (s *State) Write(path string) error {
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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamscore/streamscore/internal/backfill"
	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/logging"
	"github.com/streamscore/streamscore/internal/pipeline"
)

// interruptedError exits with 130, like a shell's SIGINT.
type interruptedError struct{ error }

func backfillCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	var f backfillFlags
	fs.StringVar(&f.from, "from", "", "start of the range, RFC 3339 (inclusive)")
	fs.StringVar(&f.to, "to", "", "end of the range, RFC 3339 (exclusive)")
	fs.StringVar(&f.topics, "topics", "", "topics to replay (default INPUT_TOPICS)")
	fs.StringVar(&f.outTopic, "output-topic", "", "topic for predictions (default OUTPUT_TOPIC)")
	fs.StringVar(&f.outFile, "output-file", "", "write predictions to this .jsonl or .csv file instead (dead letters to <file>.rejects)")
	fs.Float64Var(&f.maxRate, "max-rate", 0, "records per second at most (0: no limit)")
	resume := fs.String("resume", "", "resume file: continue an interrupted backfill (written on interrupt) with its range, topics and output options")
	fs.BoolVar(&f.withFeatures, "with-features", false, "with --output-file: write each event's model inputs (the exact values the model saw) beside its prediction")
	if err := parseFlags(fs, args, command{synopsis: "streamscore backfill --from T --to T [--topics a,b] [--output-topic T | --output-file F.jsonl|F.csv [--with-features]] [--max-rate N] [--resume FILE]",
		about: `Replays the input topics' records whose Kafka timestamps fall in [--from, --to) through the same decode,
features, models and encoding as run, from the offset for --from to the end offsets at start. With entity
aggregates the replay starts the longest window (plus ENTITY_REBUILD_SLACK) earlier, into the state only.
No consumer group, nothing committed. SIGINT stops and writes a resume file (exit 130); --resume FILE
continues it with the interrupted run's range, topics, output, --with-features and --max-rate (a flag given
must agree with the file, but --max-rate may change).`, env: allVariables}); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	environ := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		environ[k] = v
	}
	if f.topics != "" {
		environ["INPUT_TOPICS"] = f.topics
	}
	var state *backfill.State
	var from, to time.Time
	if *resume != "" {
		if _, err := os.Stat(*resume); err == nil {
			s, err := backfill.ReadState(*resume)
			if err != nil {
				return usageError{err}
			}
			if err := f.resumeFrom(s, given); err != nil {
				return usageError{fmt.Errorf("--resume %s: %w", *resume, err)}
			}
			state, from, to = s, s.From, s.To
			environ["INPUT_TOPICS"] = strings.Join(s.Topics, ",")
			if len(s.Inputs) > 0 {
				environ["INPUT_TOPICS"] = strings.Join(s.Inputs, ",")
			}
		}
	}
	if f.outTopic != "" && f.outFile != "" {
		return usageError{errors.New("--output-topic and --output-file are exclusive")}
	}
	if f.withFeatures && f.outFile == "" {
		return usageError{errors.New("--with-features needs --output-file")}
	}
	if state == nil {
		var err error
		if from, err = time.Parse(time.RFC3339Nano, f.from); err != nil {
			return usageError{fmt.Errorf("--from %q: want an RFC 3339 time such as 2026-11-01T00:00:00Z", f.from)}
		}
		if to, err = time.Parse(time.RFC3339Nano, f.to); err != nil {
			return usageError{fmt.Errorf("--to %q: want an RFC 3339 time such as 2026-11-02T00:00:00Z", f.to)}
		}
		if !from.Before(to) {
			return usageError{fmt.Errorf("--from %s must be before --to %s", f.from, f.to)}
		}
	}
	cfg, err := config.Load(environ)
	if err != nil {
		return usageError{err}
	}
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return usageError{err}
	}
	models, err := pipeline.LoadModels(cfg)
	if err != nil {
		return err
	}
	st, _ := os.Stderr.Stat()
	terminal := st != nil && st.Mode()&os.ModeCharDevice != 0
	sum, err := backfill.Run(ctx, backfill.Options{Config: cfg, From: from, To: to, OutputTopic: f.outTopic, OutputFile: f.outFile,
		MaxRate: f.maxRate, Resume: state, Models: models, Progress: os.Stderr, Terminal: terminal, Logger: log, WithFeatures: f.withFeatures})
	fmt.Fprintf(os.Stderr, "backfill %s .. %s: read %d records, %d in range, %d predictions, %d dead letters in %v (%.0f records/s)\n",
		from.Format(time.RFC3339), to.Format(time.RFC3339), sum.Read, sum.InRange, sum.Predictions, sum.DeadLetters,
		sum.Elapsed.Round(time.Millisecond), float64(sum.Read)/max(sum.Elapsed.Seconds(), 1e-9))
	if errors.Is(err, backfill.ErrInterrupted) && sum.State != nil {
		path := *resume
		if path == "" {
			path = fmt.Sprintf("backfill-%s-%s.resume.json", from.UTC().Format("20060102T150405Z"), to.UTC().Format("20060102T150405Z"))
		}
		if werr := sum.State.Write(path); werr != nil {
			return fmt.Errorf("interrupted, and the resume file could not be written: %w", werr)
		}
		fmt.Fprintf(os.Stderr, "interrupted; where each partition stands:\n%s\nresume with:\n  %s\n", sum.State.Describe(), f.resumeCommand(path))
		return interruptedError{err}
	}
	if err == nil && *resume != "" {
		os.Remove(*resume) // done: nothing to resume
	}
	return err
}

// backfillFlags are backfill's flags but --resume.
type backfillFlags struct {
	from, to, topics, outTopic, outFile string
	maxRate                             float64
	withFeatures                        bool
}

// resumeFrom takes the interrupted run's options from its state s for the
// flags not given: a resume continues the same run. A given --from, --to
// or --topics must be the state's (Run checks the output flags against
// the state's, as it knows what each writes); --max-rate may change, as
// it only paces the run. A version 1 state (no Output, no MaxRate) leaves
// the output flags as given.
func (f *backfillFlags) resumeFrom(s *backfill.State, given map[string]bool) error {
	for name, v := range map[string]struct {
		val  string
		want time.Time
	}{"from": {f.from, s.From}, "to": {f.to, s.To}} {
		if !given[name] {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v.val)
		if err != nil || !t.Equal(v.want) {
			return fmt.Errorf("--%s %s: the interrupted backfill's range is %s .. %s; leave --%s out to resume it",
				name, v.val, s.From.Format(time.RFC3339Nano), s.To.Format(time.RFC3339Nano), name)
		}
	}
	if given["topics"] {
		state := s.Inputs
		if len(state) == 0 {
			state = s.Topics
		}
		a, erra := inputsOf(f.topics)
		b, errb := inputsOf(strings.Join(state, ","))
		if erra != nil || errb != nil || !slices.Equal(a, b) {
			return fmt.Errorf("--topics %s: the interrupted backfill replays %s; leave --topics out to resume it", f.topics, strings.Join(state, ","))
		}
	}
	if !given["max-rate"] {
		f.maxRate = s.MaxRate
	}
	if s.Output == nil {
		return nil
	}
	if !given["output-file"] && !given["output-topic"] {
		f.outFile, f.outTopic = s.Output.File, s.Output.Topic
	}
	if !given["with-features"] && f.outFile != "" {
		f.withFeatures = s.Output.WithFeatures
	}
	return nil
}

// inputsOf is an INPUT_TOPICS list's topics and kinds, by topic.
func inputsOf(list string) ([]config.Input, error) {
	c := config.Config{InputTopics: strings.Split(list, ",")}
	in, err := c.Inputs()
	slices.SortFunc(in, func(a, b config.Input) int { return strings.Compare(a.Topic, b.Topic) })
	return in, err
}

// resumeCommand is the command that resumes an interrupted run from the
// resume file at path, with every flag that run had but the range and
// topics (which the file records).
func (f *backfillFlags) resumeCommand(path string) string {
	cmd := []string{"streamscore", "backfill", "--resume", shellQuote(path)}
	switch {
	case f.outFile != "":
		cmd = append(cmd, "--output-file", shellQuote(f.outFile))
	case f.outTopic != "":
		cmd = append(cmd, "--output-topic", shellQuote(f.outTopic))
	}
	if f.withFeatures {
		cmd = append(cmd, "--with-features")
	}
	if f.maxRate > 0 {
		cmd = append(cmd, "--max-rate", strconv.FormatFloat(f.maxRate, 'g', -1, 64))
	}
	return strings.Join(cmd, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

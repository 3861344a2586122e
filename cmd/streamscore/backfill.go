package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
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
	fromS := fs.String("from", "", "start of the range, RFC 3339 (inclusive)")
	toS := fs.String("to", "", "end of the range, RFC 3339 (exclusive)")
	topics := fs.String("topics", "", "topics to replay (default INPUT_TOPICS)")
	outTopic := fs.String("output-topic", "", "topic for predictions (default OUTPUT_TOPIC)")
	outFile := fs.String("output-file", "", "write predictions to this .jsonl or .csv file instead (dead letters to <file>.rejects)")
	maxRate := fs.Float64("max-rate", 0, "records per second at most (0: no limit)")
	resume := fs.String("resume", "", "resume file: continue an interrupted backfill (written on interrupt)")
	withFeatures := fs.Bool("with-features", false, "with --output-file: write each event's model inputs (the exact values the model saw) beside its prediction")
	if err := parseFlags(fs, args, command{synopsis: "streamscore backfill --from T --to T [--topics a,b] [--output-topic T | --output-file F.jsonl|F.csv [--with-features]] [--max-rate N] [--resume FILE]",
		about: `Replays the input topics' records whose Kafka timestamps fall in [--from, --to) through the same decode,
features, models and encoding as run, from the offset for --from to the end offsets at start. With entity
aggregates the replay starts the longest window (plus ENTITY_REBUILD_SLACK) earlier, into the state only.
No consumer group, nothing committed. SIGINT stops and writes a resume file (exit 130).`, env: allVariables}); err != nil {
		return err
	}
	if *outTopic != "" && *outFile != "" {
		return usageError{errors.New("--output-topic and --output-file are exclusive")}
	}
	if *withFeatures && *outFile == "" {
		return usageError{errors.New("--with-features needs --output-file")}
	}
	environ := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		environ[k] = v
	}
	if *topics != "" {
		environ["INPUT_TOPICS"] = *topics
	}
	var state *backfill.State
	var from, to time.Time
	if *resume != "" {
		if _, err := os.Stat(*resume); err == nil {
			s, err := backfill.ReadState(*resume)
			if err != nil {
				return usageError{err}
			}
			state, from, to = s, s.From, s.To
			environ["INPUT_TOPICS"] = strings.Join(s.Topics, ",")
		}
	}
	if state == nil {
		var err error
		if from, err = time.Parse(time.RFC3339Nano, *fromS); err != nil {
			return usageError{fmt.Errorf("--from %q: want an RFC 3339 time such as 2026-11-01T00:00:00Z", *fromS)}
		}
		if to, err = time.Parse(time.RFC3339Nano, *toS); err != nil {
			return usageError{fmt.Errorf("--to %q: want an RFC 3339 time such as 2026-11-02T00:00:00Z", *toS)}
		}
		if !from.Before(to) {
			return usageError{fmt.Errorf("--from %s must be before --to %s", *fromS, *toS)}
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
	sum, err := backfill.Run(ctx, backfill.Options{Config: cfg, From: from, To: to, OutputTopic: *outTopic, OutputFile: *outFile,
		MaxRate: *maxRate, Resume: state, Models: models, Progress: os.Stderr, Terminal: terminal, Logger: log, WithFeatures: *withFeatures})
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
		out := ""
		if *outFile != "" {
			out = " --output-file " + *outFile
		} else if *outTopic != "" {
			out = " --output-topic " + *outTopic
		}
		fmt.Fprintf(os.Stderr, "interrupted; where each partition stands:\n%s\nresume with:\n  streamscore backfill --resume %s%s\n", sum.State.Describe(), path, out)
		return interruptedError{err}
	}
	if err == nil && *resume != "" {
		os.Remove(*resume) // done: nothing to resume
	}
	return err
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkaconn"
	"github.com/streamscore/streamscore/internal/loadgen"
	"github.com/streamscore/streamscore/models"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

func main() {
	err := run()
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp): // --help printed the usage
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// usageError is a bad flag (exit 2).
type usageError struct{ error }

// parseFlags parses args; -h or --help prints the usage to stdout and
// returns flag.ErrHelp (exit 0), a bad flag returns a usageError with the
// usage on stderr.
func parseFlags(fs *flag.FlagSet, args []string, usage string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	print := func(w io.Writer) {
		fmt.Fprint(w, usage)
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		print(os.Stdout)
		return err
	case err != nil:
		print(os.Stderr)
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

const usage = `usage: loadgen [--brokers B] [--rate N] [--duration D | --count N] [--encoding avro|json] [flags]
       loadgen --training-file F.csv --count N [--features FILE] [--kind transaction|activity]
       loadgen http [--url U] [--rate N] [--duration D]   (loadgen http --help for its flags)

Produces synthetic transaction and activity events keyed by customer id to Kafka at a target rate
(event times are the time each event is produced), or writes labelled training rows computed by the
serving feature code.
`

func run() error {
	if len(os.Args) > 1 && os.Args[1] == "http" {
		return runHTTP(os.Args[2:])
	}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	brokers := fs.String("brokers", envOr("KAFKA_BROKERS", "localhost:9092"), "Kafka brokers (default $KAFKA_BROKERS or localhost:9092)")
	rate := fs.Float64("rate", 1000, "events per second (0: as fast as possible)")
	eventRate := fs.Float64("event-rate", 0, "with --count: date the events as a history of this many events per second of event time, the last one now, however fast they are produced (0: each event at its production time)")
	duration := fs.Duration("duration", 0, "stop after this long (0: no limit)")
	count := fs.Int64("count", 0, "stop after this many events (0: no limit)")
	encoding := fs.String("encoding", "avro", "avro or json")
	txTopic := fs.String("transactions-topic", "transactions", "topic for transactions")
	actTopic := fs.String("activity-topic", "activity", "topic for activity events (empty: none)")
	actShare := fs.Float64("activity-share", 0.3, "share of events that are activity events")
	customers := fs.Int("customers", 10000, "number of distinct customers")
	seed := fs.Uint64("seed", 1, "random seed")
	compression := fs.String("compression", "lz4", "none, gzip, snappy, lz4 or zstd")
	trainingFile := fs.String("training-file", "", "write --count labelled training rows to this CSV instead of producing")
	featuresPath := fs.String("features", "", "features file for --training-file (default: the bundled fraud model's, or the activity model's with --kind activity)")
	kind := fs.String("kind", "transaction", "event kind of --training-file rows: transaction or activity")
	logFile := fs.String("log-file", "", "with --training-file: keep the log of both kinds the rows were computed from (a CSV that streamscore score reads)")
	logRate := fs.Float64("log-rate", 0.5, "with --training-file: the log's events per second of event time (with --customers, how much history a customer has)")
	if err := parseFlags(fs, os.Args[1:], usage); err != nil {
		return err
	}
	names := schemas.DefaultFieldNames
	if *trainingFile != "" {
		return writeTraining(*trainingFile, *logFile, *featuresPath, *kind, *count, *logRate, *seed, *customers, names)
	}
	enc, err := schemas.ParseEncoding(*encoding)
	if err != nil {
		return usageError{fmt.Errorf("--encoding: %w", err)}
	}
	if !(*eventRate >= 0) || math.IsInf(*eventRate, 0) || *eventRate > 0 && *count <= 0 {
		return usageError{fmt.Errorf("--event-rate %v: want 0, or events per second > 0 with --count", *eventRate)}
	}
	compressionOpt, err := producer.Compression(*compression)
	if err != nil {
		return usageError{fmt.Errorf("--compression: %w", err)}
	}
	if *count == 0 && *duration == 0 {
		fmt.Fprintln(os.Stderr, "loadgen: no --count or --duration: producing until interrupted")
	}
	cl, err := kgo.NewClient(append(kafkaconn.Options(strings.Split(*brokers, ","), "streamscore-loadgen"),
		compressionOpt, kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, cl, loadgen.Options{
		Encoding: enc, TransactionsTopic: *txTopic, ActivityTopic: *actTopic, ActivityShare: *actShare,
		Rate: *rate, Count: *count, Duration: *duration, Names: names, Seed: *seed, Customers: *customers, EventRate: *eventRate,
	}, nil)
	fmt.Printf("sent %d events in %v (%.0f events/s), %d failed\n", res.Sent, res.Elapsed.Round(time.Millisecond),
		float64(res.Sent)/res.Elapsed.Seconds(), res.Failed)
	return err
}

func writeTraining(path, logPath, featuresPath, kind string, count int64, logRate float64, seed uint64, customers int, names schemas.FieldNames) error {
	t, err := schemas.ParseEventType(kind)
	if err != nil {
		return usageError{fmt.Errorf("--kind: %w", err)}
	}
	if count <= 0 {
		return usageError{errors.New("--training-file needs --count N")}
	}
	if logRate <= 0 {
		return fmt.Errorf("--log-rate %v: want events per second > 0", logRate)
	}
	var specs []scoring.FeatureSpec
	switch {
	case featuresPath != "":
		specs, err = scoring.ReadFeatureFile(featuresPath)
	case t == schemas.Activity:
		specs, err = models.TakeoverFeatures()
	default:
		specs, err = models.FraudFeatures()
	}
	if err != nil {
		return err
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sum, err := loadgen.WriteTraining(context.Background(), loadgen.TrainingOptions{Path: path, LogPath: logPath, Specs: specs, Kind: t,
		Rows: int(count), LogRate: logRate, Seed: seed, Customers: customers, Start: start, Names: names})
	if err != nil {
		return err
	}
	fmt.Printf("wrote %d labelled %s rows (%d positive) to %s, from a log of %d events of both kinds", sum.Rows, kind, sum.Positives, path, sum.Events)
	if logPath != "" {
		fmt.Printf(" (%s)", logPath)
	}
	fmt.Println()
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// runHTTP is `loadgen http`: an open-loop load on /v1/predict.
func runHTTP(args []string) error {
	fs := flag.NewFlagSet("loadgen http", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/v1/predict", "endpoint to POST single events to")
	rate := fs.Float64("rate", 2000, "requests per second (fixed arrival rate)")
	duration := fs.Duration("duration", 20*time.Second, "how long to send")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := parseFlags(fs, args, `usage: loadgen http [--url U] [--rate N] [--duration D] [--seed S]

An open-loop load on /v1/predict: single events at a fixed arrival rate, latency measured from each
request's scheduled time (no coordinated omission); prints p50/p90/p99/p99.9/max.
`); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.RunHTTP(ctx, loadgen.HTTPOptions{URL: *url, Rate: *rate, Duration: *duration, Seed: *seed, Names: schemas.DefaultFieldNames})
	if err != nil {
		return err
	}
	fmt.Printf("sent %d requests in %v (%.0f/s): %d ok, %d failed\n", res.Sent, res.Elapsed.Round(time.Millisecond),
		float64(res.Sent)/res.Elapsed.Seconds(), res.OK, res.Failed)
	fmt.Printf("latency from scheduled send: p50 %v  p90 %v  p99 %v  p99.9 %v  max %v\n",
		res.Quantile(0.5), res.Quantile(0.9), res.Quantile(0.99), res.Quantile(0.999), res.Quantile(1))
	return nil
}

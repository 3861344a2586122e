package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/streamscore/streamscore/internal/demo"
	"github.com/streamscore/streamscore/internal/logging"
	"github.com/streamscore/streamscore/schemas"
)

func demoCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	port := fs.Int("port", 9092, "port of the embedded broker on 127.0.0.1")
	rate := fs.Float64("rate", 2000, "synthetic events per second, transactions and activity events together (30% activity)")
	duration := fs.Duration("duration", 0, "stop after this long (default: until Ctrl-C)")
	encoding := fs.String("encoding", "json", "input and output encoding: json or avro")
	httpAddr := fs.String("http", "", "address of the HTTP API: metrics, health, /v1/predict (default: $HTTP_ADDR, else :8080)")
	if err := parseFlags(fs, args, command{synopsis: "streamscore demo [--duration D] [--rate N] [--encoding json|avro] [--port P] [--http ADDR]",
		about: `Everything run does, with no setup: an embedded Kafka broker on 127.0.0.1 (kcat can attach), synthetic
transactions and activity events, the bundled fraud and account-takeover models, and a live report of
throughput, latency and sample predictions until stopped (Ctrl-C) or --duration. Serves run's HTTP API
(metrics, health, /v1/predict) on --http or HTTP_ADDR.`, env: demoVariables}); err != nil {
		return err
	}
	enc, err := schemas.ParseEncoding(*encoding)
	if err != nil {
		return usageError{err}
	}
	log, err := logging.New(os.Stderr, "warn", "text")
	if err != nil {
		return err
	}
	_, err = demo.Run(ctx, demo.Options{Port: *port, Rate: *rate, Duration: *duration, Encoding: enc, Out: os.Stdout, Logger: log, HTTPAddr: *httpAddr})
	return err
}

func demoVariables(w io.Writer) {
	fmt.Fprintln(w, `environment: the demo reads run's variables (streamscore run --help lists them) except the brokers,
topics, encodings, group and models, which are its own; for example BATCH_INTERVAL, BATCH_MAX_SIZE,
SCORE_THRESHOLD, RISK_BANDS and HTTP_ADDR.`)
}

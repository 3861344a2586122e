package main

import (
	"context"
	"flag"
	"os"

	"github.com/streamscore/streamscore/internal/demo"
	"github.com/streamscore/streamscore/internal/logging"
	"github.com/streamscore/streamscore/schemas"
)

func demoCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	port := fs.Int("port", 9092, "port of the embedded broker on 127.0.0.1")
	rate := fs.Float64("rate", 2000, "synthetic transactions per second")
	duration := fs.Duration("duration", 0, "stop after this long (default: until Ctrl-C)")
	encoding := fs.String("encoding", "json", "input and output encoding: json or avro")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	enc, err := schemas.ParseEncoding(*encoding)
	if err != nil {
		return usageError{err}
	}
	log, err := logging.New(os.Stderr, "warn", "text")
	if err != nil {
		return err
	}
	_, err = demo.Run(ctx, demo.Options{Port: *port, Rate: *rate, Duration: *duration, Encoding: enc, Out: os.Stdout, Logger: log})
	return err
}

package main

import (
	"context"
	"flag"
	"os"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/logging"
	"github.com/streamscore/streamscore/internal/pipeline"
)

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := config.Load(nil)
	if err != nil {
		return usageError{err}
	}
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return usageError{err}
	}
	p, err := pipeline.New(ctx, cfg, pipeline.WithLogger(log))
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

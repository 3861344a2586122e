package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

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
	// SIGHUP reloads every model (files are also polled for changes).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	p, err := pipeline.New(ctx, cfg, pipeline.WithLogger(log), pipeline.WithReloadSignal(reload))
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/logging"
	"github.com/streamscore/streamscore/internal/metrics"
	"github.com/streamscore/streamscore/internal/pipeline"
)

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	if err := parseFlags(fs, args, command{synopsis: "streamscore run",
		about: `The service: consumes INPUT_TOPICS as a group member, scores every record with the model, and produces
a prediction to OUTPUT_TOPIC or a dead letter to DLQ_TOPIC; serves metrics, health and /v1/predict
on HTTP_ADDR. Configured by environment variables only (no flags). SIGTERM or SIGINT drains within
SHUTDOWN_TIMEOUT; SIGHUP reloads the models. Exit codes: 0 stopped cleanly, 1 runtime failure,
2 bad configuration.`, env: allVariables}); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: run takes no arguments (configure it with environment variables; streamscore run --help lists them)", fs.Arg(0))}
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
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR=%q: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	p, err := pipeline.New(ctx, cfg, pipeline.WithLogger(log), pipeline.WithReloadSignal(reload), pipeline.WithMetrics(metrics.New()))
	if err != nil {
		return err
	}
	h, err := p.Handler()
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "err", err)
		}
	}()
	log.Info("HTTP listening", "addr", ln.Addr().String())
	runErr := p.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return runErr
}

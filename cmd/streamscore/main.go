package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

const usage = `usage: streamscore <command> [flags]

commands:
  run            score the input topics until stopped (configured by environment variables; see README)
  score          score a file: --model M [--features F] | --models F, --input X.csv|X.jsonl --output Y.csv|Y.jsonl [--with-features]
  backfill       replay a time range: --from T --to T [--topics a,b] [--output-topic T | --output-file F] [--resume F]
  baseline       training distribution for drift: --model M [--features F] --input train.csv --output baseline.json
  model inspect  describe a model file: name, version, format, features, trees
  demo           start an embedded broker on 127.0.0.1:9092, produce synthetic events and score them
  version        print the version

streamscore <command> --help (or streamscore help <command>) describes a command, its flags and
the environment variables it reads.
`

func main() {
	os.Exit(mainErr(os.Args[1:]))
}

// exit codes
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func mainErr(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitUsage
	}
	if args[0] == "help" && len(args) > 1 { // streamscore help score = streamscore score --help
		args = append(args[1:], "--help")
	}
	ctx, stop := signalContext()
	defer stop()
	var err error
	switch args[0] {
	case "run":
		err = runCmd(ctx, args[1:])
	case "demo":
		err = demoCmd(ctx, args[1:])
	case "score":
		err = scoreCmd(ctx, args[1:])
	case "backfill":
		err = backfillCmd(ctx, args[1:])
	case "baseline":
		err = baselineCmd(ctx, args[1:])
	case "model":
		err = modelCmd(ctx, args[1:])
	case "version", "--version", "-version":
		err = versionCmd(args[1:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return exitOK
	default:
		fmt.Fprintf(os.Stderr, "streamscore: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	var ue usageError
	var ie interruptedError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp): // --help printed the usage
		return exitOK
	case errors.As(err, &ie):
		fmt.Fprintf(os.Stderr, "streamscore %s: %v\n", args[0], err)
		return 130
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "streamscore %s: %v\n", args[0], err)
		return exitUsage
	default:
		fmt.Fprintf(os.Stderr, "streamscore %s: %v\n", args[0], err)
		return exitFailure
	}
}

// usageError marks errors in flags or configuration (exit code 2).
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// signalContext is cancelled by the first SIGINT or SIGTERM; a second one
// exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ch
		cancel()
		<-ch
		fmt.Fprintln(os.Stderr, "streamscore: second signal, exiting at once")
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			return rev[:min(12, len(rev))] + dirty
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}

func versionCmd(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parseFlags(fs, args, command{synopsis: "streamscore version", about: "Prints the version (the VCS revision the binary was built from)."}); err != nil {
		return err
	}
	fmt.Println("streamscore", versionString())
	return nil
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/streamscore/streamscore/internal/config"
)

// command describes a subcommand for its --help: the synopsis line, what
// it does, and what it reads besides its flags.
type command struct {
	synopsis string          // "streamscore score --model M ..."
	about    string          // a paragraph
	env      func(io.Writer) // the environment it reads (nil: none)
}

// parseFlags parses args with fs. -h, -help or --help prints the usage
// (synopsis, about, every flag with its default, the environment) to
// stdout and returns flag.ErrHelp, which exits 0. A bad flag returns a
// usageError naming it (exit 2), with the usage on stderr.
func parseFlags(fs *flag.FlagSet, args []string, c command) error {
	fs.SetOutput(io.Discard) // the flag package's own messages: we print ours
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(os.Stdout, fs, c)
		return flag.ErrHelp
	case err != nil:
		printUsage(os.Stderr, fs, c)
		return usageError{err}
	}
	return nil
}

func printUsage(w io.Writer, fs *flag.FlagSet, c command) {
	fmt.Fprintf(w, "usage: %s\n", c.synopsis)
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.about))
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if c.env != nil {
		fmt.Fprintln(w)
		c.env(w)
	}
}

// allVariables prints every variable of run's configuration.
func allVariables(w io.Writer) {
	fmt.Fprintln(w, "environment variables (no prefix; durations in Go syntax such as 250ms; a bad value fails at start, exit 2):")
	config.PrintVariables(w)
}

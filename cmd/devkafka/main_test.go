package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The tests run the command itself: the test binary re-executes itself
// with STREAMSCORE_TEST_MAIN=1, which calls main.
func TestMain(m *testing.M) {
	if os.Getenv("STREAMSCORE_TEST_MAIN") == "1" {
		os.Args = append([]string{"devkafka"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func command(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "STREAMSCORE_TEST_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}} {
		code, out, errOut := command(t, args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "usage: devkafka") || !strings.Contains(out, "-topics string") ||
			!strings.Contains(out, `(default "transactions:6,activity:6,predictions:6,predictions-dlq:1")`) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	for _, args := range [][]string{{"--bogus"}, {"--topics", "x:y"}, {"stray"}} {
		if code, out, errOut := command(t, args...); code != 2 || out != "" || errOut == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

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
		os.Args = append([]string{"loadgen"}, os.Args[1:]...)
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
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"usage: loadgen", "-rate float", "-training-file string", "(default 1000)"}},
		{[]string{"-h"}, []string{"usage: loadgen"}},
		{[]string{"http", "--help"}, []string{"usage: loadgen http", "-url string", "(default 2000)"}},
	} {
		code, out, errOut := command(t, tt.args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", tt.args, code, errOut)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
	for _, args := range [][]string{{"--bogus"}, {"http", "--bogus"}, {"--encoding", "xml", "--count", "1"}, {"stray"}} {
		if code, out, errOut := command(t, args...); code != 2 || out != "" || errOut == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

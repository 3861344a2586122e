//go:build interop

package e2e

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds cmd/streamscore and cmd/devkafka once per test run.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "streamscore-e2e-")
		if buildErr != nil {
			return
		}
		for _, cmd := range []string{"streamscore", "devkafka"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, cmd), "../../cmd/"+cmd).CombinedOutput()
			if err != nil {
				buildErr = err
				binDir = string(out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v\n%s", buildErr, binDir)
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat is not on PATH: install it (apt-get install kcat) to run the interop tests")
	}
	return binDir
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// devkafka starts the broker binary and returns its address from the first
// stdout line. It is stopped with SIGTERM on cleanup and must exit 0.
func devkafka(t *testing.T, topics string) string {
	t.Helper()
	addr, _ := devkafkaProc(t, topics)
	return addr
}

// devkafkaProc is devkafka that also returns the broker's process (to
// stop and continue it).
func devkafkaProc(t *testing.T, topics string) (string, *os.Process) {
	t.Helper()
	bin := binaries(t)
	cmd := exec.Command(filepath.Join(bin, "devkafka"), "--port", strconv.Itoa(freePort(t)), "--topics", topics)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening: 127.0.0.1:") {
		cmd.Process.Kill()
		t.Fatalf("devkafka first line %q: %v", line, err)
	}
	go io.Copy(io.Discard, stdout)
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("devkafka exit: %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("devkafka did not exit on SIGTERM")
		}
	})
	return strings.TrimSpace(strings.TrimPrefix(line, "listening: ")), cmd.Process
}

// startRun starts `streamscore run` from bin with the environment env,
// its output in the file logPath.
func startRun(t *testing.T, bin string, env []string, logPath string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "streamscore"), "run")
	cmd.Env = env
	logs, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// streamscore starts `streamscore run` with env (and nothing else from
// this process's environment but PATH and HOME). stop sends SIGTERM and
// returns the exit error.
func streamscore(t *testing.T, env map[string]string) (stop func() error) {
	t.Helper()
	bin := binaries(t)
	vars := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "HTTP_ADDR=127.0.0.1:0"}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	logPath := filepath.Join(t.TempDir(), "streamscore.log")
	cmd := startRun(t, bin, vars, logPath)
	var once sync.Once
	var exitErr error
	stop = func() error {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case exitErr = <-done:
			case <-time.After(40 * time.Second):
				cmd.Process.Kill()
				exitErr = context.DeadlineExceeded
			}
			if exitErr != nil {
				b, _ := os.ReadFile(logPath)
				t.Logf("streamscore log:\n%s", b)
			}
		})
		return exitErr
	}
	t.Cleanup(func() { stop() })
	return stop
}

// kcatProduce writes key|value lines to a topic with kcat.
func kcatProduce(t *testing.T, broker, topic string, lines []string) {
	t.Helper()
	cmd := exec.Command("kcat", "-P", "-b", broker, "-t", topic, "-K", "|")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
}

// kcatConsume reads a topic from the beginning with kcat until it holds at
// least n messages or the timeout passes, and returns key and value of each.
func kcatConsume(t *testing.T, broker, topic string, n int, timeout time.Duration) (keys, values []string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.Command("kcat", "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q",
			"-f", "%k\t%s\n").Output()
		if err != nil {
			t.Fatalf("kcat consume: %v", err)
		}
		keys, values = keys[:0], values[:0]
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if k, v, ok := strings.Cut(line, "\t"); ok {
				keys, values = append(keys, k), append(values, v)
			}
		}
		if len(values) >= n || time.Now().After(deadline) {
			return keys, values
		}
		time.Sleep(300 * time.Millisecond)
	}
}

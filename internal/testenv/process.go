package testenv

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Process is a child process a test started: the test binary re-run as a
// helper (StartHelper) or a real command (StartCommand). Its output is kept
// for the test to read; it is killed by its PID and reaped at the end of the
// test if it is still running.
type Process struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  syncBuffer
	in   io.WriteCloser
	done chan struct{}
	err  error
}

// StartHelper re-runs the test binary as a child process that runs only the
// test function named test, with env (KEY=value) added to the environment.
// The helper test should skip when its environment variable is unset, and
// exit when its standard input closes (the parent is gone); see HelperDone.
func StartHelper(t testing.TB, test string, env ...string) *Process {
	t.Helper()
	args := []string{"-test.run=^" + test + "$", "-test.count=1", "-test.v"}
	return start(t, exec.Command(os.Args[0], args...), append(os.Environ(), env...))
}

// StartCommand starts name with args. env replaces the environment when not nil.
func StartCommand(t testing.TB, env []string, name string, args ...string) *Process {
	t.Helper()
	return start(t, exec.Command(name, args...), env)
}

func start(t testing.TB, cmd *exec.Cmd, env []string) *Process {
	t.Helper()
	p := &Process{t: t, cmd: cmd, done: make(chan struct{})}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("stdin of %s: %v", cmd.Path, err)
	}
	p.in = in
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", filepath.Base(cmd.Path), p.PID(), p.Output())
		}
	})
	return p
}

// PID is the process's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output is what the process wrote so far to stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// Kill sends SIGKILL to the process by its PID and reaps it. It returns the
// process's exit error (an *exec.ExitError for a killed process); killing a
// process that already exited only reaps it.
func (p *Process) Kill() error {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.in.Close()
	return p.err
}

// Done is closed when the process has exited and was reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the process's exit code once it is done: -1 when a signal
// killed it.
func (p *Process) ExitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// HelperDone returns a context a helper process runs under: canceled when its
// standard input closes, which happens when the parent test ends or dies, so
// a helper never outlives the test that started it.
func HelperDone(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ctx, cancel
}

// CleanEnv is the environment without any NATS_ variable and with HOME and
// XDG_CONFIG_HOME in dir, so a tool run by a test (the nats CLI) sees none of
// the user's settings or contexts.
func CleanEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NATS_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, ".config"))
}

// NATSCLI returns the path of the nats CLI (natscli, installed by `make
// natscli`), looked up in PATH and then in $(go env GOPATH)/bin. When it is
// missing the test is skipped, or fails when the CI environment variable is
// set, since CI must run every test.
func NATSCLI(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nats"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "nats")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the nats CLI is not installed (run `make natscli`); CI must run this test")
	}
	t.Skip("the nats CLI is not installed; `make natscli` installs it")
	return ""
}

// syncBuffer is a bytes.Buffer safe for a writing process and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

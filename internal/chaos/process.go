package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// proc is a child process the harness started. Its output goes to a file; it
// is signalled through its os.Process handle (a pidfd on Linux, so a signal
// never reaches a recycled PID) and reaped by a goroutine waiting on it.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	// killed is set (under the cluster's lock) before the harness ends the
	// process on purpose.
	killed bool
}

// errExited is returned when signalling a process that already exited.
var errExited = errors.New("chaos: process already exited")

func startProc(bin, name, logPath string, args ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = childEnv()
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("chaos: starting %s: %w", name, err)
	}
	p := &proc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// childEnv is the harness's environment without NATS_ variables, so a
// user's settings never point a child at another server.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) error {
	if p.exited() {
		return errExited
	}
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return errExited
	}
	return err
}

// kill sends SIGKILL and waits until the process is reaped.
func (p *proc) kill() {
	_ = p.signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the process to exit with SIGTERM and kills it if it has not
// within d.
func (p *proc) stop(d time.Duration) {
	_ = p.signal(syscall.SIGCONT) // a paused process cannot handle SIGTERM
	_ = p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		p.kill()
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// tail is the last n lines of the process's output.
func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.output(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitOutput waits until the process printed a line matching re and returns
// the match's submatches.
func (p *proc) waitOutput(ctx context.Context, re *regexp.Regexp, d time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			return m, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("chaos: %s (pid %d) exited before printing %q: %v\n%s", p.name, p.pid(), re, p.err, p.tail(20))
		case <-ctx.Done():
			return nil, fmt.Errorf("chaos: %s (pid %d) did not print %q within %s\n%s", p.name, p.pid(), re, d, p.tail(20))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// conflictLine is what a worker logs for each history conflict.
const conflictLine = "jetflow: history conflict"

// count counts the lines of the process's log that contain s.
func (p *proc) count(s string) int {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), s)
}

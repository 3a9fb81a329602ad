package workerapp_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/workerapp"
)

type greetInput struct {
	Name string `json:"name" msgpack:"name"`
}

var shout = steps.New("AppTestShout", func(_ context.Context, s string) (string, error) {
	return strings.ToUpper(s), nil
})

var greet = workflow.New("AppTestGreet", func(ctx workflow.Context, in greetInput) (string, error) {
	return workflow.ExecuteStep(ctx, shout, "hello, "+in.Name).Get(ctx)
})

// syncBuffer is the App's output, written by the worker's goroutines and
// read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the output matches re and returns the submatches.
func waitFor(t *testing.T, out *syncBuffer, re *regexp.Regexp, done <-chan error) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned %v before printing %q:\n%s", err, re, out)
		case <-deadline:
			t.Fatalf("no %q in the output:\n%s", re, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// A worker binary made of the App: its flags, a flag of its own checked
// before connecting and used in Setup, what Setup registers, the metrics,
// and the drain when its context ends.
func TestAppRunsWhatItRegisters(t *testing.T) {
	srv := testenv.Start(t, true)
	var out syncBuffer
	app := workerapp.New("greet-worker")
	app.SetOutput(&out)
	greeting := app.Flags().String("greeting", "", "a flag of the binary's own")
	app.Check(func() error {
		if *greeting == "" {
			return workerapp.Usagef("--greeting: empty")
		}
		return nil
	})
	var env workerapp.Env
	app.Setup(func(_ context.Context, e workerapp.Env) error {
		env = e
		app.RegisterSteps(shout) // registered once connected, as a step that needs a bucket would be
		return nil
	})
	app.Register(greet)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, []string{"--nats", srv.ClientURL(), "--name", "w-app", "--greeting", "hi",
			"--metrics-addr", "127.0.0.1:0", "--concurrency", "4"})
	}()
	waitFor(t, &out, regexp.MustCompile(`msg="worker running".*workflows=AppTestGreet steps=AppTestShout concurrency=4`), done)
	if env.Worker != "w-app" || env.Prefix != "jetflow" || env.Replicas != 1 || env.Conn == nil || env.Logger == nil {
		t.Errorf("Setup got %+v, want the worker w-app on prefix jetflow, 1 replica, a connection and a logger", env)
	}

	c, err := workflow.NewClient(ctx, srv.Conn())
	if err != nil {
		t.Fatal(err)
	}
	run, err := workflow.Start(ctx, c, greet, "app-1", greetInput{Name: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	got, err := run.Result(rctx)
	if err != nil || got != "HELLO, ADA" {
		t.Fatalf("Result: %q, %v; want %q", got, err, "HELLO, ADA")
	}

	url := waitFor(t, &out, regexp.MustCompile(`msg="serving metrics" url=(\S+)`), done)[1]
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `jetflow_step_attempts_total{outcome="ok",step="AppTestShout",worker="w-app"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %s:\n%s", want, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after its context ended: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	for _, want := range []string{`msg="draining: no new tasks`, `msg="worker stopped" worker=w-app drained_in=`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}

// Bad flags are refused before anything connects (the URL has no server),
// as errors matching ErrUsage; Main prints them and exits 2.
func TestAppRefusesBadFlags(t *testing.T) {
	const nowhere = "nats://127.0.0.1:1"
	for _, tc := range []struct {
		name     string
		args     []string
		register bool
		want     string
	}{
		{"unknown flag", []string{"--bogus"}, true, "flag provided but not defined: -bogus"},
		{"argument", []string{"extra"}, true, `unexpected argument "extra"`},
		{"concurrency", []string{"--concurrency", "0"}, true, "--concurrency 0: want 1 or more"},
		{"log format", []string{"--log-format", "xml"}, true, `--log-format "xml"`},
		{"replicas", []string{"--replicas", "7"}, true, "--replicas 7: want 1 to 5"},
		{"ack wait", []string{"--ack-wait", "1ms"}, true, "--ack-wait 1ms"},
		{"open metrics", []string{"--metrics-addr", "0.0.0.0:0"}, true, "refusing to serve metrics on 0.0.0.0:0"},
		{"token file", []string{"--token-file", "/nonexistent/token"}, true, "--token-file: open /nonexistent/token"},
		{"limits", []string{"--events-max-bytes", "lots"}, true, `--events-max-bytes "lots"`},
		{"own check", []string{"--greeting", ""}, true, "--greeting: empty"},
		{"nothing registered", nil, false, "nothing to run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := workerapp.New("greet-worker")
			var out syncBuffer
			app.SetOutput(&out)
			greeting := app.Flags().String("greeting", "hi", "a flag of the binary's own")
			app.Check(func() error {
				if *greeting == "" {
					return workerapp.Usagef("--greeting: empty")
				}
				return nil
			})
			if tc.register {
				app.Register(greet)
			}
			args := append([]string{"--nats", nowhere, "--connect-wait", "0"}, tc.args...)
			err := app.Run(context.Background(), args)
			if !errors.Is(err, workerapp.ErrUsage) || !strings.Contains(fmt.Sprint(err), tc.want) {
				t.Errorf("Run: %v; want a usage error saying %q", err, tc.want)
			}
		})
	}

	t.Run("Main", func(t *testing.T) {
		app := workerapp.New("greet-worker")
		var out syncBuffer
		app.SetOutput(&out)
		app.Register(greet)
		if code := app.Main([]string{"--nats", nowhere, "--concurrency", "0"}); code != 2 {
			t.Errorf("Main: exit %d, want 2", code)
		}
		if want := "greet-worker: --concurrency 0: want 1 or more\n"; out.String() != want {
			t.Errorf("Main printed %q, want %q", out.String(), want)
		}
	})

	t.Run("help", func(t *testing.T) {
		app := workerapp.New("greet-worker")
		var out syncBuffer
		app.SetOutput(&out)
		app.Register(greet)
		if err := app.Run(context.Background(), []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Run -h: %v, want flag.ErrHelp", err)
		}
		for _, want := range []string{"usage of greet-worker:", "-metrics-addr", "-drain-timeout", "-replicas", "-creds", "-log-format"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("-h lacks %q:\n%s", want, out.String())
			}
		}
	})
}

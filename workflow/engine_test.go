package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

var quiet = testLogger()

func testLogger() *slog.Logger {
	if os.Getenv("JETFLOW_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startWorker runs a worker with the given registrations until the test ends.
func startWorker(t *testing.T, nc *nats.Conn, wfs []workflow.Registrable, sts []steps.Handler, opts ...workflow.Option) (*workflow.Worker, context.CancelFunc) {
	t.Helper()
	opts = append([]workflow.Option{workflow.WithLogger(quiet)}, opts...)
	w, err := workflow.NewWorker(context.Background(), nc, opts...)
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	for _, d := range wfs {
		if err := w.RegisterWorkflow(d); err != nil {
			t.Fatalf("RegisterWorkflow: %v", err)
		}
	}
	for _, s := range sts {
		if err := w.RegisterStep(s); err != nil {
			t.Fatalf("RegisterStep: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return w, func() { cancel(); <-done }
}

func newClient(t *testing.T, nc *nats.Conn) *workflow.Client {
	t.Helper()
	c, err := workflow.NewClient(context.Background(), nc)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

var addOne = steps.New("AddOne", func(ctx context.Context, n int) (int, error) { return n + 1, nil })

var fiveSteps = workflow.New("FiveSteps", func(ctx workflow.Context, n int) (int, error) {
	for i := 0; i < 5; i++ {
		var err error
		if n, err = workflow.ExecuteStep(ctx, addOne, n).Get(ctx); err != nil {
			return 0, err
		}
	}
	return n, nil
})

func TestFiveStepWorkflowCompletes(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, fiveSteps, "five-1", 10)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	got, err := run.Result(ctx)
	if err != nil {
		t.Fatalf("Result: %v", err)
	}
	if got != 15 {
		t.Fatalf("got %d, want 15", got)
	}
	d, err := c.Describe(ctx, "five-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "completed" || d.Positions != 5 {
		t.Fatalf("describe: got status %s positions %d, want completed 5", d.Status, d.Positions)
	}
	// Start is idempotent on the ID and input (another input is refused:
	// TestStartIDReuse).
	if _, err := workflow.Start(ctx, c, fiveSteps, "five-1", 10); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if got, _ := run.Result(ctx); got != 15 {
		t.Fatalf("after second Start got %d, want 15", got)
	}
}

func TestParallelStepsOverlap(t *testing.T) {
	type span struct{ start, end time.Time }
	var mu sync.Mutex
	spans := map[int]span{}
	slow := steps.New("Slow", func(ctx context.Context, n int) (int, error) {
		s := time.Now()
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		spans[n] = span{s, time.Now()}
		mu.Unlock()
		return n, nil
	})
	par := workflow.New("Parallel", func(ctx workflow.Context, _ struct{}) (int, error) {
		a := workflow.ExecuteStep(ctx, slow, 1)
		b := workflow.ExecuteStep(ctx, slow, 2)
		x, err := a.Get(ctx)
		if err != nil {
			return 0, err
		}
		y, err := b.Get(ctx)
		return x + y, err
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{par}, []steps.Handler{slow})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, par, "par-1", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 3 {
		t.Fatalf("got %d, %v; want 3", got, err)
	}
	a, b := spans[1], spans[2]
	if !(a.start.Before(b.end) && b.start.Before(a.end)) {
		t.Fatalf("steps did not overlap: %v-%v and %v-%v", a.start, a.end, b.start, b.end)
	}
}

func TestRetryWithBackoffThenSuccess(t *testing.T) {
	var mu sync.Mutex
	var calls []time.Time
	var attempts []int
	flaky := steps.New("Flaky", func(ctx context.Context, _ struct{}) (string, error) {
		info, _ := steps.InfoFrom(ctx)
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, time.Now())
		attempts = append(attempts, info.Attempt)
		if len(calls) < 3 {
			return "", steps.NewError("Unavailable", "try again")
		}
		return info.IdempotencyKey, nil
	})
	policy := &steps.RetryPolicy{MaxAttempts: 5, InitialInterval: 300 * time.Millisecond, BackoffCoefficient: 2, MaxInterval: 5 * time.Second}
	wf := workflow.New("RetryWF", func(ctx workflow.Context, _ struct{}) (string, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{RetryPolicy: policy})
		return workflow.ExecuteStep(ctx, flaky, struct{}{}).Get(ctx)
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{flaky})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, wf, "retry-1", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := run.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if key != "retry-1/1" {
		t.Errorf("idempotency key: got %q, want %q", key, "retry-1/1")
	}
	if len(calls) != 3 {
		t.Fatalf("handler calls: got %d, want 3", len(calls))
	}
	for i, a := range attempts {
		if a != i+1 {
			t.Errorf("attempt %d reported as %d", i+1, a)
		}
	}
	// Backoff: at least the policy's interval between attempts (300ms, 600ms).
	for i, want := range []time.Duration{300 * time.Millisecond, 600 * time.Millisecond} {
		if gap := calls[i+1].Sub(calls[i]); gap < want {
			t.Errorf("gap before attempt %d: got %v, want at least %v", i+2, gap, want)
		}
	}
	hist, err := c.History(ctx, "retry-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 {
		t.Fatalf("positions: got %d, want 1", len(hist))
	}
}

func TestNonRetryableAndExhausted(t *testing.T) {
	var stockCalls, downCalls atomic.Int32
	stock := steps.New("Stock", func(ctx context.Context, _ struct{}) (string, error) {
		stockCalls.Add(1)
		return "", steps.NewError("InsufficientStock", "none left")
	})
	down := steps.New("Down", func(ctx context.Context, _ struct{}) (string, error) {
		downCalls.Add(1)
		return "", errors.New("connection refused")
	})
	type out struct {
		StockErr, DownErr             string
		StockAttempts, DownAttempts   int
		StockExhausted, DownExhausted bool
		StockTyped                    bool
	}
	wf := workflow.New("ErrorsWF", func(ctx workflow.Context, _ struct{}) (out, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{RetryPolicy: &steps.RetryPolicy{
			MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, NonRetryableErrorTypes: []string{"InsufficientStock"}}})
		var o out
		_, err := workflow.ExecuteStep(ctx, stock, struct{}{}).Get(ctx)
		var se *workflow.StepError
		if errors.As(err, &se) {
			o.StockErr, o.StockAttempts, o.StockExhausted = se.Err.Type, se.Attempts, errors.Is(err, steps.ErrAttemptsExhausted)
		}
		var typed *steps.Error
		o.StockTyped = errors.As(err, &typed) && typed.Type == "InsufficientStock"
		_, err = workflow.ExecuteStep(ctx, down, struct{}{}).Get(ctx)
		if errors.As(err, &se) {
			o.DownErr, o.DownAttempts, o.DownExhausted = se.Err.Type, se.Attempts, errors.Is(err, steps.ErrAttemptsExhausted)
		}
		return o, nil
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{stock, down})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, wf, "errors-1", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := run.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stockCalls.Load() != 1 || o.StockAttempts != 1 || o.StockErr != "InsufficientStock" || o.StockExhausted || !o.StockTyped {
		t.Errorf("non-retryable: calls %d, result %+v; want 1 call, 1 attempt, typed, not exhausted", stockCalls.Load(), o)
	}
	if downCalls.Load() != 3 || o.DownAttempts != 3 || !o.DownExhausted || o.DownErr != steps.TypeError {
		t.Errorf("exhausted: calls %d, result %+v; want 3 calls, 3 attempts, exhausted", downCalls.Load(), o)
	}
}

func TestStartToCloseCutsOffHandlerIgnoringContext(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stuck := steps.New("Stuck", func(ctx context.Context, _ struct{}) (string, error) {
		calls.Add(1)
		<-release // ignores ctx on purpose
		return "late", nil
	})
	wf := workflow.New("StuckWF", func(ctx workflow.Context, _ struct{}) (string, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: 200 * time.Millisecond,
			RetryPolicy: &steps.RetryPolicy{MaxAttempts: 2, InitialInterval: 10 * time.Millisecond}})
		_, err := workflow.ExecuteStep(ctx, stuck, struct{}{}).Get(ctx)
		if errors.Is(err, steps.ErrTimeout) {
			return "timed out", nil
		}
		return "", fmt.Errorf("unexpected: %w", err)
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{stuck})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, wf, "stuck-1", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := run.Result(ctx)
	if err != nil || got != "timed out" {
		t.Fatalf("got %q, %v; want timed out", got, err)
	}
	if calls.Load() != 2 {
		t.Fatalf("attempts: got %d, want 2", calls.Load())
	}
}

var sleeper = workflow.New("Sleeper", func(ctx workflow.Context, d time.Duration) (time.Duration, error) {
	before := workflow.Now(ctx)
	if err := workflow.Sleep(ctx, d); err != nil {
		return 0, err
	}
	return workflow.Now(ctx).Sub(before), nil
})

func TestSleepOutlivesWorkerRestart(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	w1, stop1 := startWorker(t, nc, []workflow.Registrable{sleeper}, nil)
	_ = w1
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, sleeper, "sleep-1", 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the timer is scheduled, then stop the only worker.
	for {
		d, err := run.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.CurrentStep == "Sleep" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop1()
	time.Sleep(2 * time.Second) // the timer fires while no worker runs
	startWorker(t, nc, []workflow.Registrable{sleeper}, nil)
	slept, err := run.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slept < 1500*time.Millisecond {
		t.Fatalf("slept %v, want at least 1.5s", slept)
	}
}

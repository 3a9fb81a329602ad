package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// waitPositions waits until run id has recorded at least n positions.
func waitPositions(t *testing.T, ctx context.Context, c *workflow.Client, id string, n int) {
	t.Helper()
	for {
		d, err := c.Describe(ctx, id)
		if err == nil && d.Positions >= n {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: never reached %d positions (last: %+v, %v)", id, n, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The code of a cached run runs once: a defer at the top of the workflow runs
// once per run, not once per workflow task.
func TestDeferRunsOncePerRun(t *testing.T) {
	var defers atomic.Int32
	wf := workflow.New("DeferOnce", func(ctx workflow.Context, n int) (int, error) {
		defer defers.Add(1)
		for i := 0; i < 3; i++ {
			var err error
			if n, err = workflow.ExecuteStep(ctx, addOne, n).Get(ctx); err != nil {
				return 0, err
			}
		}
		return n, nil
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{addOne})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, wf, "defer-1", 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := run.Result(ctx)
	if err != nil || got != 13 {
		t.Fatalf("result: got %d, %v; want 13", got, err)
	}
	if n := defers.Load(); n != 1 {
		t.Fatalf("defer ran %d times, want 1", n)
	}
}

// recover() in workflow code cannot swallow the engine's waiting: the run
// completes with the step's value, never the zero value, even when a worker
// with room for one run in memory keeps evicting and rebuilding runs.
func TestRecoverCannotSwallowWaiting(t *testing.T) {
	wf := workflow.New("Recovering", func(ctx workflow.Context, n int) (int, error) {
		for i := 0; i < 3; i++ {
			func() {
				defer func() { _ = recover() }()
				n, _ = workflow.ExecuteStep(ctx, addOne, n).Get(ctx)
			}()
		}
		return n, nil
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{addOne}, workflow.WithCacheSize(1))
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	var runs []*workflow.Run[int]
	for i := 0; i < 8; i++ {
		r, err := workflow.Start(ctx, c, wf, fmt.Sprintf("recover-%d", i), 100*i)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	for i, r := range runs {
		got, err := r.Result(ctx)
		if err != nil || got != 100*i+3 {
			t.Fatalf("%s: got %d, %v; want %d", r.ID(), got, err, 100*i+3)
		}
	}
}

var (
	raceStep = steps.New("RaceStep", func(ctx context.Context, d time.Duration) (string, error) {
		select {
		case <-time.After(d):
			return "done", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	raceFlow = workflow.New("RaceFlow", func(ctx workflow.Context, in raceIn) (string, error) {
		f := workflow.ExecuteStep(ctx, raceStep, in.Step)
		timer := workflow.NewTimer(ctx, in.Timer)
		winner := ""
		workflow.NewSelector(ctx).
			AddFuture(f, func() { winner = "step" }).
			AddFuture(timer, func() { winner = "timer" }).
			Select(ctx)
		// Wait for the loser too, so both results are in the history, then
		// sleep long enough for the test to replace the worker.
		if _, err := f.Get(ctx); err != nil {
			return "", err
		}
		if _, err := timer.Get(ctx); err != nil {
			return "", err
		}
		if err := workflow.Sleep(ctx, in.Pause); err != nil {
			return "", err
		}
		return winner, nil
	})
)

type raceIn struct {
	Step, Timer, Pause time.Duration
}

// A step raced against a timer: each outcome is chosen once, recorded, and
// chosen again by a worker that rebuilds the run from its history after the
// first worker is gone.
func TestSelectorStepAgainstTimerReplaysSameChoice(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   raceIn
		want string
	}{
		{"step wins", raceIn{Step: 0, Timer: 700 * time.Millisecond, Pause: time.Second}, "step"},
		{"timer wins", raceIn{Step: 700 * time.Millisecond, Timer: 50 * time.Millisecond, Pause: time.Second}, "timer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testenv.Start(t, false)
			nc := srv.Conn()
			_, stop := startWorker(t, srv.Conn(), []workflow.Registrable{raceFlow}, []steps.Handler{raceStep})
			c := newClient(t, nc)
			ctx := testenv.Context(t, 30*time.Second)
			id := "race-" + strings.ReplaceAll(tc.name, " ", "-")
			run, err := workflow.Start(ctx, c, raceFlow, id, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			// Positions 1 and 2 resolved, 3 (the pause) scheduled: the choice
			// is recorded. Stop the worker: its memory of the run is gone.
			waitPositions(t, ctx, c, id, 3)
			stop()
			startWorker(t, srv.Conn(), []workflow.Registrable{raceFlow}, []steps.Handler{raceStep})
			got, err := run.Result(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("winner after replay: got %q, want %q", got, tc.want)
			}
		})
	}
}

// A step refused while being scheduled (its input is over max_payload) is
// recorded with its refusal, so a worker rebuilding the run takes the same
// path instead of hanging.
func TestRefusedStepReplaysTheSame(t *testing.T) {
	echo := steps.New("EchoLen", func(ctx context.Context, s string) (int, error) { return len(s), nil })
	wf := workflow.New("RefusedStep", func(ctx workflow.Context, size int) (string, error) {
		_, err := workflow.ExecuteStep(ctx, echo, strings.Repeat("x", size)).Get(ctx)
		if !errors.Is(err, workflow.ErrPayloadTooLarge) {
			return "", fmt.Errorf("want a payload error, got %v", err)
		}
		n, err := workflow.ExecuteStep(ctx, echo, "small").Get(ctx)
		if err != nil {
			return "", err
		}
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return "", err
		}
		return fmt.Sprintf("refused, then %d", n), nil
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	_, stop := startWorker(t, srv.Conn(), []workflow.Registrable{wf}, []steps.Handler{echo})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, wf, "refused-1", int(nc.MaxPayload())+10)
	if err != nil {
		t.Fatal(err)
	}
	waitPositions(t, ctx, c, "refused-1", 3)
	stop()
	startWorker(t, srv.Conn(), []workflow.Registrable{wf}, []steps.Handler{echo})
	got, err := run.Result(ctx)
	if err != nil || got != "refused, then 5" {
		t.Fatalf("result: got %q, %v; want %q", got, err, "refused, then 5")
	}
	hist, err := c.History(ctx, "refused-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || hist[0].Error == nil || hist[0].Error.Type != workflow.TypePayloadTooLarge {
		t.Fatalf("history: got %+v; want the refused step first, with its error", hist)
	}
}

// A compensation that cannot even be scheduled (an invalid step name) ends
// the run compensation_failed, even when the workflow ignores the error.
func TestCompensationThatCannotRunFailsTheRun(t *testing.T) {
	bad := steps.New("not a valid name", func(ctx context.Context, s string) (struct{}, error) { return struct{}{}, nil })
	wf := workflow.New("BadCompensation", func(ctx workflow.Context, _ struct{}) (string, error) {
		saga := workflow.NewSaga(ctx)
		workflow.AddCompensation(saga, bad, "x")
		_ = saga.Compensate(ctx)
		return "ignored", nil
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{wf}, nil)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, wf, "badcomp-1", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = run.Result(ctx)
	var re *workflow.RunError
	var ce *workflow.CompensationError
	if !errors.As(err, &re) || re.Status != kv.StatusCompensationFailed || !errors.As(err, &ce) {
		t.Fatalf("got %v, want a compensation_failed run", err)
	}
	if ce.Failures[0].Type != workflow.TypeInvalidName {
		t.Fatalf("failure type: got %q, want %q", ce.Failures[0].Type, workflow.TypeInvalidName)
	}
}

type loopState struct {
	Done, Total, Batch int
}

var loopFlow = workflow.New("Loop", func(ctx workflow.Context, s loopState) (int, error) {
	for i := 0; i < s.Batch && s.Done < s.Total; i++ {
		var err error
		if s.Done, err = workflow.ExecuteStep(ctx, addOne, s.Done).Get(ctx); err != nil {
			return 0, err
		}
	}
	if s.Done < s.Total {
		return 0, workflow.ContinueAsNew(ctx, s)
	}
	return s.Done, nil
})

// ContinueAsNew: a long loop runs in batches, each a fresh execution under
// the same workflow ID; Result, Describe and History follow the chain.
// JETFLOW_LONG=1 runs the 200,000-step form.
func TestContinueAsNewRunsALongLoopInBatches(t *testing.T) {
	total, batch := 2_000, 250
	if os.Getenv("JETFLOW_LONG") != "" {
		total, batch = 200_000, 5_000
	}
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{loopFlow}, []steps.Handler{addOne})
	c := newClient(t, nc)
	ctx := testenv.Context(t, time.Duration(total/100+30)*time.Second)
	start := time.Now()
	run, err := workflow.Start(ctx, c, loopFlow, "loop-1", loopState{Total: total, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	got, err := run.Result(ctx)
	if err != nil || got != total {
		t.Fatalf("result: got %d, %v; want %d", got, err, total)
	}
	t.Logf("%d steps in %d executions: %s", total, total/batch, time.Since(start).Round(time.Millisecond))
	d, err := c.Describe(ctx, "loop-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := total / batch; d.Exec != want || d.Status != kv.StatusCompleted {
		t.Fatalf("describe: exec %d, status %s; want exec %d, completed", d.Exec, d.Status, want)
	}
	hist, err := c.History(ctx, "loop-1")
	if err != nil || len(hist) != batch {
		t.Fatalf("history of the last execution: %d positions (%v), want %d", len(hist), err, batch)
	}
	first, err := c.HistoryOf(ctx, "loop-1", 1)
	if err != nil || len(first) != batch {
		t.Fatalf("history of the first execution: %d positions (%v), want %d", len(first), err, batch)
	}
}

// A run that would pass the history limit fails with a typed error that
// names the limit and points at ContinueAsNew, before it writes more.
func TestHistoryLimitFailsTheRunWithATypedError(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	w, _ := startWorker(t, nc, []workflow.Registrable{loopFlow}, []steps.Handler{addOne})
	workflow.SetHistoryLimit(w, 40)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, loopFlow, "limit-1", loopState{Total: 100, Batch: 100})
	if err != nil {
		t.Fatal(err)
	}
	_, err = run.Result(ctx)
	var re *workflow.RunError
	if !errors.As(err, &re) || re.Status != kv.StatusFailed || !strings.Contains(err.Error(), "ContinueAsNew") || !strings.Contains(err.Error(), "40") {
		t.Fatalf("got %v; want a failed run naming the limit of 40 and ContinueAsNew", err)
	}
	var se *steps.Error
	if !errors.As(err, &se) || se.Type != "HistoryLimit" {
		t.Fatalf("cause: got %v, want type HistoryLimit", err)
	}
}

// Rebuilding a run reads its history with an ephemeral consumer; it is
// deleted once read, so a worker that rebuilds thousands of runs (after a
// restart) or a client reading many histories never hits the server's
// consumer limit (make chaos did, at about 550 reads, before the fix).
func TestHistoryReadsLeaveNoConsumers(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 60*time.Second)
	run, err := workflow.Start(ctx, c, fiveSteps, "reads-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Result(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1200; i++ {
		if h, err := c.History(ctx, "reads-1"); err != nil || len(h) != 5 {
			t.Fatalf("read %d: %d positions, %v", i, len(h), err)
		}
	}
	js := testenv.JetStream(t, nc)
	st, err := js.Stream(ctx, "KV_jetflow_steps")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Fatalf("consumers left on the steps bucket: got %d, want 0", info.State.Consumers)
	}
}

// A worker that crashed between a run's first history batch and the record's
// update to running leaves a pending record with a history. The next worker
// starts it as a fresh run, loses the write of batch 1, reads the history and
// goes on from it: the run completes and its first step runs once.
func TestPendingRecordWithHistoryIsReplayed(t *testing.T) {
	var calls atomic.Int32
	once := steps.New("CountedOnce", func(ctx context.Context, n int) (int, error) { calls.Add(1); return n + 1, nil })
	wf := workflow.New("PendingWithHistory", func(ctx workflow.Context, n int) (int, error) {
		return workflow.ExecuteStep(ctx, once, n).Get(ctx)
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	// The first worker serves the workflow, not the step: the run stops
	// after its first batch with the step's task in the stream.
	_, stop := startWorker(t, srv.Conn(), []workflow.Registrable{wf}, nil)
	run, err := workflow.Start(ctx, c, wf, "pending-1", 41)
	if err != nil {
		t.Fatal(err)
	}
	waitPositions(t, ctx, c, "pending-1", 1)
	stop()
	// The crash: the record never said running.
	runs, err := testenv.JetStream(t, nc).KeyValue(ctx, "jetflow_runs")
	if err != nil {
		t.Fatal(err)
	}
	rec, rev, err := kv.Get[kv.Run](ctx, runs, "pending-1")
	if err != nil {
		t.Fatal(err)
	}
	rec.Status = kv.StatusPending
	if _, err := kv.Update(ctx, runs, "pending-1", rec, rev); err != nil {
		t.Fatal(err)
	}
	startWorker(t, srv.Conn(), []workflow.Registrable{wf}, []steps.Handler{once})
	got, err := run.Result(ctx)
	if err != nil || got != 42 {
		t.Fatalf("result: got %d, %v; want 42", got, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("step ran %d times, want 1", n)
	}
}

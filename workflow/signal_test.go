package workflow_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var word = workflow.NewSignal[string]("word")

// collect receives n words and returns them joined, in the order received.
var collect = workflow.New("Collect", func(ctx workflow.Context, n int) (string, error) {
	var got []string
	for range n {
		w, err := word.Receive(ctx)
		if err != nil {
			return "", err
		}
		got = append(got, w)
	}
	return strings.Join(got, " "), nil
})

// Signals sent while no worker runs wait in the stream; the run receives
// them in the order they were sent, each once.
func TestSignalsWaitForAWorkerAndArriveInOrder(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, collect, "collect-1", 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"one", "two", "three", "four", "five"} {
		if err := workflow.Signal(ctx, c, "collect-1", word, w); err != nil {
			t.Fatal(err)
		}
	}
	startWorker(t, nc, []workflow.Registrable{collect}, nil)
	if got, err := run.Result(ctx); err != nil || got != "one two three four five" {
		t.Fatalf("got %q, %v", got, err)
	}
	// The history records them, once each, in order.
	sigs, err := c.ReceivedSignals(ctx, "collect-1")
	if err != nil || len(sigs) != 5 {
		t.Fatalf("received signals %+v, %v; want 5", sigs, err)
	}
	for i, s := range sigs {
		var w string
		if err := kv.UnmarshalPayload(s.Payload, &w); err != nil || s.Name != "word" || w != []string{"one", "two", "three", "four", "five"}[i] {
			t.Fatalf("signal %d: %s %q, %v", i, s.Name, w, err)
		}
	}
}

// A signal received by one worker is in the run's history: another worker
// that rebuilds the run receives it again there, not from the stream (where
// it is gone), and the next signal follows it.
func TestSignalsSurviveARebuild(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	signaled := make(chan *nats.Msg, 4)
	sub, err := nc.ChanSubscribe("jetflow.status.Collect.*.signaled", signaled)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_, stop := startWorker(t, nc, []workflow.Registrable{collect}, nil)
	run, err := workflow.Start(ctx, c, collect, "collect-2", 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := workflow.Signal(ctx, c, "collect-2", word, "first"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, signaled)
	stop()
	startWorker(t, nc, []workflow.Registrable{collect}, nil)
	if err := workflow.Signal(ctx, c, "collect-2", word, "second"); err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != "first second" {
		t.Fatalf("got %q, %v", got, err)
	}
}

var confirmed = workflow.NewSignal[bool]("confirmed")

// awaitConfirmation waits at most d for the confirmation signal.
var awaitConfirmation = workflow.New("AwaitConfirmation", func(ctx workflow.Context, d time.Duration) (string, error) {
	timer := workflow.NewTimer(ctx, d)
	out := ""
	workflow.NewSelector(ctx).
		AddSignal(confirmed, func() {
			ok, err := confirmed.Receive(ctx)
			if err == nil && ok {
				out = "confirmed"
			}
		}).
		AddFuture(timer, func() { out = "timed out" }).
		Select(ctx)
	return out, nil
})

// A selector waits for a signal or a timer, whichever comes first.
func TestSelectorTakesASignalOrATimer(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{awaitConfirmation}, nil)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	quick, err := workflow.Start(ctx, c, awaitConfirmation, "confirm-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := workflow.Signal(ctx, c, "confirm-1", confirmed, true); err != nil {
		t.Fatal(err)
	}
	if got, err := quick.Result(ctx); err != nil || got != "confirmed" {
		t.Fatalf("signaled run: got %q, %v", got, err)
	}
	slow, err := workflow.Start(ctx, c, awaitConfirmation, "confirm-2", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := slow.Result(ctx); err != nil || got != "timed out" {
		t.Fatalf("unsignaled run: got %q, %v", got, err)
	}
	// Too late: the run has ended.
	err = workflow.Signal(ctx, c, "confirm-2", confirmed, true)
	var closed *workflow.RunClosedError
	if !errors.Is(err, workflow.ErrRunClosed) || !errors.As(err, &closed) || closed.Status != "completed" {
		t.Fatalf("signal to a closed run: got %v, want a *RunClosedError", err)
	}
}

func TestSignalBadInput(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 10*time.Second)
	if err := workflow.Signal(ctx, c, "nobody", word, "x"); !errors.Is(err, workflow.ErrNotFound) {
		t.Fatalf("signal to an unknown run: got %v, want ErrNotFound", err)
	}
	if _, err := workflow.Start(ctx, c, collect, "collect-3", 1); err != nil {
		t.Fatal(err)
	}
	bad := workflow.NewSignal[string]("no.dots")
	if err := workflow.Signal(ctx, c, "collect-3", bad, "x"); !errors.Is(err, workflow.ErrInvalidName) {
		t.Fatalf("signal with an invalid name: got %v, want ErrInvalidName", err)
	}
	// A payload of the wrong type: Receive says so, the run goes on.
	wrong := workflow.NewSignal[int]("word")
	if err := workflow.Signal(ctx, c, "collect-3", wrong, 7); err != nil {
		t.Fatal(err)
	}
	startWorker(t, nc, []workflow.Registrable{collect}, nil)
	_, err := workflow.Attach(c, collect, "collect-3").Result(ctx)
	if err == nil || !strings.Contains(err.Error(), "does not decode") {
		t.Fatalf("got %v, want the payload error", err)
	}
}

// Cancel: the step in flight sees its context canceled, the saga runs its
// compensation, and the run ends canceled with the reason.
func TestCancelCompensatesAndEndsCanceled(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	var reserved, released atomic.Int32
	reserve := steps.New("CancelReserve", func(ctx context.Context, n int) (int, error) {
		reserved.Add(1)
		return n, nil
	})
	release := steps.New("CancelRelease", func(ctx context.Context, n int) (int, error) {
		released.Add(1)
		return n, nil
	})
	running := make(chan struct{}, 1)
	var sawCancel atomic.Bool
	charge := steps.New("CancelCharge", func(ctx context.Context, n int) (int, error) {
		running <- struct{}{}
		<-ctx.Done()
		sawCancel.Store(true)
		return 0, ctx.Err()
	})
	order := workflow.New("Cancelable", func(ctx workflow.Context, n int) (int, error) {
		saga := workflow.NewSaga(ctx)
		if _, err := workflow.ExecuteStep(ctx, reserve, n).Get(ctx); err != nil {
			return 0, err
		}
		workflow.AddCompensation(saga, release, n)
		if _, err := workflow.ExecuteStep(ctx, charge, n).Get(ctx); err != nil {
			_ = saga.Compensate(ctx)
			return 0, err
		}
		return n, nil
	})
	startWorker(t, nc, []workflow.Registrable{order}, []steps.Handler{reserve, release, charge})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, order, "cancel-1", 3)
	if err != nil {
		t.Fatal(err)
	}
	<-running
	if err := c.Cancel(ctx, "cancel-1", "customer changed their mind"); err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, "cancel-1", "again"); err != nil && !errors.Is(err, workflow.ErrRunClosed) {
		t.Fatalf("a second cancel: %v", err)
	}
	_, err = run.Result(ctx)
	if err == nil || !strings.Contains(err.Error(), "customer changed their mind") {
		t.Fatalf("got %v, want the cancellation", err)
	}
	d, err := c.Describe(ctx, "cancel-1")
	if err != nil || d.Status != "canceled" {
		t.Fatalf("run: %+v, %v; want canceled", d, err)
	}
	if !sawCancel.Load() {
		t.Error("the step in flight never saw its context canceled")
	}
	if reserved.Load() != 1 || released.Load() != 1 {
		t.Fatalf("reserved %d, released %d; want once each", reserved.Load(), released.Load())
	}
}

// Terminate ends a run whose step keeps failing: no code runs after it, and
// no more attempts.
func TestTerminateEndsARunAtOnce(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	var attempts atomic.Int32
	down := steps.New("ForeverDown", func(ctx context.Context, n int) (int, error) {
		attempts.Add(1)
		return 0, steps.NewError("Down", "service down")
	})
	wf := workflow.New("Terminable", func(ctx workflow.Context, n int) (int, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{RetryPolicy: &steps.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaxInterval: 100 * time.Millisecond}})
		return workflow.ExecuteStep(ctx, down, n).Get(ctx)
	})
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{down})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, wf, "stuck-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	for attempts.Load() < 3 {
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Terminate(ctx, "stuck-1", "service retired"); err != nil {
		t.Fatal(err)
	}
	_, err = run.Result(ctx)
	if err == nil || !strings.Contains(err.Error(), "service retired") {
		t.Fatalf("got %v, want the termination", err)
	}
	d, err := c.Describe(ctx, "stuck-1")
	if err != nil || d.Status != "terminated" {
		t.Fatalf("run: %+v, %v; want terminated", d, err)
	}
	n := attempts.Load()
	time.Sleep(500 * time.Millisecond)
	if more := attempts.Load() - n; more > 1 {
		t.Fatalf("%d more attempts after the run was terminated", more)
	}
}

// A second cancel, sent while the first one's compensation runs, does not
// stop it: canceling twice is canceling once.
func TestCancelTwiceLetsTheCompensationFinish(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	var released atomic.Int32
	compensating := make(chan struct{}, 1)
	finish := make(chan struct{})
	reserve := steps.New("TwiceReserve", func(ctx context.Context, n int) (int, error) { return n, nil })
	release := steps.New("TwiceRelease", func(ctx context.Context, n int) (int, error) {
		compensating <- struct{}{}
		select {
		case <-finish:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		released.Add(1)
		return n, nil
	})
	charge := steps.New("TwiceCharge", func(ctx context.Context, n int) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	order := workflow.New("CancelTwice", func(ctx workflow.Context, n int) (int, error) {
		saga := workflow.NewSaga(ctx)
		if _, err := workflow.ExecuteStep(ctx, reserve, n).Get(ctx); err != nil {
			return 0, err
		}
		workflow.AddCompensation(saga, release, n)
		if _, err := workflow.ExecuteStep(ctx, charge, n).Get(ctx); err != nil {
			if cerr := saga.Compensate(ctx); cerr != nil {
				return 0, cerr
			}
			return 0, err
		}
		return n, nil
	})
	startWorker(t, nc, []workflow.Registrable{order}, []steps.Handler{reserve, release, charge})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, order, "twice-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, err := c.Describe(ctx, "twice-1")
		if err != nil {
			t.Fatal(err)
		}
		if d.CurrentStep == "TwiceCharge" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Cancel(ctx, "twice-1", "first"); err != nil {
		t.Fatal(err)
	}
	<-compensating
	if err := c.Cancel(ctx, "twice-1", "second"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the second cancel reaches the run
	close(finish)
	_, err = run.Result(ctx)
	d, _ := c.Describe(ctx, "twice-1")
	if d.Status != workflow.StatusCanceled || released.Load() != 1 {
		t.Fatalf("run %s (%v), released %d; want canceled with the release done once", d.Status, err, released.Load())
	}
}

// A signal goes to the worker that holds its run: the worker that gets the
// signal's message asks the run's owner (named by the last history batch)
// to take it, rather than rebuild the run and race the owner.
func TestSignalsGoToTheWorkerHoldingTheRun(t *testing.T) {
	var rebuilt atomic.Int64
	_, c, ctx, _ := collectSetup(t, 30*time.Second, func(w *workflow.Worker) { w.Hooks.RunRebuilt = func(string) { rebuilt.Add(1) } })
	const n = 20
	run, err := workflow.Start(ctx, c, collect, "collect-owned", n)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, c, "collect-owned", workflow.StatusRunning) // its owner is on record
	var want []string
	for i := range n {
		w := fmt.Sprintf("w%02d", i)
		want = append(want, w)
		if err := workflow.Signal(ctx, c, "collect-owned", word, w); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := run.Result(ctx); err != nil || got != strings.Join(want, " ") {
		t.Fatalf("got %q, %v", got, err)
	}
	if r := rebuilt.Load(); r != 0 {
		t.Fatalf("the run was rebuilt %d times for %d signals between two workers; want it kept where it lives", r, n)
	}
}

// A wake-up that names no owner (or one that no longer holds the run) is
// handed to the worker that wrote the run's last batch, instead of the
// worker that got it rebuilding the run and racing the one holding it.
func TestWakeUpsWithoutOwnerGoToTheRunsHolder(t *testing.T) {
	var conflicts atomic.Int64
	base := runningExecutions()
	nc, c, ctx, workers := collectSetup(t, 30*time.Second, func(w *workflow.Worker) { w.Hooks.WorkflowTaskConflict = func(string) { conflicts.Add(1) } })
	const n = 30
	run, rec, js := startCollect(t, ctx, c, nc, "collect-ownerless", n)
	names := wire.NewNames("jetflow")
	var want []string
	for i := range n {
		w := fmt.Sprintf("w%02d", i)
		want = append(want, w)
		payload, err := kv.MarshalPayload(w)
		if err != nil {
			t.Fatal(err)
		}
		// What Signal publishes, less the owner its hint names.
		data, err := kv.Marshal(wire.SignalMsg{WorkflowID: rec.ID, Workflow: rec.Workflow, Name: "word", Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, names.SignalSubject(rec.Workflow, rec.ID, rec.Inc), data); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // one at a time, as a caller would
	}
	if got, err := run.Result(ctx); err != nil || got != strings.Join(want, " ") {
		t.Fatalf("got %q, %v", got, err)
	}
	if n := conflicts.Load(); n != 0 {
		t.Fatalf("%d history conflicts between the two workers; want the wake-ups handed to the run's holder", n)
	}
	// The copies rebuilt only to find the run's holder are let go: once
	// the workers stop (and drop the runs they hold), no workflow code is
	// left parked.
	for _, w := range workers {
		w.Close()
	}
	waitExecutionsBack(t, base, "after the workers stopped; want the copies that handed over let go")
}

// waitExecutionsBack fails the test unless the goroutines running workflow
// code are back to base within 5 s (a copy let go ends its goroutine on
// its own, a moment later).
func waitExecutionsBack(t *testing.T, base int, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		after := runningExecutions()
		if after <= base {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workflow executions parked, %d before: %s", after, base, what)
		}
	}
}

// startCollect starts a collect run of n words under id, waits until it
// runs, and returns it with its record (for the subjects a test publishes
// on by hand).
func startCollect(t *testing.T, ctx context.Context, c *workflow.Client, nc *nats.Conn, id string, n int) (*workflow.Run[string], kv.Run, jetstream.JetStream) {
	t.Helper()
	run, err := workflow.Start(ctx, c, collect, id, n)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, c, id, workflow.StatusRunning)
	js := testenv.JetStream(t, nc)
	runs, err := js.KeyValue(ctx, "jetflow_runs")
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := kv.Get[kv.Run](ctx, runs, id)
	if err != nil {
		t.Fatal(err)
	}
	return run, rec, js
}

// collectSetup starts a server, a client and two workers of collect (see
// collectWorkers), and returns them with a context for the test's d.
func collectSetup(t *testing.T, d time.Duration, hook func(*workflow.Worker)) (*nats.Conn, *workflow.Client, context.Context, []*workflow.Worker) {
	t.Helper()
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, d)
	return nc, c, ctx, collectWorkers(t, ctx, nc, hook)
}

// collectWorkers runs two workers of collect on nc, each set up by hook
// first, until the end of the test.
func collectWorkers(t *testing.T, ctx context.Context, nc *nats.Conn, hook func(*workflow.Worker)) []*workflow.Worker {
	t.Helper()
	var workers []*workflow.Worker
	for range 2 {
		w, err := workflow.NewWorker(ctx, nc, workflow.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		hook(w)
		if err := w.RegisterWorkflow(collect); err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(wctx) }()
		t.Cleanup(func() { stop(); <-done })
		workers = append(workers, w)
	}
	return workers
}

// runningExecutions counts the goroutines running workflow code.
func runningExecutions() int {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2) // one stack per goroutine
	return strings.Count(buf.String(), "workflow.(*execution).main")
}

// A worker whose copy of a run another worker took over (it had declined
// to move it, as a paused or busy owner does) checks that copy against the
// history when a wake-up names an owner that does not take it: it finds
// the copy behind and hands the wake-up to the run's new holder instead of
// racing it with a stale copy.
func TestStaleCopyChecksTheHistoryBeforeMoving(t *testing.T) {
	var conflicts atomic.Int64
	nc, c, ctx, workers := collectSetup(t, 60*time.Second, func(w *workflow.Worker) { w.Hooks.WorkflowTaskConflict = func(string) { conflicts.Add(1) } })
	const n = 60
	run, rec, js := startCollect(t, ctx, c, nc, "collect-stale", n)
	steps, err := js.Stream(ctx, "KV_jetflow_steps")
	if err != nil {
		t.Fatal(err)
	}
	last := func() kv.Batch {
		t.Helper()
		m, err := steps.GetLastMsgForSubject(ctx, "$KV.jetflow_steps."+kv.ExecKey(rec.ID, rec.Inc, 1)+".h.*")
		if err != nil {
			t.Fatal(err)
		}
		var b kv.Batch
		if err := kv.Unmarshal(m.Data, &b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	names := wire.NewNames("jetflow")
	sent := 0
	// send publishes the next word with a hint naming owner, as Signal
	// does, and waits until a history batch took it.
	send := func(owner string) kv.Batch {
		t.Helper()
		before := last().N
		payload, err := kv.MarshalPayload(fmt.Sprintf("w%02d", sent))
		if err != nil {
			t.Fatal(err)
		}
		data, err := kv.Marshal(wire.SignalMsg{WorkflowID: rec.ID, Workflow: rec.Workflow, Name: "word", Payload: payload, Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, names.SignalSubject(rec.Workflow, rec.ID, rec.Inc), data); err != nil {
			t.Fatal(err)
		}
		sent++
		for {
			if b := last(); b.N > before {
				return b
			}
			if ctx.Err() != nil {
				t.Fatal("the signal was not taken")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	byInstance := map[string]*workflow.Worker{}
	for _, w := range workers {
		byInstance[workflow.InstanceOf(w)] = w
	}
	// The holder declines its wake-ups until the other worker takes the
	// run over; the holder's copy is then behind the history.
	holder := byInstance[send("").Owner]
	if holder == nil {
		t.Fatal("the run's last batch names no worker of this test")
	}
	workflow.DeclineWakeups(holder, true)
	for b := send(workflow.InstanceOf(holder)); byInstance[b.Owner] == holder; b = send(b.Owner) {
		if sent > n/2 {
			t.Fatal("the other worker never took the run over")
		}
	}
	workflow.DeclineWakeups(holder, false)
	conflicts.Store(0)
	// Wake-ups naming a worker that is gone, as the hints of a killed
	// owner do, reach either worker.
	for sent < n {
		send("gone")
	}
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("w%02d", i)
	}
	if got, err := run.Result(ctx); err != nil || got != strings.Join(want, " ") {
		t.Fatalf("got %q, %v", got, err)
	}
	if k := conflicts.Load(); k != 0 {
		t.Fatalf("%d history conflicts; want the stale copy checked and the wake-ups handed to the run's holder", k)
	}
}

// signalHolder sends rec one word and returns the worker of workers whose
// task took it: the run's holder.
func signalHolder(t *testing.T, ctx context.Context, c *workflow.Client, js jetstream.JetStream, rec kv.Run, workers []*workflow.Worker) *workflow.Worker {
	t.Helper()
	if err := workflow.Signal(ctx, c, rec.ID, word, "w00"); err != nil {
		t.Fatal(err)
	}
	steps, err := js.Stream(ctx, "KV_jetflow_steps")
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := steps.GetLastMsgForSubject(ctx, "$KV.jetflow_steps."+kv.ExecKey(rec.ID, rec.Inc, 1)+".h.*")
		var b kv.Batch
		if err == nil && kv.Unmarshal(m.Data, &b) == nil && len(b.Signals) > 0 {
			for _, w := range workers {
				if workflow.InstanceOf(w) == b.Owner {
					return w
				}
			}
			t.Fatalf("the run's last batch names owner %q, no worker of this test", b.Owner)
		}
		if ctx.Err() != nil {
			t.Fatal("the signal was not taken")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// askHolder asks w, as another worker would, to move rec for a signal, and
// returns its answer ("ok", "miss", or the request's error).
func askHolder(t *testing.T, nc *nats.Conn, rec kv.Run, w *workflow.Worker) string {
	t.Helper()
	data, err := kv.Marshal(wire.WorkflowTask{WorkflowID: rec.ID, Workflow: rec.Workflow, Reason: wire.ReasonSignal})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := nc.Request(wire.NewNames("jetflow").OwnerSubject(workflow.InstanceOf(w)), data, 5*time.Second)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(reply.Data)
}

// A wake-up request that waited out its owner's freeze (a SIGSTOP longer
// than half the ack wait) gets "no": its asker gave up waiting and moved
// the run, and the owner moving it too would race it. The owner notices the
// freeze before it answers, and drops what it held.
func TestOwnerAnswersNoRightAfterAFreeze(t *testing.T) {
	nc, c, ctx, workers := collectSetup(t, 30*time.Second, func(*workflow.Worker) {})
	_, rec, js := startCollect(t, ctx, c, nc, "collect-freeze", 3)
	holder := signalHolder(t, ctx, c, js, rec, workers)
	if got := askHolder(t, nc, rec, holder); got != "ok" {
		t.Fatalf("the holder answered %q before any freeze, want ok", got)
	}
	workflow.Freeze(holder, time.Minute)
	if got := askHolder(t, nc, rec, holder); got != "miss" {
		t.Errorf("the holder answered %q right after a freeze, want miss", got)
	}
}

// A worker whose connection failed over was out of reach meanwhile: other
// workers asking it to move a run got no answer and may have moved the run
// themselves. It drops every run it holds once it notices, as after a
// freeze, and answers the next request for one with "miss" rather than
// moving it from a copy that may be behind.
func TestWorkerDropsItsRunsAfterItsConnectionFailsOver(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	wnc := srv.Conn() // the workers' own connection
	workers := collectWorkers(t, ctx, wnc, func(*workflow.Worker) {})
	_, rec, js := startCollect(t, ctx, c, nc, "collect-reconnect", 3)
	w := signalHolder(t, ctx, c, js, rec, workers)
	ask := func() string { return askHolder(t, nc, rec, w) }
	if got := ask(); got != "ok" {
		t.Fatalf("the holder answered %q before its connection failed over, want ok", got)
	}
	if err := wnc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	// The worker notices within its ticker's period; the wait is bounded
	// by the test's context.
	for got := ask(); got != "miss"; got = ask() {
		if ctx.Err() != nil {
			t.Fatalf("the holder still answers %q after its connection failed over, want miss", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two workers that get wake-ups for a run whose owner is gone rebuild it at
// once: one claims it and moves it, the other hands it its wake-up, and
// nobody's move is lost to the other's (0 conflicts).
func TestTwoWorkersRebuildingARunAtOnceMoveItOnce(t *testing.T) {
	ctx, c, nc, run, rec, holder := collectOfAGoneOwner(t, "collect-takeover", 4)
	for _, w := range []string{"w01", "w02"} {
		if err := workflow.Signal(ctx, c, rec.ID, word, w); err != nil {
			t.Fatal(err)
		}
	}

	// Both rebuild the run before either moves it.
	meet, arrived, release := barrier()
	var conflicts, handedOver atomic.Int64
	hooks := workflow.Hooks{
		RunRebuilt:           func(string) { meet() },
		WorkflowTaskConflict: func(string) { conflicts.Add(1) },
		WorkflowTask: func(_ string, _ time.Duration, err error) {
			if errors.Is(err, workflow.ErrHandedOver) {
				handedOver.Add(1)
			}
		},
	}
	rebuilders := []*workflow.Worker{idleWorker(t, ctx, nc, hooks, collect), idleWorker(t, ctx, nc, hooks, collect)}
	wakeTogether(t, ctx, arrived, release,
		func() error { return workflow.WakeForSignal(ctx, rebuilders[0], collect, rec.ID, holder) },
		func() error { return workflow.WakeForSignal(ctx, rebuilders[1], collect, rec.ID, holder) })
	// The last word, through whichever of the two holds the run now.
	if err := workflow.Signal(ctx, c, rec.ID, word, "w03"); err != nil {
		t.Fatal(err)
	}
	for _, w := range rebuilders {
		if err := workflow.WakeForSignal(ctx, w, collect, rec.ID, holder); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := run.Result(ctx); err != nil || got != "w00 w01 w02 w03" {
		t.Fatalf("got %q, %v; want the four words once each", got, err)
	}
	if n := conflicts.Load(); n != 0 {
		t.Errorf("%d history conflicts, want 0: one worker moves the run", n)
	}
	if n := handedOver.Load(); n < 1 {
		t.Errorf("%d tasks handed over, want the loser's at least", n)
	}
}

// relay continues as new once, then returns the first word it receives.
var relay = workflow.New("Relay", func(ctx workflow.Context, again bool) (string, error) {
	if again {
		return "", workflow.ContinueAsNew(ctx, false)
	}
	return word.Receive(ctx)
})

// A signal whose wake-up went to the execution before, as it continued as
// new, is read by the next execution's first task: the wake-up was taken,
// and nothing else would bring it.
func TestSignalSentAsTheRunContinuesReachesTheNextExecution(t *testing.T) {
	ctx, c, _, w, run := relayAtItsSecondExecution(t, "relay-1")
	if err := workflow.Signal(ctx, c, "relay-1", word, "hi"); err != nil {
		t.Fatal(err)
	}
	// The signal's wake-up is not delivered: as if the execution before
	// had taken it. The start of execution 2 reads the signal.
	if err := workflow.WakeForExecStart(ctx, w, relay, "relay-1", 2); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if got, err := run.Result(rctx); err != nil || got != "hi" {
		t.Fatalf("got %q, %v; want the word sent as the run continued", got, err)
	}
}

// relayAtItsSecondExecution starts relay as id on an idle worker, which
// moves it through its continue-as-new; execution 2 is not started yet.
func relayAtItsSecondExecution(t *testing.T, id string) (context.Context, *workflow.Client, *nats.Conn, *workflow.Worker, *workflow.Run[string]) {
	t.Helper()
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	w := idleWorker(t, ctx, nc, workflow.Hooks{}, relay)
	run, err := workflow.Start(ctx, c, relay, id, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := workflow.WakeForStart(ctx, w, relay, id, false); err != nil {
		t.Fatal(err)
	}
	if d, err := c.Describe(ctx, id); err != nil || d.Exec != 2 {
		t.Fatalf("describe: %+v, %v; want execution 2", d, err)
	}
	return ctx, c, nc, w, run
}

// A signal handed to the worker holding a run, by a worker whose copy was
// an execution behind, is read all the same: signals are the run's, not
// one execution's (the asker acknowledges its task once the owner says ok).
func TestSignalHandedOverFromAnExecutionBeforeIsRead(t *testing.T) {
	ctx, c, nc, w, run := relayAtItsSecondExecution(t, "relay-2")
	if err := workflow.WakeForExecStart(ctx, w, relay, "relay-2", 2); err != nil {
		t.Fatal(err) // w holds execution 2, waiting for a word
	}
	if err := workflow.Signal(ctx, c, "relay-2", word, "hi"); err != nil {
		t.Fatal(err)
	}
	data, err := kv.Marshal(wire.WorkflowTask{WorkflowID: "relay-2", Workflow: relay.Name(), Reason: wire.ReasonSignal, Exec: 1})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := nc.Request(wire.NewNames("jetflow").OwnerSubject(workflow.InstanceOf(w)), data, 5*time.Second)
	if err != nil || string(reply.Data) != "ok" {
		t.Fatalf("owner request: %v, %v; want ok", reply, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if got, err := run.Result(rctx); err != nil || got != "hi" {
		t.Fatalf("got %q, %v; want the signal the owner said it took", got, err)
	}
}

// The worker holding a run gets a signal's message a second time (its
// first delivery went to a worker that stood still) while that worker,
// thawed, takes the first delivery up and rebuilds the run: the holder
// claims the run too before it moves its copy, so one of them moves it.
func TestHolderOfARunClaimsItForARedeliveredTask(t *testing.T) {
	ctx, c, nc, run, rec, gone := collectOfAGoneOwner(t, "collect-redelivered", 3)
	var conflicts atomic.Int64
	meet, arrived, release := barrier()
	newWorker := func(hooks workflow.Hooks) *workflow.Worker {
		hooks.WorkflowTaskConflict = func(string) { conflicts.Add(1) }
		return idleWorker(t, ctx, nc, hooks, collect)
	}
	holder := newWorker(workflow.Hooks{})
	if err := workflow.Signal(ctx, c, rec.ID, word, "w01"); err != nil {
		t.Fatal(err)
	}
	if err := workflow.WakeForSignal(ctx, holder, collect, rec.ID, gone); err != nil {
		t.Fatal(err) // holder holds the run now, and wrote its last batch
	}
	var holderTasks atomic.Int64
	holder.Hooks.WorkflowTaskStarted = func(string) {
		if holderTasks.Add(1) == 1 {
			meet()
		}
	}
	thawed := newWorker(workflow.Hooks{RunRebuilt: func(string) { meet() }})
	workflow.JustThawed(thawed)
	if err := workflow.Signal(ctx, c, rec.ID, word, "w02"); err != nil {
		t.Fatal(err)
	}
	wakeTogether(t, ctx, arrived, release,
		func() error { return workflow.WakeForSignalAgain(ctx, holder, collect, rec.ID, gone) },
		// The thawed worker asked the holder before (it did not answer in time).
		func() error { return workflow.WakeForSignal(ctx, thawed, collect, rec.ID, holder) })
	if got, err := run.Result(ctx); err != nil || got != "w00 w01 w02" {
		t.Fatalf("got %q, %v; want the three words once each", got, err)
	}
	if n := conflicts.Load(); n != 0 {
		t.Errorf("%d history conflicts, want 0: one worker moves the run", n)
	}
}

// idleWorker makes a worker of def that does not Run: it moves runs only
// when the test wakes them (the Wake* helpers), and answers the owner
// requests of other workers for the runs it holds.
func idleWorker(t *testing.T, ctx context.Context, nc *nats.Conn, hooks workflow.Hooks, def workflow.Registrable) *workflow.Worker {
	t.Helper()
	w, err := workflow.NewWorker(ctx, nc, workflow.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	w.Hooks = hooks
	if err := w.RegisterWorkflow(def); err != nil {
		t.Fatal(err)
	}
	if err := workflow.ServeOwner(t, w); err != nil {
		t.Fatal(err)
	}
	return w
}

// wakeTogether runs the wakes at once, lets them go on (closing release)
// once each has reported on arrived that it holds the run, and waits for
// them.
func wakeTogether(t *testing.T, ctx context.Context, arrived <-chan struct{}, release chan struct{}, wakes ...func() error) {
	t.Helper()
	errs := make(chan error, len(wakes))
	for _, wake := range wakes {
		go func() { errs <- wake() }()
	}
	for range wakes {
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatal("the workers did not all take the run up")
		}
	}
	close(release)
	for range wakes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// collectOfAGoneOwner starts collect as id (n words), has a worker take the
// first word, and stops that worker: nobody answers for the run now.
func collectOfAGoneOwner(t *testing.T, id string, n int) (context.Context, *workflow.Client, *nats.Conn, *workflow.Run[string], kv.Run, *workflow.Worker) {
	t.Helper()
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	gone, stop := runHookedWorker(t, nc, workflow.Hooks{}, []workflow.Registrable{collect}, nil)
	run, rec, js := startCollect(t, ctx, c, nc, id, n)
	signalHolder(t, ctx, c, js, rec, []*workflow.Worker{gone})
	stop()
	return ctx, c, nc, run, rec, gone
}

// barrier makes a meeting point for the workers of a test: meet reports
// on arrived and waits until release is closed (at most 5 s).
func barrier() (meet func(), arrived chan struct{}, release chan struct{}) {
	arrived, release = make(chan struct{}, 10), make(chan struct{})
	meet = func() {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	}
	return meet, arrived, release
}

// A worker that thawed a moment ago, rebuilding a run whose last batch
// another worker wrote, does not take the run over when that worker is
// there but does not answer in time (busy with the same run, most likely,
// while this worker's task is the stale one): it asks again shortly. A
// worker that did not stand still takes the run over, as before.
func TestThawedWorkerAsksASlowOwnerAgainInsteadOfTakingTheRunOver(t *testing.T) {
	ctx, c, nc, run, rec, gone := collectOfAGoneOwner(t, "collect-slow-owner", 2)
	// The owner is there, but never answers in time.
	sub, err := nc.Subscribe(wire.NewNames("jetflow").OwnerSubject(workflow.InstanceOf(gone)), func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := workflow.Signal(ctx, c, rec.ID, word, "w01"); err != nil {
		t.Fatal(err)
	}
	thawed := idleWorker(t, ctx, nc, workflow.Hooks{}, collect)
	workflow.JustThawed(thawed)
	if err := workflow.WakeForSignal(ctx, thawed, collect, rec.ID, thawed); !workflow.IsOwnerUnsure(err) {
		t.Fatalf("thawed worker: %v; want the task to ask the owner again shortly", err)
	}
	other := idleWorker(t, ctx, nc, workflow.Hooks{}, collect)
	if err := workflow.WakeForSignal(ctx, other, collect, rec.ID, other); err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != "w00 w01" {
		t.Fatalf("got %q, %v; want the word taken by the worker that did not stand still", got, err)
	}
}

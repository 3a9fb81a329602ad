package workflow_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// Run affinity: with three workers sharing every workflow and step, a step
// finished on one worker wakes its run on the worker that holds it, so runs
// are not rebuilt from their history and no task loses its write.
func TestThreeWorkersKeepRunsWhereTheyLive(t *testing.T) {
	srv := testenv.Start(t, false)
	c := newClient(t, srv.Conn())
	ctx := testenv.Context(t, 60*time.Second)
	var conflicts, rebuilt, tasks atomic.Int64
	for i := 0; i < 3; i++ {
		startHookedWorker(t, srv.Conn(), workflow.Hooks{
			WorkflowTaskConflict: func(string) { conflicts.Add(1) },
			RunRebuilt:           func(string) { rebuilt.Add(1) },
			WorkflowTask:         func(string, time.Duration, error) { tasks.Add(1) },
		}, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne})
	}
	const n = 300
	var runs []*workflow.Run[int]
	for i := 0; i < n; i++ {
		r, err := workflow.Start(ctx, c, fiveSteps, fmt.Sprintf("aff-%d", i), i)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	for i, r := range runs {
		if got, err := r.Result(ctx); err != nil || got != i+5 {
			t.Fatalf("%s: got %d, %v; want %d", r.ID(), got, err, i+5)
		}
	}
	t.Logf("%d workflow tasks, %d conflicts, %d runs rebuilt", tasks.Load(), conflicts.Load(), rebuilt.Load())
	// A worker stalled past its freeze limit on a loaded machine (the
	// race detector and other test binaries on two cores) drops what it
	// holds and rebuilds some; without affinity nearly all 300 are rebuilt.
	if got := rebuilt.Load(); got > n/4 {
		t.Errorf("runs rebuilt from history: got %d, want at most %d", got, n/4)
	}
	if got := conflicts.Load(); got > n/4 {
		t.Errorf("history conflicts: got %d, want at most %d", got, n/4)
	}
}

// slowFirstEntries counts how often slowFirst's code starts; the first
// start stands still for slowFirstPause.
var slowFirstEntries atomic.Int64

const slowFirstPause = 2 * time.Second

var slowFirst = workflow.New("SlowFirst", func(ctx workflow.Context, n int) (int, error) {
	if slowFirstEntries.Add(1) == 1 {
		time.Sleep(slowFirstPause) //jetflow:nondeterministic-ok a task that takes longer than the ack wait, on its first try only
	}
	return workflow.ExecuteStep(ctx, addOne, n).Get(ctx)
})

// A workflow task that takes longer than the ack wait (its store slow, its
// run's tasks queued) stays with the worker doing it: the worker tells the
// server it is still at it, so the task is not delivered to another worker
// meanwhile, which would run the code a second time and race the first for
// the run's history.
func TestSlowTaskStaysWithItsWorker(t *testing.T) {
	srv := testenv.Start(t, false)
	c := newClient(t, srv.Conn())
	ctx := testenv.Context(t, 60*time.Second)
	var conflicts atomic.Int64
	hooks := workflow.Hooks{WorkflowTaskConflict: func(string) { conflicts.Add(1) }}
	for range 2 {
		startHookedWorker(t, srv.Conn(), hooks, []workflow.Registrable{slowFirst}, []steps.Handler{addOne},
			workflow.WithAckWait(300*time.Millisecond))
	}
	slowFirstEntries.Store(0)
	r, err := workflow.Start(ctx, c, slowFirst, "slow-first", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Result(ctx); err != nil || got != 2 {
		t.Fatalf("result: got %d, %v; want 2", got, err)
	}
	// Without the progress acks the start is delivered again every 300 ms
	// of the 2 s pause, and whichever worker takes it runs the code again.
	if got := slowFirstEntries.Load(); got != 1 {
		t.Errorf("the workflow's code started %d times, want 1", got)
	}
	if got := conflicts.Load(); got != 0 {
		t.Errorf("history conflicts: got %d, want 0", got)
	}
}

// frozenFirstEntries counts how often frozenFirst's code starts; the
// first start tells the test and stands still for a moment.
var (
	frozenFirstEntries atomic.Int64
	frozenFirstEntered = make(chan struct{}, 1)
)

var addTwo = steps.New("AddTwo", func(ctx context.Context, n int) (int, error) { return n + 2, nil })

// frozenFirst's first start decides differently from the others: what it
// decided must never reach the history, or the next start cannot replay it.
var frozenFirst = workflow.New("FrozenFirst", func(ctx workflow.Context, n int) (int, error) {
	if frozenFirstEntries.Add(1) == 1 { //jetflow:nondeterministic-ok the first start is cut by a freeze and must not count
		frozenFirstEntered <- struct{}{}
		time.Sleep(300 * time.Millisecond) //jetflow:nondeterministic-ok the worker "freezes" meanwhile
		return workflow.ExecuteStep(ctx, addOne, n).Get(ctx)
	}
	return workflow.ExecuteStep(ctx, addTwo, n).Get(ctx)
})

// A workflow task cut in two by a freeze of its worker starts over from the
// run's history, even when the worker's ticker noticed the freeze first:
// another worker may have moved the run meanwhile, and committing what the
// code decided before the freeze would race it. (Before, only whoever
// noticed the freeze first learned of it, and the ticker usually did.)
func TestTaskCutByAFreezeStartsOver(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	w, _ := runHookedWorker(t, nc, workflow.Hooks{}, []workflow.Registrable{frozenFirst}, []steps.Handler{addOne, addTwo},
		workflow.WithAckWait(500*time.Millisecond))
	frozenFirstEntries.Store(0)
	r, err := workflow.Start(ctx, c, frozenFirst, "frozen-first", 1)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-frozenFirstEntered:
	case <-ctx.Done():
		t.Fatal("the code did not start")
	}
	workflow.Freeze(w, time.Minute)
	// The decision of the start the freeze cut (AddOne) is dropped; the
	// start over decides AddTwo. Committed, AddOne would make every later
	// start fail to replay.
	if got, err := r.Result(ctx); err != nil || got != 3 {
		t.Fatalf("result: got %d, %v; want 3 (the task cut by the freeze starts over)", got, err)
	}
}

// gateEntries counts the starts of gate's code; the first waits a moment
// for a second, so two workers starting the run at once overlap.
var (
	gateEntries atomic.Int64
	gateSecond  = make(chan struct{})
)

var gate = workflow.New("Gate", func(ctx workflow.Context, n int) (int, error) {
	switch gateEntries.Add(1) { //jetflow:nondeterministic-ok counts the starts of the code across workers
	case 1:
		select { //jetflow:nondeterministic-ok waits for a second start, which a claim prevents
		case <-gateSecond:
		case <-time.After(time.Second): //jetflow:nondeterministic-ok bounded wait
		}
	case 2:
		close(gateSecond)
	}
	return n, nil
})

// A start hint handled twice at once (its first worker stood still past
// the ack wait, and the server gave it to another; the first takes it up
// when it thaws) starts the run on one worker: the worker that thawed a
// moment ago and the one the hint came to again both claim the run first,
// and the loser hands the start to the winner.
func TestStartHandledTwiceAtOnceRunsTheCodeOnce(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	var conflicts atomic.Int64
	hooks := workflow.Hooks{WorkflowTaskConflict: func(string) { conflicts.Add(1) }}
	workers := []*workflow.Worker{idleWorker(t, ctx, nc, hooks, gate), idleWorker(t, ctx, nc, hooks, gate)}
	gateEntries.Store(0)
	run, err := workflow.Start(ctx, c, gate, "gate-1", 7) // its hint waits: neither worker consumes
	if err != nil {
		t.Fatal(err)
	}
	workflow.JustThawed(workers[0])
	errs := make(chan error, 2)
	go func() { errs <- workflow.WakeForStart(ctx, workers[0], gate, "gate-1", false) }()
	go func() { errs <- workflow.WakeForStart(ctx, workers[1], gate, "gate-1", true) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got, err := run.Result(ctx); err != nil || got != 7 {
		t.Fatalf("got %d, %v; want 7", got, err)
	}
	if n := gateEntries.Load(); n != 1 {
		t.Errorf("the code started %d times, want once", n)
	}
	if n := conflicts.Load(); n != 0 {
		t.Errorf("%d history conflicts, want 0", n)
	}
}

package workflow_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

var (
	scaleDouble = steps.New("ScaleDouble", func(ctx context.Context, n int) (int, error) { return 2 * n, nil })
	scaleFlow   = workflow.New("ScaleFlow", func(ctx workflow.Context, n int) (int, error) {
		for i := 0; i < 2; i++ {
			var err error
			if n, err = workflow.ExecuteStep(ctx, scaleDouble, n).Get(ctx); err != nil {
				return 0, err
			}
		}
		return n, nil
	})
)

// workerTally counts what one worker did, through its hooks.
type workerTally struct {
	mu                   sync.Mutex
	wfTasks, stepAttempt int
	wfStarted            int
	closed               map[string]int
}

func (w *workerTally) hooks() workflow.Hooks {
	return workflow.Hooks{
		WorkflowTaskStarted: func(string) { w.mu.Lock(); w.wfStarted++; w.mu.Unlock() },
		WorkflowTask:        func(string, time.Duration, error) { w.mu.Lock(); w.wfTasks++; w.mu.Unlock() },
		StepAttempt:         func(string, time.Duration, error) { w.mu.Lock(); w.stepAttempt++; w.mu.Unlock() },
		RunClosed: func(_, status string, _ time.Duration) {
			w.mu.Lock()
			w.closed[status]++
			w.mu.Unlock()
		},
	}
}

// startHookedWorker runs a worker with hooks until stop is called or the
// test ends; hooks must be set before Run, so startWorker cannot take them.
func startHookedWorker(t *testing.T, nc *nats.Conn, hooks workflow.Hooks, wfs []workflow.Registrable, sts []steps.Handler, opts ...workflow.Option) (stop func()) {
	t.Helper()
	_, stop = runHookedWorker(t, nc, hooks, wfs, sts, opts...)
	return stop
}

// runHookedWorker is startHookedWorker that returns the worker too.
func runHookedWorker(t *testing.T, nc *nats.Conn, hooks workflow.Hooks, wfs []workflow.Registrable, sts []steps.Handler, opts ...workflow.Option) (_ *workflow.Worker, stop func()) {
	t.Helper()
	w, err := workflow.NewWorker(context.Background(), nc, append([]workflow.Option{workflow.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	w.Hooks = hooks
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
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return w, stop
}

func TestTwoWorkersShareTwoHundredRuns(t *testing.T) {
	const runs = 200
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 90*time.Second)

	names := []string{"scale-a", "scale-b"}
	tallies := map[string]*workerTally{}
	conns := map[string]*nats.Conn{}
	stops := map[string]func(){}
	for _, name := range names {
		tallies[name] = &workerTally{closed: map[string]int{}}
		conns[name] = srv.Conn()
		stops[name] = startHookedWorker(t, conns[name], tallies[name].hooks(), []workflow.Registrable{scaleFlow},
			[]steps.Handler{scaleDouble}, workflow.WithName(name))
	}
	// Both workers pull before the first run starts, so neither gets a head start.
	testenv.WaitPullers(t, ctx, js, "JETFLOW_TASKS", "wf_ScaleFlow", len(names))
	testenv.WaitPullers(t, ctx, js, "JETFLOW_TASKS", "step_ScaleDouble", len(names))

	handles := make([]*workflow.Run[int], runs)
	for i := range handles {
		var err error
		if handles[i], err = workflow.Start(ctx, c, scaleFlow, fmt.Sprintf("scale-%03d", i), i); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	for i, r := range handles {
		got, err := r.Result(ctx)
		if err != nil {
			t.Fatalf("%s: %v", r.ID(), err)
		}
		if want := 4 * i; got != want {
			t.Errorf("%s: got %d, want %d", r.ID(), got, want)
		}
	}
	for _, name := range names {
		stops[name]()
		testenv.SyncStream(t, ctx, conns[name], "jetflow.status.Sync.sync.sync")
	}

	// Both did work: steps and workflow tasks on each.
	b, err := kv.Open(ctx, js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	recordedBy := map[string]int{}
	for _, r := range handles {
		for seq := 1; seq <= 2; seq++ {
			res, _, err := kv.Get[kv.Result](ctx, b.Steps, resultKey(t, ctx, b, r.ID(), seq))
			if err != nil {
				t.Fatalf("result %s.%d: %v", r.ID(), seq, err)
			}
			recordedBy[res.Worker]++
		}
	}
	closedTotal := 0
	for _, name := range names {
		tl := tallies[name]
		tl.mu.Lock()
		t.Logf("%s: %d workflow tasks, %d step attempts, %d results recorded, runs closed %v",
			name, tl.wfTasks, tl.stepAttempt, recordedBy[name], tl.closed)
		if tl.wfStarted != tl.wfTasks {
			t.Errorf("%s: %d workflow tasks started, %d finished; want every start paired with its end", name, tl.wfStarted, tl.wfTasks)
		}
		if tl.wfTasks == 0 || tl.stepAttempt == 0 || recordedBy[name] == 0 {
			t.Errorf("%s did no share of the work: got %d workflow tasks, %d step attempts, %d results; want each > 0",
				name, tl.wfTasks, tl.stepAttempt, recordedBy[name])
		}
		closedTotal += tl.closed[kv.StatusCompleted]
		tl.mu.Unlock()
	}
	if got, want := recordedBy[names[0]]+recordedBy[names[1]], 2*runs; got != want {
		t.Errorf("results recorded by the two workers: got %d, want %d (%v)", got, want, recordedBy)
	}

	// None twice: no step result written twice, no run closed twice.
	keys := testenv.ResultKeys(testenv.CheckKVWrittenOnce(t, ctx, js, "jetflow_steps"))
	if got, want := len(keys), 2*runs; got != want {
		t.Errorf("step results: got %d keys, want %d", got, want)
	}
	if closedTotal != runs {
		t.Errorf("runs closed completed by the workers' hooks: got %d, want %d", closedTotal, runs)
	}
	completed := map[string]int{}
	for _, ev := range testenv.Events(t, ctx, js, "JETFLOW_EVENTS", "jetflow.status.ScaleFlow.*") {
		if ev.Event == wire.EventCompleted {
			completed[ev.WorkflowID]++
		}
	}
	total := 0
	for id, n := range completed {
		total += n
		if n != 1 {
			t.Errorf("%s: got %d completed events, want 1", id, n)
		}
	}
	if total != runs || len(completed) != runs {
		t.Errorf("completed events: got %d for %d runs, want %d for %d", total, len(completed), runs, runs)
	}
}

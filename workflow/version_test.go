package workflow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// Three steps that append their name to the input, so a run's output is
// the path it took.
func pathStep(name string) *steps.Definition[string, string] {
	return steps.New(name, func(ctx context.Context, in string) (string, error) { return in + name, nil })
}

var (
	stepA = pathStep("PathA")
	stepB = pathStep("PathB")
	stepC = pathStep("PathC")
)

// The shipment as first deployed: A then C.
func shipOld(ctx workflow.Context, in string) (string, error) {
	out, err := workflow.ExecuteStep(ctx, stepA, in).Get(ctx)
	if err != nil {
		return "", err
	}
	return workflow.ExecuteStep(ctx, stepC, out).Get(ctx)
}

// The same workflow with B inserted between A and C, behind a version.
func shipVersioned(ctx workflow.Context, in string) (string, error) {
	out, err := workflow.ExecuteStep(ctx, stepA, in).Get(ctx)
	if err != nil {
		return "", err
	}
	if workflow.GetVersion(ctx, "insert-b", workflow.DefaultVersion, 1) == 1 {
		if out, err = workflow.ExecuteStep(ctx, stepB, out).Get(ctx); err != nil {
			return "", err
		}
	}
	return workflow.ExecuteStep(ctx, stepC, out).Get(ctx)
}

// The same change made without a version.
func shipUnversioned(ctx workflow.Context, in string) (string, error) {
	out, err := workflow.ExecuteStep(ctx, stepA, in).Get(ctx)
	if err != nil {
		return "", err
	}
	if out, err = workflow.ExecuteStep(ctx, stepB, out).Get(ctx); err != nil {
		return "", err
	}
	return workflow.ExecuteStep(ctx, stepC, out).Get(ctx)
}

// deployed is what deployChange saw.
type deployed struct {
	oldOut, newOut string
	oldErr         error
	c              *workflow.Client
	ctx            context.Context
}

// deployChange starts a run under the old code and lets it get as far as
// scheduling C (no worker serves C yet), then replaces the worker with one
// running newCode, which rebuilds the run when C's result comes in. It
// returns the old run's outcome and a new run's.
func deployChange(t *testing.T, newCode func(workflow.Context, string) (string, error)) deployed {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	_, stop := startWorker(t, nc, []workflow.Registrable{workflow.New("Ship", shipOld)}, []steps.Handler{stepA})
	old, err := workflow.Start(ctx, c, workflow.New("Ship", shipOld), "ship-old", "")
	if err != nil {
		t.Fatal(err)
	}
	waitPositions(t, ctx, c, "ship-old", 2) // A done, C scheduled
	stop()
	def := workflow.New("Ship", newCode)
	startWorker(t, nc, []workflow.Registrable{def}, []steps.Handler{stepA, stepB, stepC})
	d := deployed{c: c, ctx: ctx}
	d.oldOut, d.oldErr = old.Result(ctx)
	fresh, err := workflow.Start(ctx, c, def, "ship-new", "")
	if err != nil {
		t.Fatal(err)
	}
	if d.newOut, err = fresh.Result(ctx); err != nil {
		t.Fatalf("new run: %v", err)
	}
	return d
}

// With GetVersion, a run in flight replays the path it took and a new run
// takes the new one; the version taken is in the new run's history.
func TestGetVersionKeepsRunsInFlightOnTheirPath(t *testing.T) {
	d := deployChange(t, shipVersioned)
	if d.oldErr != nil || d.oldOut != "PathAPathC" {
		t.Fatalf("old run: %q, %v; want PathAPathC", d.oldOut, d.oldErr)
	}
	if d.newOut != "PathAPathBPathC" {
		t.Fatalf("new run: %q; want PathAPathBPathC", d.newOut)
	}
	hist, err := d.c.History(d.ctx, "ship-new")
	if err != nil {
		t.Fatal(err)
	}
	var marker *workflow.HistoryEntry
	for i := range hist {
		if hist[i].Kind == "version" {
			marker = &hist[i]
		}
	}
	if marker == nil || marker.Name != "insert-b" || marker.Version == nil || *marker.Version != 1 {
		t.Fatalf("new run's history %+v; want a version entry insert-b = 1", hist)
	}
}

// The same change without a version breaks the run in flight: the test
// above would not pass by luck.
func TestChangeWithoutVersionBreaksRunsInFlight(t *testing.T) {
	d := deployChange(t, shipUnversioned)
	if !errors.Is(d.oldErr, workflow.ErrNonDeterminism) {
		t.Fatalf("old run: %v; want a non-determinism error", d.oldErr)
	}
	if d.newOut != "PathAPathBPathC" {
		t.Fatalf("new run: %q", d.newOut)
	}
}

// Raising minSupported past a version a run took fails that run with a
// typed error instead of sending it down a path it never took.
func TestUnsupportedVersionFailsTheRun(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	v1 := workflow.New("Ship", shipVersioned)
	_, stop := startWorker(t, nc, []workflow.Registrable{v1}, []steps.Handler{stepA, stepB})
	run, err := workflow.Start(ctx, c, v1, "ship-v1", "")
	if err != nil {
		t.Fatal(err)
	}
	waitPositions(t, ctx, c, "ship-v1", 4) // A, the version, B, C scheduled
	stop()
	// Version 1 dropped: only 2 is supported now.
	v2 := workflow.New("Ship", func(ctx workflow.Context, in string) (string, error) {
		out, err := workflow.ExecuteStep(ctx, stepA, in).Get(ctx)
		if err != nil {
			return "", err
		}
		workflow.GetVersion(ctx, "insert-b", 2, 2)
		return workflow.ExecuteStep(ctx, stepC, out).Get(ctx)
	})
	startWorker(t, nc, []workflow.Registrable{v2}, []steps.Handler{stepA, stepB, stepC})
	_, err = run.Result(ctx)
	rec, _ := c.Record(ctx, "ship-v1")
	if err == nil || rec.Error == nil || rec.Error.Type != workflow.TypeUnsupportedVersion || !strings.Contains(rec.Error.Message, `version 1 of change "insert-b"`) {
		t.Fatalf("got %v, %+v; want UnsupportedVersion naming version 1", err, rec.Error)
	}
}

// A run that took a version is never failed by a worker whose code is older
// (a rollback, or an old worker still up during a rolling deployment): its
// tasks fail there and are retried until a worker with the newer code takes
// the run, which then completes on the path it took.
func TestOlderCodeLeavesANewerRunAlone(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	v1 := workflow.New("Ship", shipVersioned)
	_, stop := startWorker(t, nc, []workflow.Registrable{v1}, []steps.Handler{stepA, stepB})
	run, err := workflow.Start(ctx, c, v1, "ship-rollback", "")
	if err != nil {
		t.Fatal(err)
	}
	waitPositions(t, ctx, c, "ship-rollback", 4) // A, the version, B, C scheduled
	stop()

	// The old code, with C: C runs and its result wakes the run there.
	refused := make(chan error, 16)
	old, err := workflow.NewWorker(ctx, nc, workflow.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	old.Hooks.WorkflowTask = func(_ string, _ time.Duration, err error) {
		if err != nil {
			select {
			case refused <- err:
			default:
			}
		}
	}
	if err := old.RegisterWorkflow(workflow.New("Ship", shipOld)); err != nil {
		t.Fatal(err)
	}
	if err := old.RegisterStep(stepC); err != nil {
		t.Fatal(err)
	}
	base := runningExecutions()
	octx, ostop := context.WithCancel(ctx)
	odone := make(chan struct{})
	go func() { defer close(odone); _ = old.Run(octx) }()
	for range 2 { // the first try, and one after it failed
		select {
		case err := <-refused:
			if !strings.Contains(err.Error(), "older than the run's") {
				t.Fatalf("the old worker's task failed with %v; want it to say its code is older", err)
			}
		case <-ctx.Done():
			t.Fatal("the old worker never tried the run")
		}
	}
	if d, err := c.Describe(ctx, "ship-rollback"); err != nil || d.Status != workflow.StatusRunning {
		t.Fatalf("after the old worker's try: %s, %v; want the run still running", d.Status, err)
	}
	ostop()
	<-odone
	// The copies its failed replays built are let go, not left parked.
	waitExecutionsBack(t, base, "after the old worker stopped")

	startWorker(t, nc, []workflow.Registrable{v1}, []steps.Handler{stepA, stepB, stepC})
	if out, err := run.Result(ctx); err != nil || out != "PathAPathBPathC" {
		t.Fatalf("got %q, %v; want the new path completed", out, err)
	}
}

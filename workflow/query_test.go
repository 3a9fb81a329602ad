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

type progress struct {
	Done  int    `json:"done"`
	Stage string `json:"stage"`
}

var go1 = workflow.NewSignal[bool]("go-on")

// counted adds one per step and waits for a signal between steps, so a
// query sees where it stands.
var counted = workflow.New("Counted", func(ctx workflow.Context, n int) (int, error) {
	p := progress{Stage: "starting"}
	if err := workflow.SetQueryHandler(ctx, "progress", func() (progress, error) { return p, nil }); err != nil {
		return 0, err
	}
	_ = workflow.SetQueryHandler(ctx, "broken", func() (int, error) { return 0, errors.New("no such thing") })
	for i := 0; i < n; i++ {
		if _, err := workflow.ExecuteStep(ctx, addOne, i).Get(ctx); err != nil {
			return 0, err
		}
		p.Done, p.Stage = i+1, "waiting"
		if _, err := go1.Receive(ctx); err != nil {
			return 0, err
		}
	}
	return p.Done, nil
})

// A query reads a running workflow's state from the worker that holds it,
// or from a rebuild when none does, and says clearly when it cannot.
func TestQueryReadsARunningWorkflow(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, counted, "counted-1", 3)
	if err != nil {
		t.Fatal(err)
	}
	// No worker: nobody answers, and the query says so.
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = workflow.Query[progress](qctx, c, "counted-1", "progress")
	cancel()
	var qe *workflow.QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Reason, "no worker") {
		t.Fatalf("a query with no worker: got %v, want a *QueryError saying no worker serves it", err)
	}
	_, stop := startWorker(t, nc, []workflow.Registrable{counted}, []steps.Handler{addOne})
	waitProgress := func(want progress) {
		t.Helper()
		for {
			got, err := workflow.Query[progress](ctx, c, "counted-1", "progress")
			if err == nil && got == want {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("progress: got %+v, %v; want %+v", got, err, want)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitProgress(progress{Done: 1, Stage: "waiting"})
	if _, err := workflow.Query[int](ctx, c, "counted-1", "nope"); !errors.As(err, &qe) || !strings.Contains(qe.Reason, "progress") {
		t.Fatalf("an unknown query: got %v, want a *QueryError naming the known ones", err)
	}
	if _, err := workflow.Query[int](ctx, c, "counted-1", "broken"); !errors.As(err, &qe) || !strings.Contains(qe.Reason, "no such thing") {
		t.Fatalf("a failing handler: got %v, want its error", err)
	}
	// Another worker, which does not hold the run, answers by rebuilding it.
	stop()
	startWorker(t, nc, []workflow.Registrable{counted}, []steps.Handler{addOne})
	waitProgress(progress{Done: 1, Stage: "waiting"})
	for i := 0; i < 3; i++ {
		if err := workflow.Signal(ctx, c, "counted-1", go1, true); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := run.Result(ctx); err != nil || got != 3 {
		t.Fatalf("got %d, %v; want 3", got, err)
	}
	if _, err := workflow.Query[progress](ctx, c, "counted-1", "progress"); !errors.Is(err, workflow.ErrRunClosed) {
		t.Fatalf("a query of an ended run: got %v, want ErrRunClosed", err)
	}
}

package workflow_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// childRuns counts the runs of the Double child's step, so tests can tell
// a child started once from one started twice.
var childRuns atomic.Int64

var doubleStep = steps.New("DoubleIt", func(ctx context.Context, n int) (int, error) {
	childRuns.Add(1)
	return 2 * n, nil
})

// double is a child workflow: it waits for a "go" signal when its input is
// negative (so tests can hold it open), then doubles the number in a step.
var goAhead = workflow.NewSignal[int]("go")

var double = workflow.New("Double", func(ctx workflow.Context, n int) (int, error) {
	if n < 0 {
		v, err := goAhead.Receive(ctx)
		if err != nil {
			return 0, err
		}
		n = v
	}
	if n == 13 {
		return 0, steps.NonRetryable("Unlucky", "13 is not doubled")
	}
	return workflow.ExecuteStep(ctx, doubleStep, n).Get(ctx)
})

type parentIn struct {
	N       int    `json:"n"`
	ChildID string `json:"child_id"`
	Policy  int    `json:"policy"`
	// Wait makes the parent wait for its child in a disconnected context
	// once canceled, and report the child's outcome.
	Wait bool `json:"wait"`
}

// parent runs Double as a child and adds one to its result.
var parent = workflow.New("Parent", func(ctx workflow.Context, in parentIn) (int, error) {
	ctx = workflow.WithChildOptions(ctx, workflow.ChildOptions{ID: in.ChildID, ParentClosePolicy: workflow.ParentClosePolicy(in.Policy)})
	f := workflow.ExecuteChild(ctx, double, in.N)
	n, err := f.Get(ctx)
	if errors.Is(err, workflow.ErrCanceled) && in.Wait {
		// Canceled: wait for the child to end in a context that is not.
		_, cerr := f.Get(workflow.NewDisconnectedContext(ctx))
		var ce *workflow.ChildError
		if !errors.As(cerr, &ce) || ce.Status != string(workflow.StatusCanceled) {
			return 0, steps.NonRetryable("Unexpected", "child ended with %v", cerr)
		}
		return 0, err
	}
	if err != nil {
		return 0, err
	}
	return n + 1, nil
})

func childSetup(t *testing.T) (*nats.Conn, *workflow.Client, context.Context) {
	t.Helper()
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	return nc, newClient(t, nc), testenv.Context(t, 30*time.Second)
}

var childWorkflows = []workflow.Registrable{parent, double}

// A parent runs a child and gets its typed result; the child is a run of
// its own, linked both ways, and its start and end are on the parent's
// status subjects.
func TestChildWorkflowRunsAndReturns(t *testing.T) {
	nc, c, ctx := childSetup(t)
	events := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe("jetflow.status.Parent.p-1.>", events)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	startWorker(t, nc, childWorkflows, []steps.Handler{doubleStep})
	run, err := workflow.Start(ctx, c, parent, "p-1", parentIn{N: 20})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 41 {
		t.Fatalf("got %d, %v; want 41", got, err)
	}
	// The child's outcome reaches the parent before the child's own record
	// says it ended (so a crash in between loses nothing): wait for it.
	child, err := c.Wait(ctx, "p-1-c1")
	if err != nil {
		t.Fatalf("the child's record under its default ID: %v", err)
	}
	if child.Status != workflow.StatusCompleted || child.Parent != "p-1" || child.Workflow != "Double" {
		t.Fatalf("child record %+v", child)
	}
	hist, err := c.History(ctx, "p-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Kind != "child" || hist[0].ChildID != "p-1-c1" || hist[0].ChildStatus != "completed" || !hist[0].Done {
		t.Fatalf("parent history %+v", hist)
	}
	seen := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for !seen["child_started"] || !seen["child_completed"] {
		select {
		case m := <-events:
			ev := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
			seen[ev] = true
			if strings.HasPrefix(ev, "child_") && !strings.Contains(string(m.Data), `"child_id":"p-1-c1"`) {
				t.Fatalf("%s event without the child's ID: %s", ev, m.Data)
			}
		case <-deadline:
			t.Fatalf("events seen %v; want child_started and child_completed", seen)
		}
	}
}

// A child that fails reaches the parent as a *ChildError carrying the
// child's error type; the parent fails with it.
func TestChildFailureIsTyped(t *testing.T) {
	nc, c, ctx := childSetup(t)
	startWorker(t, nc, childWorkflows, []steps.Handler{doubleStep})
	run, err := workflow.Start(ctx, c, parent, "p-fail", parentIn{N: 13})
	if err != nil {
		t.Fatal(err)
	}
	_, err = run.Result(ctx)
	var re *workflow.RunError
	if !errors.As(err, &re) || re.Status != "failed" {
		t.Fatalf("got %v; want the parent failed", err)
	}
	rec, _ := c.Record(ctx, "p-fail")
	if rec.Error == nil || rec.Error.Type != workflow.TypeChildFailed || !strings.Contains(rec.Error.Message, "Unlucky") {
		t.Fatalf("parent's error %+v; want ChildFailed naming the child's Unlucky", rec.Error)
	}
}

// A parent rebuilt by another worker while its child runs does not start
// the child again: the child's step runs once.
func TestReplayingParentNeverStartsChildTwice(t *testing.T) {
	nc, c, ctx := childSetup(t)
	_, stop := startWorker(t, nc, childWorkflows, []steps.Handler{doubleStep})
	before := childRuns.Load()
	run, err := workflow.Start(ctx, c, parent, "p-replay", parentIn{N: -1, ChildID: "held-child"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, c, "held-child", workflow.StatusRunning)
	stop()
	// A new worker holds neither run: it rebuilds both from their
	// histories when the signal moves the child.
	startWorker(t, nc, childWorkflows, []steps.Handler{doubleStep})
	if err := workflow.Signal(ctx, c, "held-child", goAhead, 5); err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 11 {
		t.Fatalf("got %d, %v; want 11", got, err)
	}
	if n := childRuns.Load() - before; n != 1 {
		t.Fatalf("the child's step ran %d times; want 1", n)
	}
	if _, err := c.Doctor(ctx, time.Millisecond, false); err != nil {
		t.Fatal(err)
	}
}

func waitStatus(t *testing.T, ctx context.Context, c *workflow.Client, id string, want workflow.Status) {
	t.Helper()
	for {
		d, err := c.Describe(ctx, id)
		if err == nil && d.Status == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: status %s (%v); want %s", id, d.Status, err, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// What happens to a child still running when its parent is canceled is the
// parent close policy's: cancel asks it to cancel at once (the parent can
// wait for it), terminate ends it when the parent ends, abandon lets it
// finish.
func TestParentCanceledFollowsThePolicy(t *testing.T) {
	nc, c, ctx := childSetup(t)
	startWorker(t, nc, childWorkflows, []steps.Handler{doubleStep})
	cases := []struct {
		policy workflow.ParentClosePolicy
		wait   bool
		want   workflow.Status
	}{
		{workflow.ParentCloseCancel, true, workflow.StatusCanceled},
		{workflow.ParentCloseTerminate, false, workflow.StatusTerminated},
		{workflow.ParentCloseAbandon, false, workflow.StatusCompleted},
	}
	for _, tc := range cases {
		t.Run(tc.policy.String(), func(t *testing.T) {
			pid, cid := "p-cancel-"+tc.policy.String(), "c-cancel-"+tc.policy.String()
			run, err := workflow.Start(ctx, c, parent, pid, parentIn{N: -1, ChildID: cid, Policy: int(tc.policy), Wait: tc.wait})
			if err != nil {
				t.Fatal(err)
			}
			waitStatus(t, ctx, c, cid, workflow.StatusRunning)
			if err := c.Cancel(ctx, pid, "customer changed their mind"); err != nil {
				t.Fatal(err)
			}
			if _, err := run.Result(ctx); !errors.Is(err, workflow.ErrCanceled) {
				t.Fatalf("parent: %v; want canceled", err)
			}
			if tc.policy == workflow.ParentCloseAbandon {
				if err := workflow.Signal(ctx, c, cid, goAhead, 4); err != nil {
					t.Fatalf("the abandoned child no longer takes signals: %v", err)
				}
			}
			rec, err := c.Wait(ctx, cid)
			if err != nil || rec.Status != tc.want {
				t.Fatalf("child %s: %v; want %s", rec.Status, err, tc.want)
			}
		})
	}
}

// A parent terminated takes its children with it (default policy).
func TestParentTerminatedTerminatesChild(t *testing.T) {
	nc, c, ctx := childSetup(t)
	startWorker(t, nc, childWorkflows, []steps.Handler{doubleStep})
	if _, err := workflow.Start(ctx, c, parent, "p-term", parentIn{N: -1, ChildID: "c-term"}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, c, "c-term", workflow.StatusRunning)
	if err := c.Terminate(ctx, "p-term", "stuck"); err != nil {
		t.Fatal(err)
	}
	rec, err := c.Wait(ctx, "c-term")
	if err != nil || rec.Status != workflow.StatusTerminated || !strings.Contains(rec.Error.Message, "parent p-term ended terminated") {
		t.Fatalf("child %+v, %v; want terminated by its parent", rec, err)
	}
}

// A child ID that has another run, or that is not valid, resolves the
// child's future with a typed error; the parent goes on.
func TestChildThatCannotStartIsTyped(t *testing.T) {
	nc, c, ctx := childSetup(t)
	startWorker(t, nc, childWorkflows, []steps.Handler{doubleStep})
	if _, err := workflow.Start(ctx, c, double, "taken", 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ id, childID, typ string }{
		{"p-taken", "taken", workflow.TypeAlreadyStarted},
		{"p-badid", "no spaces", workflow.TypeInvalidID},
	} {
		run, err := workflow.Start(ctx, c, parent, tc.id, parentIn{N: 1, ChildID: tc.childID})
		if err != nil {
			t.Fatal(err)
		}
		_, err = run.Result(ctx)
		rec, _ := c.Record(ctx, tc.id)
		if err == nil || rec.Error == nil || rec.Error.Type != workflow.TypeChildFailed || !strings.Contains(rec.Error.Message, tc.typ) {
			t.Fatalf("%s: %v, error %+v; want ChildFailed naming %s", tc.id, err, rec.Error, tc.typ)
		}
	}
	if rec, _ := c.Record(ctx, "taken"); rec.Parent != "" {
		t.Fatalf("the run that had the ID was taken over: parent %q", rec.Parent)
	}
}

// A child whose start was lost (its record gone before it ran) is found by
// the sweeper's checks and started again by the repair.
func TestDoctorStartsALostChild(t *testing.T) {
	nc, c, ctx := childSetup(t)
	// Only the parent's workflow is served: the child stays pending.
	startWorker(t, nc, []workflow.Registrable{parent}, nil)
	run, err := workflow.Start(ctx, c, parent, "p-lost", parentIn{N: 3, ChildID: "c-lost"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, c, "c-lost", workflow.StatusPending)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kvRuns, err := js.KeyValue(ctx, "jetflow_runs")
	if err != nil {
		t.Fatal(err)
	}
	if err := kvRuns.Purge(ctx, "c-lost"); err != nil {
		t.Fatal(err)
	}
	found, err := c.Doctor(ctx, time.Millisecond, true)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(found, "p-lost", workflow.ProblemChildLost) {
		t.Fatalf("findings %+v; want child_lost for p-lost", found)
	}
	waitStatus(t, ctx, c, "c-lost", workflow.StatusPending)
	startWorker(t, nc, []workflow.Registrable{double}, []steps.Handler{doubleStep})
	if got, err := run.Result(ctx); err != nil || got != 7 {
		t.Fatalf("got %d, %v; want 7", got, err)
	}
}

func hasProblem(found []workflow.Finding, id, problem string) bool {
	for _, f := range found {
		if f.WorkflowID == id && f.Problem == problem {
			return true
		}
	}
	return false
}

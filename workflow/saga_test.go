package workflow_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

func TestSagaCompensatesInReverseAndReportsAFailingCompensation(t *testing.T) {
	var mu sync.Mutex
	var ran []string
	record := func(name string) {
		mu.Lock()
		ran = append(ran, name)
		mu.Unlock()
	}
	doA := steps.New("DoA", func(ctx context.Context, _ struct{}) (string, error) { return "a-1", nil })
	doB := steps.New("DoB", func(ctx context.Context, _ struct{}) (string, error) { return "b-1", nil })
	doC := steps.New("DoC", func(ctx context.Context, _ struct{}) (string, error) {
		return "", steps.NonRetryable("Rejected", "C says no")
	})
	undoA := steps.New("UndoA", func(ctx context.Context, id string) (struct{}, error) { record("UndoA " + id); return struct{}{}, nil })
	undoB := steps.New("UndoB", func(ctx context.Context, id string) (struct{}, error) {
		record("UndoB " + id)
		return struct{}{}, steps.NewError("Unreachable", "B's service is down")
	})
	type out struct{ Status string }
	wf := workflow.New("SagaWF", func(ctx workflow.Context, _ struct{}) (out, error) {
		saga := workflow.NewSaga(ctx).WithOptions(steps.Options{RetryPolicy: &steps.RetryPolicy{MaxAttempts: 3, InitialInterval: 20 * time.Millisecond}})
		a, _ := workflow.ExecuteStep(ctx, doA, struct{}{}).Get(ctx)
		workflow.AddCompensation(saga, undoA, a)
		b, _ := workflow.ExecuteStep(ctx, doB, struct{}{}).Get(ctx)
		workflow.AddCompensation(saga, undoB, b)
		if _, err := workflow.ExecuteStep(ctx, doC, struct{}{}).Get(ctx); err != nil {
			// The seed ignores the compensation's error; jetflow still
			// ends the run compensation_failed.
			_ = saga.Compensate(ctx)
			return out{Status: "c_failed"}, nil
		}
		return out{Status: "completed"}, nil
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{doA, doB, doC, undoA, undoB})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	events := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe("jetflow.status.SagaWF.saga-1.*", events)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	run, err := workflow.Start(ctx, c, wf, "saga-1", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := run.Result(ctx)
	var re *workflow.RunError
	var ce *workflow.CompensationError
	if !errors.As(err, &re) || re.Status != kv.StatusCompensationFailed || !errors.As(err, &ce) {
		t.Fatalf("got %v, want a compensation_failed *RunError wrapping *CompensationError", err)
	}
	if o.Status != "c_failed" {
		t.Errorf("the workflow's own output is kept: got %q, want c_failed", o.Status)
	}
	if len(ce.Failures) != 1 || ce.Step != "UndoB" || ce.Failures[0].Type != "Unreachable" || ce.Failures[0].Attempts != 3 {
		t.Fatalf("failures: got %+v, want UndoB, Unreachable, 3 attempts", ce.Failures)
	}
	// Reverse order, UndoA still ran after UndoB failed for good.
	want := []string{"UndoB b-1", "UndoB b-1", "UndoB b-1", "UndoA a-1"}
	mu.Lock()
	if len(ran) != len(want) {
		t.Fatalf("compensations ran %v, want %v", ran, want)
	}
	for i := range want {
		if ran[i] != want[i] {
			t.Fatalf("compensations ran %v, want %v", ran, want)
		}
	}
	mu.Unlock()
	d, err := c.Describe(ctx, "saga-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != kv.StatusCompensationFailed || d.Error == nil || d.Error.Step != "UndoB" {
		t.Fatalf("describe: got %+v, want compensation_failed naming UndoB", d)
	}
	hist, err := c.History(ctx, "saga-1")
	if err != nil {
		t.Fatal(err)
	}
	var comps []string
	for _, cmd := range hist {
		if cmd.Compensation {
			comps = append(comps, cmd.Name)
		}
	}
	if len(comps) != 2 || comps[0] != "UndoB" || comps[1] != "UndoA" {
		t.Fatalf("history marks compensations %v, want [UndoB UndoA]", comps)
	}
	seen := map[string]bool{}
	for !seen["compensating"] || !seen["compensation_failed"] {
		select {
		case m := <-events:
			seen[m.Subject[len("jetflow.status.SagaWF.saga-1."):]] = true
		case <-ctx.Done():
			t.Fatalf("compensating and compensation_failed events expected; saw %v", seen)
		}
	}
}

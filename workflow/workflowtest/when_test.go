package workflowtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/workflowtest"
)

// Stuck ships a parcel with the default retry policy, which has no limit.
var Stuck = workflow.New("Stuck", func(ctx workflow.Context, _ struct{}) (string, error) {
	return workflow.ExecuteStep(ctx, Ship, "parcel").Get(ctx)
})

// failedCalls counts the ended, failed attempts of step.
func failedCalls(env *workflowtest.Env, step string) int {
	n := 0
	for _, c := range env.CallsOf(step) {
		if !c.Ended.IsZero() && c.Err != nil {
			n++
		}
	}
	return n
}

func TestWhenTerminatesAfterTheThirdFailure(t *testing.T) {
	env := workflowtest.NewEnv(t, workflowtest.WithStartTime(epoch))
	workflowtest.OnStep(env, Ship, func(ctx context.Context, in string) (string, error) {
		return "", steps.NewError("CarrierDown", "no carrier")
	})
	var at time.Time
	env.When(func() bool { return failedCalls(env, Ship.Name()) == 3 }, func() {
		at = env.Now()
		if err := env.Terminate("stuck"); err != nil {
			t.Error(err)
		}
	})
	_, err := workflowtest.ExecuteWorkflow(env, Stuck, struct{}{})
	var re *workflow.RunError
	if !errors.As(err, &re) || re.Status != "terminated" {
		t.Fatalf("got %v, want terminated", err)
	}
	calls := env.CallsOf(Ship.Name())
	if len(calls) != 3 || !at.Equal(calls[2].Ended) {
		t.Fatalf("%d attempts, terminated at %s; want 3, terminated as the third ended (%v)", len(calls), at, calls)
	}
	env.Advance(24 * time.Hour)
	if n := len(env.CallsOf(Ship.Name())); n != 3 {
		t.Errorf("%d attempts a day later, want still 3", n)
	}
}

func TestWhenCancelsOnceTheHistoryShowsATimer(t *testing.T) {
	env := raceEnv(t)
	workflowtest.OnStep(env, Ship, func(ctx context.Context, in string) (string, error) { return "S-1", nil }).Takes(10 * time.Minute)
	wf := workflow.New("ShipThenWait", func(ctx workflow.Context, _ struct{}) (string, error) {
		if _, err := workflow.ExecuteStep(ctx, Ship, "x").Get(ctx); err != nil {
			return "", err
		}
		return "slept", workflow.Sleep(ctx, time.Hour)
	})
	hasTimer := func() bool {
		for _, h := range env.History(env.WorkflowID()) {
			if h.Kind == "timer" {
				return true
			}
		}
		return false
	}
	never := false
	env.When(hasTimer, func() { _ = env.Cancel("now") })
	env.When(func() bool { return false }, func() { never = true })
	_, err := workflowtest.ExecuteWorkflow(env, wf, struct{}{})
	if !errors.Is(err, workflow.ErrCanceled) {
		t.Fatalf("got %v, want canceled", err)
	}
	if got := env.Now().Sub(epoch); got != 10*time.Minute {
		t.Errorf("canceled after %s, want 10m: as the timer was recorded", got)
	}
	env.Advance(time.Hour)
	if never {
		t.Error("a condition that never held called its callback")
	}
}

func TestRecordAndResultOfAChild(t *testing.T) {
	env := workflowtest.NewEnv(t, workflowtest.WithStartTime(epoch))
	env.RegisterWorkflow(Child)
	workflowtest.OnStep(env, Ship, func(ctx context.Context, in string) (string, error) { return "S-" + in, nil })
	if _, err := workflowtest.ExecuteWorkflow(env, Parent, []string{"a"}, workflowtest.WithID("p")); err != nil {
		t.Fatal(err)
	}
	rec, err := env.Record("p-c1")
	if err != nil || rec.Workflow != Child.Name() || rec.Status != workflow.StatusCompleted || rec.Parent != "p" || !rec.ClosedAt.Equal(epoch.Add(time.Hour)) {
		t.Errorf("the child's record %+v, %v; want Child completed at 1h under p", rec, err)
	}
	if out, err := workflowtest.Result[string](env, "p-c1"); err != nil || out != "S-a" {
		t.Errorf("the child's result %q, %v; want S-a", out, err)
	}
	if _, err := env.Record("nope"); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("record of an unknown run: got %v, want ErrNotFound", err)
	}
	if _, err := workflowtest.Result[string](env, "nope"); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("result of an unknown run: got %v, want ErrNotFound", err)
	}
}

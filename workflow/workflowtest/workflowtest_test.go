package workflowtest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/workflowtest"
)

var (
	Charge  = steps.Ref[int, string]("Charge")
	Refund  = steps.Ref[string, struct{}]("Refund")
	Reserve = steps.Ref[string, string]("Reserve")
	Release = steps.Ref[string, struct{}]("Release")
	Ship    = steps.Ref[string, string]("Ship")

	Confirmed = workflow.NewSignal[string]("confirmed")
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// event is what the race workflow saw, at which virtual time.
type event struct {
	What string
	At   time.Duration
}

// Race waits for a step that takes 5 minutes, a signal and a 10-minute
// timer, and says in which order they came.
var Race = workflow.New("Race", func(ctx workflow.Context, _ struct{}) ([]event, error) {
	start := workflow.Now(ctx)
	ship := workflow.ExecuteStep(ctx, Ship, "parcel")
	timer := workflow.NewTimer(ctx, 10*time.Minute)
	var seen []event
	saw := func(what string) { seen = append(seen, event{what, workflow.Now(ctx).Sub(start)}) }
	sel := workflow.NewSelector(ctx).
		AddFuture(ship, func() { saw("step") }).
		AddFuture(timer, func() { saw("timer") }).
		AddSignal(Confirmed, func() {
			v, _ := Confirmed.Receive(ctx)
			saw("signal " + v)
		})
	for len(seen) < 3 {
		sel.Select(ctx)
	}
	return seen, nil
})

// raceEnv lets steps run for up to an hour an attempt.
func raceEnv(t *testing.T) *workflowtest.Env {
	return workflowtest.NewEnv(t, workflowtest.WithStartTime(epoch), workflowtest.WithStepOptions(steps.Options{StartToCloseTimeout: time.Hour}))
}

func TestVirtualTimeOrdersStepsSignalsAndTimers(t *testing.T) {
	env := raceEnv(t)
	workflowtest.OnStep(env, Ship, func(ctx context.Context, in string) (string, error) { return "S-1", nil }).Takes(5 * time.Minute)
	workflowtest.SignalAt(env, 7*time.Minute, Confirmed, "yes")
	got, err := workflowtest.ExecuteWorkflow(env, Race, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	want := []event{{"step", 5 * time.Minute}, {"signal yes", 7 * time.Minute}, {"timer", 10 * time.Minute}}
	if !slices.Equal(got, want) {
		t.Errorf("saw %v, want %v", got, want)
	}
	if got, want := env.Now(), epoch.Add(10*time.Minute); !got.Equal(want) {
		t.Errorf("the clock reads %s, want %s", got, want)
	}
}

func TestSignalBeforeTheStepWins(t *testing.T) {
	env := raceEnv(t)
	workflowtest.OnStep(env, Ship, func(ctx context.Context, in string) (string, error) { return "S-1", nil }).Takes(5 * time.Minute)
	workflowtest.SignalAt(env, time.Minute, Confirmed, "early")
	got, err := workflowtest.ExecuteWorkflow(env, Race, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != (event{"signal early", time.Minute}) {
		t.Errorf("saw %v first, want the signal at 1m", got[0])
	}
}

// Pay charges with a retry policy of minutes, then ships.
var Pay = workflow.New("Pay", func(ctx workflow.Context, amount int) (string, error) {
	ctx = workflow.WithStepOptions(ctx, steps.Options{RetryPolicy: &steps.RetryPolicy{
		MaxAttempts: 4, InitialInterval: time.Minute, BackoffCoefficient: 2, NonRetryableErrorTypes: []string{"Declined"}}})
	return workflow.ExecuteStep(ctx, Charge, amount).Get(ctx)
})

func TestRetryBackoffInVirtualTime(t *testing.T) {
	env := workflowtest.NewEnv(t, workflowtest.WithStartTime(epoch))
	workflowtest.OnStep(env, Charge, func(ctx context.Context, amount int) (string, error) {
		if info, _ := steps.InfoFrom(ctx); info.Attempt < 3 {
			return "", steps.NewError("Unavailable", "attempt %d", info.Attempt)
		}
		return fmt.Sprintf("TX-%d", amount), nil
	})
	wall := time.Now()
	out, err := workflowtest.ExecuteWorkflow(env, Pay, 42)
	if err != nil || out != "TX-42" {
		t.Fatalf("got %q, %v; want TX-42", out, err)
	}
	var at []time.Duration
	for _, c := range env.CallsOf(Charge.Name()) {
		at = append(at, c.At.Sub(epoch))
	}
	// Backoff 1m after the first failure, 2m after the second.
	if want := []time.Duration{0, time.Minute, 3 * time.Minute}; !slices.Equal(at, want) {
		t.Errorf("attempts at %v, want %v", at, want)
	}
	if d := time.Since(wall); d > 10*time.Second {
		t.Errorf("3 minutes of backoff took %s of wall time", d)
	}
}

func TestNonRetryableTypeEndsTheStepAtOnce(t *testing.T) {
	env := workflowtest.NewEnv(t)
	workflowtest.OnStep(env, Charge, func(ctx context.Context, amount int) (string, error) {
		return "", steps.NewError("Declined", "no funds")
	})
	_, err := workflowtest.ExecuteWorkflow(env, Pay, 42)
	var re *workflow.RunError
	if !errors.As(err, &re) || re.Status != "failed" {
		t.Fatalf("got %v, want a failed run", err)
	}
	var se *steps.Error
	if !errors.As(err, &se) || se.Type != "Declined" {
		t.Errorf("got %v, want the step's Declined error", err)
	}
	if n := len(env.CallsOf(Charge.Name())); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestStartToCloseTimeoutInVirtualTime(t *testing.T) {
	env := workflowtest.NewEnv(t, workflowtest.WithStartTime(epoch),
		workflowtest.WithStepOptions(steps.Options{StartToCloseTimeout: time.Minute, RetryPolicy: &steps.RetryPolicy{MaxAttempts: 2}}))
	workflowtest.OnStep(env, Ship, func(ctx context.Context, in string) (string, error) { return "late", nil }).Takes(time.Hour)
	wf := workflow.New("ShipOnce", func(ctx workflow.Context, in string) (string, error) {
		return workflow.ExecuteStep(ctx, Ship, in).Get(ctx)
	})
	_, err := workflowtest.ExecuteWorkflow(env, wf, "x")
	if !errors.Is(err, steps.ErrTimeout) {
		t.Fatalf("got %v, want a timeout", err)
	}
	calls := env.CallsOf(Ship.Name())
	if len(calls) != 2 || calls[1].Ended.Sub(epoch) != 2*time.Minute+time.Second {
		t.Errorf("calls %+v, want 2 attempts of 1m each, 1s apart", calls)
	}
}

// Greet runs a real step; a fake can replace it.
var (
	greeted int
	Hello   = steps.New("Hello", func(ctx context.Context, name string) (string, error) {
		greeted++
		return "hello " + name + " (" + steps.IdempotencyKey(ctx) + ")", nil
	})
	Greet = workflow.New("Greet", func(ctx workflow.Context, name string) (string, error) {
		return workflow.ExecuteStep(ctx, Hello, name).Get(ctx)
	})
)

func TestFakeAndRealSteps(t *testing.T) {
	t.Run("real", func(t *testing.T) {
		env := workflowtest.NewEnv(t)
		env.RegisterStep(Hello)
		before := greeted
		out, err := workflowtest.ExecuteWorkflow(env, Greet, "ana", workflowtest.WithID("greet-1"))
		if err != nil || out != "hello ana (greet-1/1)" {
			t.Errorf("got %q, %v; want the real handler's answer with its idempotency key", out, err)
		}
		if greeted != before+1 {
			t.Errorf("the handler ran %d times, want 1", greeted-before)
		}
	})
	t.Run("fake", func(t *testing.T) {
		env := workflowtest.NewEnv(t)
		env.RegisterStep(Hello)
		workflowtest.OnStep(env, Hello, func(ctx context.Context, name string) (string, error) { return "fake " + name, nil })
		before := greeted
		out, err := workflowtest.ExecuteWorkflow(env, Greet, "ana")
		if err != nil || out != "fake ana" {
			t.Errorf("got %q, %v; want the fake's answer", out, err)
		}
		if greeted != before {
			t.Error("the real handler ran under a fake")
		}
		c := env.Calls()
		if in, err := workflowtest.Input(c[0], Hello); len(c) != 1 || err != nil || in != "ana" {
			t.Errorf("calls %v (input %q, %v), want one with input ana", c, in, err)
		}
		if got := string(c[0].InputJSON()); got != `"ana"` {
			t.Errorf("input as JSON %s, want \"ana\"", got)
		}
	})
}

// Order reserves, charges (slowly), and compensates when canceled.
var Order = workflow.New("Order", func(ctx workflow.Context, item string) (string, error) {
	saga := workflow.NewSaga(ctx)
	rid, err := workflow.ExecuteStep(ctx, Reserve, item).Get(ctx)
	if err != nil {
		return "", err
	}
	workflow.AddCompensation(saga, Release, rid)
	tx, err := workflow.ExecuteStep(ctx, Charge, 10).Get(ctx)
	if err != nil {
		_ = saga.Compensate(ctx)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", err
	}
	workflow.AddCompensation(saga, Refund, tx)
	if err := workflow.Sleep(ctx, 24*time.Hour); err != nil {
		_ = saga.Compensate(ctx)
		return "", err
	}
	return tx, nil
})

func orderEnv(t *testing.T) *workflowtest.Env {
	env := raceEnv(t)
	workflowtest.OnStep(env, Reserve, func(ctx context.Context, item string) (string, error) { return "R-" + item, nil })
	workflowtest.OnStep(env, Release, func(ctx context.Context, rid string) (struct{}, error) { return struct{}{}, nil })
	workflowtest.OnStep(env, Refund, func(ctx context.Context, tx string) (struct{}, error) { return struct{}{}, nil })
	workflowtest.OnStep(env, Charge, func(ctx context.Context, n int) (string, error) { return "TX-1", nil }).Takes(time.Hour)
	return env
}

func TestCancelAtRunsCompensations(t *testing.T) {
	for _, tc := range []struct {
		at    time.Duration
		comps []string
	}{
		{30 * time.Minute, []string{"Release"}},        // while charging
		{5 * time.Hour, []string{"Refund", "Release"}}, // while sleeping
	} {
		t.Run(tc.at.String(), func(t *testing.T) {
			env := orderEnv(t)
			env.CancelAt(tc.at, "customer asked")
			_, err := workflowtest.ExecuteWorkflow(env, Order, "book")
			var ce *workflow.CanceledError
			if !errors.As(err, &ce) || ce.Reason != "customer asked" {
				t.Fatalf("got %v, want the run canceled with its reason", err)
			}
			var got []string
			for _, c := range env.Compensations() {
				got = append(got, c.Step)
				if !c.At.Equal(epoch.Add(tc.at)) {
					t.Errorf("%s ran at %s, want at the cancellation", c.Step, c.At.Sub(epoch))
				}
			}
			if !slices.Equal(got, tc.comps) {
				t.Errorf("compensations %v, want %v", got, tc.comps)
			}
		})
	}
	t.Run("the charge in flight is stopped", func(t *testing.T) {
		env := orderEnv(t)
		env.CancelAt(30*time.Minute, "")
		_, _ = workflowtest.ExecuteWorkflow(env, Order, "book")
		c := env.CallsOf(Charge.Name())
		if len(c) != 1 || c[0].Err == nil || c[0].Err.Type != steps.TypeCanceled || !c[0].Ended.Equal(epoch.Add(30*time.Minute)) {
			t.Errorf("charge %+v, want stopped (Canceled) at 30m", c)
		}
	})
}

func TestFailedCompensationIsRecorded(t *testing.T) {
	env := orderEnv(t)
	workflowtest.OnStep(env, Release, func(ctx context.Context, rid string) (struct{}, error) {
		return struct{}{}, steps.NonRetryable("Gone", "reservation %s expired", rid)
	})
	env.CancelAt(30*time.Minute, "customer asked")
	_, err := workflowtest.ExecuteWorkflow(env, Order, "book")
	var ce *workflow.CompensationError
	var re *workflow.RunError
	if !errors.As(err, &re) || re.Status != "compensation_failed" || !errors.As(err, &ce) || ce.Step != Release.Name() {
		t.Fatalf("got %v, want compensation_failed naming Release", err)
	}
	if c := env.Compensations(); len(c) != 1 || c[0].Err == nil || c[0].Err.Type != "Gone" {
		t.Errorf("compensations %+v, want Release failed with Gone", c)
	}
}

func TestTerminateAtCompensatesNothing(t *testing.T) {
	env := orderEnv(t)
	env.TerminateAt(5*time.Hour, "fraud")
	_, err := workflowtest.ExecuteWorkflow(env, Order, "book")
	var re *workflow.RunError
	if !errors.As(err, &re) || re.Status != "terminated" {
		t.Fatalf("got %v, want terminated", err)
	}
	if c := env.Compensations(); len(c) != 0 {
		t.Errorf("compensations %v, want none", c)
	}
}

func TestBlockedRun(t *testing.T) {
	env := workflowtest.NewEnv(t)
	wf := workflow.New("Waits", func(ctx workflow.Context, _ struct{}) (string, error) {
		return Confirmed.Receive(ctx)
	})
	_, err := workflowtest.ExecuteWorkflow(env, wf, struct{}{})
	var be *workflowtest.BlockedError
	if !errors.Is(err, workflowtest.ErrBlocked) || !errors.As(err, &be) || be.WaitingOn != "signal confirmed" {
		t.Fatalf("got %v, want a run blocked on the signal", err)
	}
}

// Progress answers a query with how far it got.
var Progress = workflow.New("Progress", func(ctx workflow.Context, n int) (int, error) {
	done := 0
	if err := workflow.SetQueryHandler(ctx, "done", func() (int, error) { return done, nil }); err != nil {
		return 0, err
	}
	for range n {
		if err := workflow.Sleep(ctx, time.Hour); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
})

func TestQueryAtAVirtualTime(t *testing.T) {
	env := workflowtest.NewEnv(t)
	var got []int
	for _, at := range []time.Duration{90 * time.Minute, 150 * time.Minute} {
		env.At(at, func() {
			v, err := workflowtest.Query[int](env, "done")
			if err != nil {
				t.Errorf("query at %s: %v", at, err)
			}
			got = append(got, v)
		})
	}
	env.At(200*time.Minute, func() {
		_, err := workflowtest.Query[int](env, "nope")
		if !errors.Is(err, workflow.ErrQuery) {
			t.Errorf("unknown query: got %v, want a QueryError", err)
		}
	})
	if _, err := workflowtest.ExecuteWorkflow(env, Progress, 4); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{1, 2}) {
		t.Errorf("answers %v, want [1 2]", got)
	}
	if _, err := workflowtest.Query[int](env, "done"); !errors.Is(err, workflow.ErrRunClosed) {
		t.Errorf("query after the end: got %v, want ErrRunClosed", err)
	}
}

// Parent starts a child per item and adds up what they return.
var (
	Child = workflow.New("Child", func(ctx workflow.Context, item string) (string, error) {
		if err := workflow.Sleep(ctx, time.Hour); err != nil {
			return "", err
		}
		return workflow.ExecuteStep(ctx, Ship, item).Get(ctx)
	})
	Parent = workflow.New("Parent", func(ctx workflow.Context, items []string) ([]string, error) {
		var fs []workflow.ChildFuture[string]
		for _, it := range items {
			fs = append(fs, workflow.ExecuteChild(ctx, Child, it))
		}
		var out []string
		for _, f := range fs {
			v, err := f.Get(ctx)
			if err != nil {
				return out, err
			}
			out = append(out, f.ID()+":"+v)
		}
		return out, nil
	})
)

func TestChildWorkflows(t *testing.T) {
	t.Run("registered", func(t *testing.T) {
		env := workflowtest.NewEnv(t, workflowtest.WithStartTime(epoch))
		env.RegisterWorkflow(Child)
		workflowtest.OnStep(env, Ship, func(ctx context.Context, in string) (string, error) { return "S-" + in, nil })
		out, err := workflowtest.ExecuteWorkflow(env, Parent, []string{"a", "b"}, workflowtest.WithID("p"))
		if want := []string{"p-c1:S-a", "p-c2:S-b"}; err != nil || !slices.Equal(out, want) {
			t.Fatalf("got %v, %v; want %v", out, err, want)
		}
		if got := env.Now().Sub(epoch); got != time.Hour {
			t.Errorf("the children slept in parallel for %s, want 1h", got)
		}
		if h := env.History("p-c1"); len(h) != 2 || h[0].Kind != "timer" || h[1].Name != Ship.Name() {
			t.Errorf("the child's history is %+v, want a timer and a step", h)
		}
	})
	t.Run("faked", func(t *testing.T) {
		env := workflowtest.NewEnv(t)
		workflowtest.OnChild(env, Child, func(ctx context.Context, item string) (string, error) {
			if item == "bad" {
				return "", steps.NewError("OutOfStock", "%s is gone", item)
			}
			return "F-" + item, nil
		})
		_, err := workflowtest.ExecuteWorkflow(env, Parent, []string{"a", "bad"}, workflowtest.WithID("p"))
		// The run failed with the parent's ChildError, recorded as a
		// ChildFailed error, as Client.Result reports it.
		var se *steps.Error
		if !errors.As(err, &se) || se.Type != workflow.TypeChildFailed || !strings.Contains(se.Message, "p-c2 ended failed: OutOfStock") {
			t.Fatalf("got %v; want ChildFailed, with p-c2's OutOfStock", err)
		}
		if h := env.History("p"); len(h) != 2 || h[0].ChildStatus != "completed" || h[1].ChildStatus != "failed" {
			t.Errorf("the parent's history %+v, want p-c1 completed and p-c2 failed", h)
		}
	})
	t.Run("canceled with the parent", func(t *testing.T) {
		env := workflowtest.NewEnv(t)
		env.RegisterWorkflow(Child)
		workflowtest.OnStep(env, Ship, func(ctx context.Context, in string) (string, error) { return "S-" + in, nil })
		wf := workflow.New("CancelParent", func(ctx workflow.Context, _ struct{}) (string, error) {
			f := workflow.ExecuteChild(workflow.WithChildOptions(ctx, workflow.ChildOptions{ParentClosePolicy: workflow.ParentCloseCancel}), Child, "x")
			_, err := f.Get(workflow.NewDisconnectedContext(ctx))
			var ce *workflow.ChildError
			if errors.As(err, &ce) {
				return ce.Status, ctx.Err()
			}
			return "", err
		})
		env.CancelAt(time.Minute, "stop")
		_, err := workflowtest.ExecuteWorkflow(env, wf, struct{}{}, workflowtest.WithID("cp"))
		if !errors.Is(err, workflow.ErrCanceled) {
			t.Fatalf("got %v, want canceled", err)
		}
		if h := env.History("cp"); len(h) != 1 || h[0].ChildStatus != "canceled" {
			t.Errorf("the parent's history %+v, want its child canceled", h)
		}
	})
}

func TestContinueAsNew(t *testing.T) {
	env := workflowtest.NewEnv(t, workflowtest.WithStartTime(epoch))
	wf := workflow.New("Loop", func(ctx workflow.Context, n int) (int, error) {
		if err := workflow.Sleep(ctx, time.Hour); err != nil {
			return 0, err
		}
		if n < 3 {
			return 0, workflow.ContinueAsNew(ctx, n+1)
		}
		return n, nil
	})
	out, err := workflowtest.ExecuteWorkflow(env, wf, 1)
	if err != nil || out != 3 {
		t.Fatalf("got %d, %v; want 3", out, err)
	}
	if got := env.Now().Sub(epoch); got != 3*time.Hour {
		t.Errorf("3 executions took %s, want 3h", got)
	}
}

// recorder is a testing.TB that keeps the errors a test would fail with.
type recorder struct {
	testing.TB
	errs []error
}

func (r *recorder) Errorf(format string, args ...any) {
	for _, a := range args {
		if err, ok := a.(error); ok {
			r.errs = append(r.errs, err)
		}
	}
	r.TB.Logf("(recorded) "+format, args...)
}

func nonDeterminism(r *recorder) *workflow.NonDeterminismError {
	for _, err := range r.errs {
		var nd *workflow.NonDeterminismError
		if errors.As(err, &nd) {
			return nd
		}
	}
	return nil
}

// leaked is state shared by workflow code and a step: the kind of bug that
// replays catch.
var leaked bool

var Leaky = workflow.New("Leaky", func(ctx workflow.Context, _ struct{}) (string, error) {
	if leaked {
		return workflow.ExecuteStep(ctx, Ship, "b").Get(ctx)
	}
	return workflow.ExecuteStep(ctx, Reserve, "a").Get(ctx)
})

func TestReplayCatchesNonDeterminism(t *testing.T) {
	for _, every := range []bool{false, true} {
		t.Run(fmt.Sprint("every task ", every), func(t *testing.T) {
			leaked = false
			rec := &recorder{TB: t}
			var opts []workflowtest.Option
			if every {
				opts = append(opts, workflowtest.WithReplayEveryTask())
			}
			env := workflowtest.NewEnv(rec, opts...)
			workflowtest.OnStep(env, Reserve, func(ctx context.Context, in string) (string, error) {
				leaked = true
				return "R", nil
			})
			if _, err := workflowtest.ExecuteWorkflow(env, Leaky, struct{}{}); err != nil {
				t.Fatal(err)
			}
			nd := nonDeterminism(rec)
			if nd == nil || nd.Seq != 1 || !strings.Contains(nd.Found, Ship.Name()) {
				t.Fatalf("recorded %v, want a NonDeterminismError at position 1", rec.errs)
			}
		})
	}
	t.Run("deterministic code passes", func(t *testing.T) {
		leaked = false
		rec := &recorder{TB: t}
		env := workflowtest.NewEnv(rec)
		workflowtest.OnStep(env, Reserve, func(ctx context.Context, in string) (string, error) { return "R", nil })
		if _, err := workflowtest.ExecuteWorkflow(env, Leaky, struct{}{}); err != nil || len(rec.errs) > 0 {
			t.Fatalf("got %v, recorded %v; want nothing", err, rec.errs)
		}
	})
}

// ByMap schedules a step per map entry, in the map's order: different on
// every replay.
var ByMap = workflow.New("ByMap", func(ctx workflow.Context, _ struct{}) (int, error) {
	byName := map[string]*steps.Definition[string, string]{"reserve": Reserve, "ship": Ship, "release": steps.Ref[string, string]("Release2"),
		"charge": steps.Ref[string, string]("Charge2"), "refund": steps.Ref[string, string]("Refund2"), "pack": steps.Ref[string, string]("Pack"),
		"label": steps.Ref[string, string]("Label"), "notify": steps.Ref[string, string]("Notify")}
	var fs []workflow.Future[string]
	for name, step := range byName { //jetflow:nondeterministic-ok the test shows the replay catching it
		fs = append(fs, workflow.ExecuteStep(ctx, step, name))
	}
	for _, f := range fs {
		if _, err := f.Get(ctx); err != nil {
			return 0, err
		}
	}
	return len(fs), nil
})

func TestReplayCatchesMapOrder(t *testing.T) {
	// A replay takes the first order with a chance of 1 in 8 or less: of
	// 12 runs, one is caught but with a chance of 1 in 8^12.
	caught := 0
	for i := range 12 {
		rec := &recorder{TB: t}
		env := workflowtest.NewEnv(rec)
		for _, name := range []string{"Reserve", "Ship", "Release2", "Charge2", "Refund2", "Pack", "Label", "Notify"} {
			env.RegisterStep(steps.New(name, func(ctx context.Context, in string) (string, error) { return in, nil }))
		}
		if _, err := workflowtest.ExecuteWorkflow(env, ByMap, struct{}{}, workflowtest.WithID(fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
		if nonDeterminism(rec) != nil {
			caught++
		}
	}
	if caught == 0 {
		t.Error("12 runs ranging over a map, and no replay caught it")
	}
}

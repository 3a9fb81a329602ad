package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/workflowtest"
)

// The demo's scenarios in virtual time, with the test kit: the same
// workflow code, the same service handlers (called in-process), the same
// checks as `jetflow demo` runs against JetStream, in milliseconds. Every
// run's history is replayed at its end, as a worker rebuilding it would.

// kitEnv is an Env running the demo's step handlers on a fresh ledger.
func kitEnv(t *testing.T) (*workflowtest.Env, *Services) {
	t.Helper()
	env := workflowtest.NewEnv(t, workflowtest.WithLogger(slog.New(slog.DiscardHandler)))
	svc := NewServices(nil)
	env.RegisterSteps(svc.Handlers()...)
	return env, svc
}

// kitOrder runs one order in env and collects what RunOrder collects from
// a real run: status, output, history, the ledger's effects.
func kitOrder(t *testing.T, env *workflowtest.Env, svc *Services, id string, in OrderInput) OrderRun {
	t.Helper()
	o := OrderRun{WorkflowID: id, Input: in}
	out, err := workflowtest.ExecuteWorkflow(env, OrderOrchestration, in, workflowtest.WithID(id))
	var re *workflow.RunError
	switch {
	case err == nil:
		o.RunStatus, o.Output = kv.StatusCompleted, out
	case errors.As(err, &re):
		o.RunStatus, o.Output = re.Status, out
	default:
		o.Err = err
	}
	o.History = env.History(id)
	o.Effects = svc.Ledger.(*MemLedger).Order(in.OrderID)
	return o
}

// kitShaped are the scenarios of their own shape, each with a test below.
var kitShaped = []string{"breaker", "customer_cancels", "await_3ds", "child_payment", "terminate_stuck", "scheduled_reconciliation"}

func TestKitScenarios(t *testing.T) {
	covered := 0
	for _, sc := range Scenarios() {
		if sc.order == nil {
			if !slices.Contains(kitShaped, sc.Name) {
				t.Errorf("scenario %s has no test in virtual time: add one to kit_test.go", sc.Name)
			}
			continue
		}
		covered++
		t.Run(sc.Name, func(t *testing.T) {
			env, svc := kitEnv(t)
			id := "kit-" + sc.Name
			o := kitOrder(t, env, svc, id, sc.order(id))
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			for _, p := range append(sc.check(o), CheckEffects(o.Status(), o.Effects)...) {
				t.Error(p)
			}
			// The kit's own record says the same as the history.
			var comps []string
			for _, c := range env.Compensations() {
				if c.Err == nil {
					comps = append(comps, c.Step)
				}
			}
			if got, want := fmt.Sprint(comps), fmt.Sprint(o.Compensations()); got != want {
				t.Errorf("compensations recorded %s, history says %s", got, want)
			}
		})
	}
	if covered < 7 {
		t.Errorf("%d scenarios with an order, want at least 7 (and the breaker)", covered)
	}
}

// TestKitFlakyInventoryBacksOffInVirtualTime: the retries of the flaky
// reservation wait their backoff (100 ms, then 200 ms) on the virtual
// clock, not the wall clock.
func TestKitFlakyInventoryBacksOffInVirtualTime(t *testing.T) {
	env, svc := kitEnv(t)
	in := NewOrder("kit-flaky", "user-4")
	in.Faults = []string{FaultInventoryFlaky}
	kitOrder(t, env, svc, "kit-flaky", in)
	calls := env.CallsOf(ReserveInventory.Name())
	if len(calls) != FlakyFailures+1 {
		t.Fatalf("%d attempts of ReserveInventory, want %d", len(calls), FlakyFailures+1)
	}
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		if got := calls[i+1].At.Sub(calls[i].Ended); got != want {
			t.Errorf("attempt %d came %s after attempt %d, want %s", i+2, got, i+1, want)
		}
	}
}

// TestKitBreaker is the breaker scenario (runBreaker) in virtual time: the
// breaker is shared by the runs of one Env, and its reset timeout passes on
// the virtual clock.
func TestKitBreaker(t *testing.T) {
	env, svc := kitEnv(t)
	primary := ProcessPayment.Name()
	n := 0
	order := func(phase string, faults ...string) OrderRun {
		t.Helper()
		n++
		id := fmt.Sprintf("kit-breaker-%d-%s", n, phase)
		in := NewOrder(id, "user-8")
		in.Faults = faults
		o := kitOrder(t, env, svc, id, in)
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if s := o.Status(); s != StatusCompleted {
			t.Errorf("%s ended %s, want completed", id, s)
		}
		for _, p := range CheckEffects(o.Status(), o.Effects) {
			t.Errorf("%s: %s", id, p)
		}
		return o
	}
	// transition is the index of the first transition to state at or
	// after from, or -1.
	transition := func(state string, from int) int {
		for i, ev := range env.BreakerEvents() {
			if i >= from && normState(ev.To) == state {
				return i
			}
		}
		return -1
	}

	// 1. Closed: a healthy order pays on the primary.
	if o := order("warmup"); o.Channel() != ChannelPrimary {
		t.Fatalf("the warm-up order paid on %q, want primary", o.Channel())
	}

	// 2. Orders whose primary channel is down, until it opens.
	before := svc.Calls(primary)
	openAt := -1
	for i := 0; i < 2*BreakerThreshold && openAt < 0; i++ {
		order("primary_down", FaultPrimaryDown)
		openAt = transition(stateOpen, 0)
	}
	if openAt < 0 {
		t.Fatalf("the breaker did not open after %d primary failures", svc.Calls(primary)-before)
	}
	if got := svc.Calls(primary) - before; got != BreakerThreshold {
		t.Errorf("the breaker opened after %d primary failures, want %d", got, BreakerThreshold)
	}
	openedAt := env.BreakerEvents()[openAt].Time

	// 3. While open: healthy orders skip the primary and pay on the fallback.
	before = svc.Calls(primary)
	for range 2 {
		o := order("while_open")
		if o.Channel() != ChannelFallback {
			t.Errorf("%s paid on %q while the breaker was open, want fallback", o.WorkflowID, o.Channel())
		}
		if h := o.Entry(primary); h == nil || h.Error == nil || h.Error.Type != steps.TypeBreakerOpen {
			t.Errorf("%s: ProcessPayment did not fail with %s", o.WorkflowID, steps.TypeBreakerOpen)
		}
	}
	if got := svc.Calls(primary) - before; got != 0 {
		t.Errorf("the primary channel was called %d times while the breaker was open, want 0", got)
	}

	// 4. After the reset timeout, one half-open probe succeeds and closes it.
	env.Advance(openedAt.Add(BreakerResetTimeout + 150*time.Millisecond).Sub(env.Now()))
	before = svc.Calls(primary)
	probe := order("probe")
	if got := svc.Calls(primary) - before; got != 1 || probe.Channel() != ChannelPrimary {
		t.Errorf("the probe order called the primary %d times and paid on %q, want 1 call and primary", got, probe.Channel())
	}
	if transition(stateHalfOpen, openAt) < 0 {
		t.Error("no half-open transition")
	}
	if transition(stateClosed, openAt) < 0 {
		t.Error("the breaker did not close after the probe")
	}

	// 5. Closed again: the next order pays on the primary.
	if o := order("closed"); o.Channel() != ChannelPrimary {
		t.Errorf("%s paid on %q after the breaker closed, want primary", o.WorkflowID, o.Channel())
	}
}

// The scenarios that talk to running orders (scenarios_talk.go), in
// virtual time, with the checks the demo applies on JetStream.

func TestKitCustomerCancels(t *testing.T) {
	env, svc := kitEnv(t)
	id := "kit-customer_cancels"
	in := NewOrder(id, "user-9")
	in.ShipAfter = "1h"
	// Half an hour into the hour's hold before shipping, the charge made.
	env.At(30*time.Minute, func() {
		if h := timerOf(OrderRun{History: env.History(id)}); h == nil || h.Done {
			t.Errorf("at 30m the order is not holding before shipping: %+v", env.History(id))
		}
	})
	env.CancelAt(30*time.Minute, cancelReason)
	o := kitOrder(t, env, svc, id, in)
	for _, p := range checkCustomerCancels(o) {
		t.Error(p)
	}
	var comps []string
	for _, c := range env.Compensations() {
		comps = append(comps, c.Step)
	}
	if want := []string{RefundPayment.Name(), ReleaseInventory.Name()}; !slices.Equal(comps, want) {
		t.Errorf("compensation attempts %v, want %v", comps, want)
	}
}

func TestKitAwait3DS(t *testing.T) {
	env, svc := kitEnv(t)
	confirmedID, silentID := "kit-await_3ds-confirmed", "kit-await_3ds-no_answer"
	in := NewOrder(confirmedID, "user-10")
	in.Require3DS = true
	workflowtest.SignalAt(env, 5*time.Minute, Confirm3DS, Confirmation{Approved: true})
	confirmed := kitOrder(t, env, svc, confirmedID, in)

	// The workflow's own default wait, 15 minutes, passes at once.
	in = NewOrder(silentID, "user-11")
	in.Require3DS = true
	start, wall := env.Now(), time.Now()
	silent := kitOrder(t, env, svc, silentID, in)
	if got := env.Now().Sub(start); got != Default3DSTimeout {
		t.Errorf("the unconfirmed order took %s of virtual time, want %s", got, Default3DSTimeout)
	}
	t.Logf("the %s wait took %s of wall time", Default3DSTimeout, time.Since(wall))
	for _, p := range checkAwait3DS(confirmed, silent) {
		t.Error(p)
	}
}

func TestKitChildPayment(t *testing.T) {
	env, svc := kitEnv(t)
	env.RegisterWorkflow(PaymentWithFallback)
	id := "kit-child_payment"
	in := NewOrder(id, "user-12")
	in.PayAsChild = true
	o := kitOrder(t, env, svc, id, in)
	p := checkChildPaymentOrder(o)
	childID := ChildPaymentID(id)
	rec, err := env.Record(childID)
	if err != nil {
		t.Fatal(err)
	}
	child, q := checkChildPayment(o, rec, env.History(childID))
	for _, p := range append(p, q...) {
		t.Error(p)
	}
	if calls := env.CallsOf(ProcessPayment.Name()); len(calls) != 1 || calls[0].WorkflowID != childID {
		t.Errorf("ProcessPayment calls %+v, want one, by %s", calls, childID)
	}
	t.Logf("child %s: %s %s under %s, steps %+v", child.WorkflowID, child.Workflow, child.Status, child.Parent, child.Steps)
}

func TestKitTerminateStuck(t *testing.T) {
	env, svc := kitEnv(t)
	id := "kit-terminate_stuck"
	in := NewOrder(id, "user-12")
	in.Faults, in.RetryShipmentForever = []string{FaultShippingDown}, true
	step := CreateShipment.Name()
	rep := &StuckReport{Step: step}
	// As the demo waits for Describe to show the step between attempts
	// after stuckAttempts failures: terminate as the last one ends.
	env.When(func() bool {
		calls := env.CallsOf(step)
		return len(calls) == stuckAttempts && !calls[len(calls)-1].Ended.IsZero()
	}, func() {
		calls := env.CallsOf(step)
		rep.AttemptsBefore, rep.LastError = len(calls), calls[len(calls)-1].Err.Type
		if err := env.Terminate(terminateReason); err != nil {
			t.Error(err)
		}
	})
	o := kitOrder(t, env, svc, id, in)
	rep.CallsAtEnd = svc.Calls(step)
	// No retry comes over twice the policy's widest backoff, in virtual
	// time.
	watch := 2 * shipmentOptions(in).RetryPolicy.MaxInterval
	env.Advance(watch)
	rep.CallsAfter, rep.WatchedMS = svc.Calls(step), float64(watch.Milliseconds())
	for _, p := range checkTerminateStuck(o, rep, watch) {
		t.Error(p)
	}
	if rep.CallsAtEnd != stuckAttempts || len(env.CallsOf(step)) != stuckAttempts {
		t.Errorf("%d calls of %s (%d attempts), want %d", rep.CallsAtEnd, step, len(env.CallsOf(step)), stuckAttempts)
	}
}

// scheduled_reconciliation in virtual time: the charge terminate_stuck's
// order leaves standing is refunded once by a schedule @every 1s, whose
// ticks start one run each.
func TestKitScheduledReconciliation(t *testing.T) {
	env, svc := kitEnv(t)
	env.RegisterWorkflow(ReconcilePayments)
	// An order charged and never shipped: the carrier is down for good and
	// the run is terminated.
	stuck := "kit-stuck"
	in := NewOrder(stuck, "user-13")
	in.Faults, in.RetryShipmentForever = []string{FaultShippingDown}, true
	env.When(func() bool { return len(env.CallsOf(CreateShipment.Name())) == stuckAttempts }, func() {
		if err := env.Terminate(terminateReason); err != nil {
			t.Error(err)
		}
	})
	if o := kitOrder(t, env, svc, stuck, in); o.RunStatus != kv.StatusTerminated || o.Effects.Charged != 1 {
		t.Fatalf("the stuck order: %s, effects %+v; want terminated and charged", o.RunStatus, o.Effects)
	}
	action, err := workflow.NewScheduleAction(ReconcilePayments, ReconcileInput{})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.CreateSchedule("kit-reconcile", workflow.ScheduleSpec{Cron: []string{"@every 1s"}}, action,
		workflow.SchedulePolicies{Overlap: workflow.OverlapAllowAll}); err != nil {
		t.Fatal(err)
	}
	env.Advance(reconcileTicks * time.Second)
	d, err := env.DescribeSchedule("kit-reconcile")
	if err != nil {
		t.Fatal(err)
	}
	if d.Started < reconcileTicks {
		t.Fatalf("%d runs in %d s of virtual time; want %d", d.Started, reconcileTicks, reconcileTicks)
	}
	refunds := 0
	for _, r := range d.Recent {
		if want := "kit-reconcile-" + r.Nominal.UTC().Format("20060102T150405Z"); r.WorkflowID != want {
			t.Errorf("run %s of the tick at %s; want %s", r.WorkflowID, r.Nominal, want)
		}
		out, err := workflowtest.Result[ReconcileOutput](env, r.WorkflowID)
		if err != nil {
			t.Fatalf("run %s: %v", r.WorkflowID, err)
		}
		refunds += len(out.Refunded)
	}
	if got := svc.Ledger.(*MemLedger).Order(stuck); refunds != 1 || got.Refunded != 1 {
		t.Fatalf("%d refunds reported across the runs, ledger %+v; want the stuck order's charge refunded once", refunds, got)
	}
}

package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
)

// The scenarios of issue 10 that talk to running orders: a cancel, a
// signal, a terminate. Each acts on its order once the order's history
// shows it is where the scenario means to catch it, so the outcome does not
// depend on timing.

// ScenarioOrder is one order of a scenario that runs several (await_3ds).
type ScenarioOrder struct {
	WorkflowID string `json:"workflow_id"`
	// Sent says what the scenario sent the running order, "" for nothing.
	Sent          string    `json:"sent"`
	Status        string    `json:"status"`
	Compensations []string  `json:"compensations"`
	Steps         []StepRun `json:"steps"`
	Effects       Counts    `json:"effects"`
}

// StuckReport is what terminate_stuck saw of its stuck step.
type StuckReport struct {
	Step string `json:"step"`
	// AttemptsBefore is the step's attempts when the run was terminated,
	// as `jetflow status` showed them, with the last attempt's error type.
	AttemptsBefore int    `json:"attempts_before"`
	LastError      string `json:"last_error"`
	// CallsAtEnd and CallsAfter count the calls the step's service had from
	// the order when the run ended and WatchedMS later: equal when no
	// worker retries.
	CallsAtEnd int     `json:"calls_at_end"`
	CallsAfter int     `json:"calls_after"`
	WatchedMS  float64 `json:"watched_ms"`
}

const (
	// cancelReason and terminateReason are what the scenarios tell the runs.
	cancelReason    = "the customer changed their mind"
	terminateReason = "the carrier is down for good"
	// demo3DSTimeout is the 3-D Secure wait of the demo's unconfirmed order.
	demo3DSTimeout = "2s"
	// stuckAttempts is how many attempts terminate_stuck lets the stuck step
	// fail before it terminates the run.
	stuckAttempts = 3
)

func talkScenarios() []Scenario {
	return []Scenario{
		{Name: "customer_cancels", Expected: "canceled after the charge, before shipping: canceled; RefundPayment then ReleaseInventory, once each; nothing shipped",
			run: runCustomerCancels},
		{Name: "await_3ds", Expected: fmt.Sprintf("one order confirmed by the %s signal while it waits: completed; one never confirmed: its %s wait (%s by default) expires, payment_failed, ReleaseInventory once, never charged", Confirm3DS.Name(), demo3DSTimeout, Default3DSTimeout),
			run: runAwait3DS},
		{Name: "child_payment", Expected: "the payment runs as its own PaymentWithFallback run under the order: the order completed, the child completed with its own ID, history and steps, linked both ways",
			run: runChildPayment},
		{Name: "terminate_stuck", Expected: fmt.Sprintf("the carrier is down and CreateShipment retries forever; after %d attempts jetflow terminate ends it: terminated, no attempt after it, nothing compensated", stuckAttempts),
			run: runTerminateStuck},
	}
}

// runCustomerCancels: an order held before shipping (ShipAfter) is
// canceled once its history shows the hold, that is after the workflow
// learned of the charge.
func runCustomerCancels(ctx context.Context, env *Env, sc Scenario) Result {
	id := env.id(sc.Name)
	in := NewOrder(id, "user-9")
	in.ShipAfter = "1h"
	o := env.runOrder(ctx, sc.Name, id, in, func(ctx context.Context) error {
		if err := env.waitHistory(ctx, id, "the hold before shipping", hasKind(kv.KindTimer)); err != nil {
			return err
		}
		return env.Client.Cancel(ctx, id, cancelReason)
	})
	r := resultOf(sc, o)
	r.Problems = append(r.Problems, checkCustomerCancels(o)...)
	return r
}

// checkCustomerCancels says what is wrong with an order of
// customer_cancels (here and in the test kit's run of it).
func checkCustomerCancels(o OrderRun) []string {
	p := want(o, StatusCanceled)
	p = append(p, wantCompensations(o, RefundPayment.Name(), ReleaseInventory.Name())...)
	p = append(p, wantAttempts(o, RefundPayment.Name(), 1)...)
	p = append(p, wantAttempts(o, ReleaseInventory.Name(), 1)...)
	if o.Entry(CreateShipment.Name()) != nil {
		p = append(p, "CreateShipment ran, want the order canceled before shipping")
	}
	return append(p, wantEffects(o, Counts{Reserved: 1, Released: 1, Charged: 1, Refunded: 1})...)
}

// runAwait3DS: two orders that require 3-D Secure; the first is confirmed
// once it waits for the confirmation (its history shows the wait's timer),
// the second never is and its demo3DSTimeout wait expires.
func runAwait3DS(ctx context.Context, env *Env, sc Scenario) Result {
	confirmedID, silentID := env.id(sc.Name, "confirmed"), env.id(sc.Name, "no_answer")
	in := NewOrder(confirmedID, "user-10")
	in.Require3DS = true // the workflow's default wait: 15 minutes
	confirmed := env.runOrder(ctx, sc.Name, confirmedID, in, func(ctx context.Context) error {
		if err := env.waitHistory(ctx, confirmedID, "the 3-D Secure wait", hasKind(kv.KindTimer)); err != nil {
			return err
		}
		return workflow.Signal(ctx, env.Client, confirmedID, Confirm3DS, Confirmation{Approved: true})
	})
	in = NewOrder(silentID, "user-11")
	in.Require3DS, in.ThreeDSTimeout = true, demo3DSTimeout
	silent := env.runOrder(ctx, sc.Name, silentID, in, nil)

	r := resultOf(sc, confirmed)
	r.Orders = []ScenarioOrder{
		scenarioOrder(confirmed, fmt.Sprintf("%s {approved: true} while it waited", Confirm3DS.Name())),
		scenarioOrder(silent, ""),
	}
	r.Problems = append(r.Problems, checkAwait3DS(confirmed, silent)...)
	return r
}

// checkAwait3DS says what is wrong with the orders of await_3ds: one
// confirmed while it waited, one never confirmed.
func checkAwait3DS(confirmed, silent OrderRun) []string {
	silentID := silent.WorkflowID
	p := want(confirmed, StatusCompleted)
	p = append(p, wantIDs(confirmed, true, true)...)
	p = append(p, wantEffects(confirmed, Counts{Reserved: 1, Charged: 1, Shipped: 1, Notified: 1})...)
	if silent.Err != nil {
		p = append(p, silent.Err.Error())
	}
	for _, q := range slices.Concat(want(silent, StatusPaymentFailed), wantCompensations(silent, ReleaseInventory.Name()),
		wantEffects(silent, Counts{Reserved: 1, Released: 1})) {
		p = append(p, silentID+": "+q)
	}
	if silent.Entry(ProcessPayment.Name()) != nil || silent.Entry(FallbackPayment.Name()) != nil {
		p = append(p, silentID+": a payment step ran without a confirmation")
	}
	if h := timerOf(silent); h == nil || !h.Done {
		p = append(p, silentID+": its 3-D Secure wait did not expire")
	}
	return p
}

// runTerminateStuck: the carrier is down for good and the order asks for
// the document's unlimited shipment retries. Once CreateShipment has failed
// stuckAttempts times (as Describe shows it) the run is terminated; then no
// attempt may come for a while longer than the policy's widest backoff.
func runTerminateStuck(ctx context.Context, env *Env, sc Scenario) Result {
	id := env.id(sc.Name)
	in := NewOrder(id, "user-12")
	in.Faults, in.RetryShipmentForever = []string{FaultShippingDown}, true
	step := CreateShipment.Name()
	rep := &StuckReport{Step: step}
	// Nothing else calls the carrier while the scenario runs.
	base := env.Services.Calls(step)
	o := env.runOrder(ctx, sc.Name, id, in, func(ctx context.Context) error {
		b, err := env.waitBackoff(ctx, id, step, stuckAttempts)
		if err != nil {
			return err
		}
		rep.AttemptsBefore, rep.LastError = b.Attempts, b.LastErrorType
		return env.Client.Terminate(ctx, id, terminateReason)
	})
	// A retry would come at most the policy's MaxInterval after the last
	// failure; watch for two of those.
	watch := 2*shipmentOptions(in).RetryPolicy.MaxInterval + 500*time.Millisecond
	rep.CallsAtEnd = env.Services.Calls(step) - base
	select {
	case <-time.After(watch):
	case <-ctx.Done():
	}
	rep.CallsAfter, rep.WatchedMS = env.Services.Calls(step)-base, float64(watch.Milliseconds())

	r := resultOf(sc, o)
	r.Stuck = rep
	// The history has no attempt count for a step that never finished: its
	// service's is the one to show.
	for i := range r.Steps {
		if r.Steps[i].Step == step && r.Steps[i].Attempts == 0 {
			r.Steps[i].Attempts, r.Attempts[step] = rep.CallsAtEnd, rep.CallsAtEnd
		}
	}
	r.Problems = append(r.Problems, checkTerminateStuck(o, rep, watch)...)
	return r
}

// checkTerminateStuck says what is wrong with the order of terminate_stuck
// and what rep saw of its stuck step (over watch after the end).
func checkTerminateStuck(o OrderRun, rep *StuckReport, watch time.Duration) []string {
	step := rep.Step
	p := want(o, kv.StatusTerminated)
	if rep.AttemptsBefore < stuckAttempts || rep.LastError != ErrTypeCarrierUnavailable {
		p = append(p, fmt.Sprintf("%s had %d attempts failing with %q when terminated, want %d or more failing with %s", step, rep.AttemptsBefore, rep.LastError, stuckAttempts, ErrTypeCarrierUnavailable))
	}
	if rep.CallsAfter != rep.CallsAtEnd {
		p = append(p, fmt.Sprintf("%s was called %d more times in the %s after the run was terminated, want 0", step, rep.CallsAfter-rep.CallsAtEnd, watch))
	}
	p = append(p, wantCompensations(o)...)
	// Terminate runs no code: what the order did stays done.
	return append(p, wantEffects(o, Counts{Reserved: 1, Charged: 1})...)
}

func scenarioOrder(o OrderRun, sent string) ScenarioOrder {
	r := resultOf(Scenario{}, o)
	return ScenarioOrder{WorkflowID: o.WorkflowID, Sent: sent, Status: o.Status(), Compensations: r.Compensations, Steps: r.Steps, Effects: o.Effects}
}

func hasKind(kind string) func([]workflow.HistoryEntry) bool {
	return func(h []workflow.HistoryEntry) bool {
		return slices.ContainsFunc(h, func(e workflow.HistoryEntry) bool { return e.Kind == kind })
	}
}

func timerOf(o OrderRun) *workflow.HistoryEntry {
	for i := range o.History {
		if o.History[i].Kind == kv.KindTimer {
			return &o.History[i]
		}
	}
	return nil
}

// wantEffects compares the order's ledger effects with want, kind by kind
// (amounts and channels aside).
func wantEffects(o OrderRun, want Counts) []string {
	got := o.Effects
	got.ChargedPrimary, got.ChargedFallback, got.ChargedAmount, got.RefundedAmount = 0, 0, 0, 0
	if got != want {
		return []string{fmt.Sprintf("ledger: %s, want %s", got.Summary(), want.Summary())}
	}
	return nil
}

// waitHistory waits until the run's history satisfies ok.
func (e *Env) waitHistory(ctx context.Context, id, what string, ok func([]workflow.HistoryEntry) bool) error {
	for {
		h, err := e.Client.History(ctx, id)
		if err != nil && !errors.Is(err, workflow.ErrNotFound) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if err == nil && ok(h) {
			return nil
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
	}
}

// waitBackoff waits until the run's step is between attempts after at
// least n failed ones, and returns what Describe says of it.
func (e *Env) waitBackoff(ctx context.Context, id, step string, n int) (*workflow.Backoff, error) {
	for {
		d, err := e.Client.Describe(ctx, id)
		if err != nil && !errors.Is(err, workflow.ErrNotFound) {
			return nil, fmt.Errorf("waiting for %s to retry: %w", step, err)
		}
		if b := d.Backoff; err == nil && b != nil && b.Step == step && b.Attempts >= n {
			return b, nil
		}
		if kv.Terminal(string(d.Status)) {
			return nil, fmt.Errorf("waiting for %s to retry: the run ended %s", step, d.Status)
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return nil, fmt.Errorf("waiting for %s to retry: %w", step, err)
		}
	}
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ChildReport is the child workflow of child_payment as the scenario saw it.
type ChildReport struct {
	WorkflowID string `json:"workflow_id"`
	Workflow   string `json:"workflow"`
	Status     string `json:"status"`
	// Parent is the parent its record names.
	Parent string `json:"parent"`
	// Steps are the child's own steps, from its history.
	Steps []StepRun `json:"steps"`
}

// runChildPayment: an order that pays through PaymentWithFallback as a
// child workflow; the child is a run of its own, linked both ways.
func runChildPayment(ctx context.Context, env *Env, sc Scenario) Result {
	id := env.id(sc.Name)
	in := NewOrder(id, "user-12")
	in.PayAsChild = true
	o := env.runOrder(ctx, sc.Name, id, in, nil)
	r := resultOf(sc, o)
	p := checkChildPaymentOrder(o)
	childID := ChildPaymentID(id)
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// The child's outcome reaches the order before the child's own record
	// says it ended: wait for that record.
	rec, err := env.Client.Wait(hctx, childID)
	if err != nil {
		p = append(p, fmt.Sprintf("the child %s: %v", childID, err))
		r.Problems = append(r.Problems, p...)
		return r
	}
	hist, err := env.Client.History(hctx, childID)
	if err != nil {
		p = append(p, fmt.Sprintf("the child's history: %v", err))
	}
	var q []string
	r.Child, q = checkChildPayment(o, rec, hist)
	r.Problems = append(r.Problems, append(p, q...)...)
	return r
}

// checkChildPaymentOrder says what is wrong with the order of
// child_payment, the parent.
func checkChildPaymentOrder(o OrderRun) []string {
	p := want(o, StatusCompleted)
	p = append(p, wantIDs(o, true, true)...)
	p = append(p, wantEffects(o, Counts{Reserved: 1, Charged: 1, Shipped: 1, Notified: 1})...)
	childID := ChildPaymentID(o.WorkflowID)
	var link *workflow.HistoryEntry
	for i := range o.History {
		if o.History[i].Kind == kv.KindChild {
			link = &o.History[i]
		}
	}
	if link == nil || link.ChildID != childID || link.ChildStatus != kv.StatusCompleted {
		p = append(p, fmt.Sprintf("the order's history has no completed child %s: %+v", childID, link))
	}
	if o.Entry(ProcessPayment.Name()) != nil {
		p = append(p, "ProcessPayment ran in the order's own history, want it in the child's")
	}
	return p
}

// checkChildPayment reports the child of child_payment's order o from its
// record and history, and says what is wrong with it.
func checkChildPayment(o OrderRun, rec workflow.Record, hist []workflow.HistoryEntry) (*ChildReport, []string) {
	var p []string
	id, childID := o.WorkflowID, ChildPaymentID(o.WorkflowID)
	c := &ChildReport{WorkflowID: childID, Workflow: rec.Workflow, Status: string(rec.Status), Parent: rec.Parent, Steps: []StepRun{}}
	if rec.Workflow != PaymentWithFallback.Name() || rec.Status != workflow.StatusCompleted || rec.Parent != id {
		p = append(p, fmt.Sprintf("the child %s: workflow %s, status %s, parent %q; want %s completed under %s", childID, rec.Workflow, rec.Status, rec.Parent, PaymentWithFallback.Name(), id))
	}
	for _, h := range hist {
		if h.Kind == kv.KindStep {
			c.Steps = append(c.Steps, StepRun{Step: h.Name, Attempts: h.Attempts})
		}
	}
	if len(c.Steps) == 0 || c.Steps[0].Step != ProcessPayment.Name() {
		p = append(p, fmt.Sprintf("the child's steps %+v; want ProcessPayment first", c.Steps))
	}
	return c, p
}

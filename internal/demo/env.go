package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

// Env is what the scenarios and the random orders run against: a client, the
// services the workers use (for the ledger and call counts), and the
// connection to watch breaker transitions on.
type Env struct {
	Client   *workflow.Client
	Services *Services
	// NC is the connection breaker transitions are read from.
	NC *nats.Conn
	// Prefix is the namespace of subjects ("jetflow" when empty).
	Prefix string
	// IDPrefix starts every workflow ID, so that runs of several demos on one
	// server do not collide (Start is idempotent on the ID). Default "demo".
	IDPrefix string
	// RunTimeout bounds the wait for one run. Default 30s.
	RunTimeout time.Duration
	// OnRun, when set, is told of each run a scenario starts.
	OnRun func(scenario, workflowID string)
	// OnTransition, when set, is told of each breaker transition seen.
	OnTransition func(Transition)
}

func (e *Env) prefix() string {
	if e.Prefix == "" {
		return "jetflow"
	}
	return e.Prefix
}

func (e *Env) id(parts ...string) string {
	id := e.IDPrefix
	if id == "" {
		id = "demo"
	}
	for _, p := range parts {
		id += "-" + p
	}
	return id
}

// OrderRun is one OrderOrchestration run and what it left behind.
type OrderRun struct {
	WorkflowID string
	Input      OrderInput
	// RunStatus is the run's status (completed, compensation_failed, failed),
	// or "timeout" when it did not end within Env.RunTimeout.
	RunStatus string
	Output    OrderOutput
	History   []workflow.HistoryEntry
	// Effects are the ledger's effects of this order.
	Effects Counts
	Err     error
}

// Status is the order's outcome: its output's status when the run
// completed, the run's status otherwise.
func (o OrderRun) Status() string {
	if o.RunStatus == kv.StatusCompleted && o.Output.Status != "" {
		return o.Output.Status
	}
	if o.RunStatus == "" {
		return "error"
	}
	return o.RunStatus
}

// Entry returns the first history entry of the named step (nil if it did not run).
func (o OrderRun) Entry(step string) *workflow.HistoryEntry {
	for i := range o.History {
		if o.History[i].Name == step && o.History[i].Kind == kv.KindStep {
			return &o.History[i]
		}
	}
	return nil
}

// Attempts is the attempts of the named step (summed if it ran more than once).
func (o OrderRun) Attempts(step string) int {
	n := 0
	for _, h := range o.History {
		if h.Name == step && h.Kind == kv.KindStep {
			n += h.Attempts
		}
	}
	return n
}

// Compensations names the compensations in the order they ran.
func (o OrderRun) Compensations() []string {
	out := []string{}
	for _, h := range o.History {
		if h.Compensation {
			out = append(out, h.Name)
		}
	}
	return out
}

// Channel is the payment channel that charged the order ("" when none).
func (o OrderRun) Channel() string {
	switch {
	case o.Effects.ChargedPrimary > 0:
		return ChannelPrimary
	case o.Effects.ChargedFallback > 0:
		return ChannelFallback
	}
	return ""
}

// RunOrder starts OrderOrchestration with in under the given workflow ID,
// waits for it (at most RunTimeout) and collects its history and effects. Err
// is set when the run could not be started or read; a run that ended
// otherwise than completed is not an error.
func (e *Env) RunOrder(ctx context.Context, scenario, id string, in OrderInput) OrderRun {
	return e.runOrder(ctx, scenario, id, in, nil)
}

// runOrder is RunOrder with act, when set, called once the run has
// started: it talks to the running order (signals it, cancels it). Its
// error is the OrderRun's Err.
func (e *Env) runOrder(ctx context.Context, scenario, id string, in OrderInput, act func(ctx context.Context) error) OrderRun {
	o := OrderRun{WorkflowID: id, Input: in}
	if e.OnRun != nil {
		e.OnRun(scenario, id)
	}
	timeout := e.RunTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	run, err := workflow.Start(rctx, e.Client, OrderOrchestration, id, in)
	if err != nil {
		o.Err = fmt.Errorf("starting %s: %w", id, err)
		return o
	}
	var actErr error
	if act != nil {
		actErr = act(rctx)
	}
	out, err := run.Result(rctx)
	var re *workflow.RunError
	switch {
	case err == nil:
		o.RunStatus, o.Output = kv.StatusCompleted, out
	case errors.As(err, &re):
		o.RunStatus, o.Output = re.Status, out
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		o.RunStatus = "timeout"
	default:
		o.Err = fmt.Errorf("waiting for %s: %w", id, err)
		return o
	}
	// The history is read even after a timeout: it shows where the run stuck.
	hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer hcancel()
	if o.History, err = e.Client.History(hctx, id); err != nil {
		o.Err = fmt.Errorf("reading the history of %s: %w", id, err)
	}
	if actErr != nil && o.Err == nil {
		o.Err = fmt.Errorf("%s: %w", id, actErr)
	}
	// An attempt a cancel interrupted may still be recording its effect.
	if err := e.Services.Idle(hctx, in.OrderID); err != nil && o.Err == nil {
		o.Err = err
	}
	if effects, err := e.Services.Ledger.Effects(hctx); err == nil {
		o.Effects = Count(ForOrder(effects, in.OrderID))
	} else if o.Err == nil {
		o.Err = fmt.Errorf("reading the ledger: %w", err)
	}
	return o
}

// WantEffects is what the ledger must hold for one order that ended with
// status: each effect once, and what was undone undone once.
func WantEffects(status string) (Counts, bool) {
	switch status {
	case StatusCompleted:
		return Counts{Reserved: 1, Charged: 1, Shipped: 1, Notified: 1}, true
	case StatusValidationFailed, StatusOutOfStock:
		return Counts{}, true
	case StatusPaymentFailed:
		return Counts{Reserved: 1, Released: 1}, true
	case StatusShipmentFailed:
		return Counts{Reserved: 1, Released: 1, Charged: 1, Refunded: 1}, true
	}
	return Counts{}, false
}

// CheckEffects compares an order's effects with what its status calls for.
// A canceled order must have undone each effect it had (CheckCanceled).
func CheckEffects(status string, got Counts) []string {
	if status == StatusCanceled {
		return CheckCanceled(got)
	}
	want, ok := WantEffects(status)
	if !ok {
		return nil
	}
	var problems []string
	cmp := func(what string, g, w int) {
		if g != w {
			problems = append(problems, fmt.Sprintf("ledger: %s %d times, want %d", what, g, w))
		}
	}
	cmp("reserved", got.Reserved, want.Reserved)
	cmp("released", got.Released, want.Released)
	cmp("charged", got.Charged, want.Charged)
	cmp("refunded", got.Refunded, want.Refunded)
	cmp("shipped", got.Shipped, want.Shipped)
	cmp("notified", got.Notified, want.Notified)
	return problems
}

// CheckCanceled checks the effects of a canceled order: each at most once,
// each undone (reserved → released, charged → refunded in full, shipped →
// called back), and no notification. Where the cancel came decides which
// effects there are; a step that was running then may have had its effect
// or been voided.
func CheckCanceled(got Counts) []string {
	var problems []string
	for _, k := range []struct {
		what string
		n    int
	}{{"reserved", got.Reserved}, {"released", got.Released}, {"charged", got.Charged}, {"refunded", got.Refunded},
		{"shipped", got.Shipped}, {"called back", got.ShipmentsCanceled}, {"notified", got.Notified}} {
		if k.n > 1 {
			problems = append(problems, fmt.Sprintf("ledger: %s %d times, want at most once", k.what, k.n))
		}
	}
	undone := func(did, undid string, d, u int) {
		if d != u {
			problems = append(problems, fmt.Sprintf("ledger: %s %d times and %s %d times, want as many", did, d, undid, u))
		}
	}
	undone("reserved", "released", got.Reserved, got.Released)
	undone("charged", "refunded", got.Charged, got.Refunded)
	undone("shipped", "called back", got.Shipped, got.ShipmentsCanceled)
	if got.RefundedAmount != got.ChargedAmount {
		problems = append(problems, fmt.Sprintf("ledger: refunded %.2f of %.2f charged", got.RefundedAmount, got.ChargedAmount))
	}
	if got.Notified != 0 {
		problems = append(problems, fmt.Sprintf("ledger: notified %d times, want 0", got.Notified))
	}
	return problems
}

package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Result is the outcome of one scenario, as `jetflow demo --json` prints it.
type Result struct {
	Scenario      string  `json:"scenario"`
	WorkflowID    string  `json:"workflow_id"`
	Status        string  `json:"status"`
	TransactionID *string `json:"transaction_id"`
	ShipmentID    *string `json:"shipment_id"`
	// Compensations names the compensations in the order they ran.
	Compensations []string `json:"compensations"`
	// Attempts is the attempts of each step that ran.
	Attempts map[string]int `json:"attempts"`
	// Steps is the run's steps in order, with attempts and final error.
	Steps    []StepRun `json:"steps"`
	Expected string    `json:"expected"`
	OK       bool      `json:"ok"`
	// Problems says how the scenario ended other than expected.
	Problems   []string `json:"problems,omitempty"`
	DurationMS float64  `json:"duration_ms"`
	// Breaker is the breaker scenario's report.
	Breaker *BreakerReport `json:"breaker,omitempty"`
	// Orders lists the orders of a scenario that runs several (await_3ds);
	// the fields above are the first one's.
	Orders []ScenarioOrder `json:"orders,omitempty"`
	// Stuck is terminate_stuck's report on its stuck step.
	Stuck *StuckReport `json:"stuck,omitempty"`
	// Child is the child workflow child_payment ran the payment in.
	Child *ChildReport `json:"child,omitempty"`
	// Schedule is scheduled_reconciliation's report on its schedule; the
	// fields above are its first run's.
	Schedule *ScheduleReport `json:"schedule,omitempty"`
}

// StepRun is one step of a run as a scenario reports it.
type StepRun struct {
	Step         string `json:"step"`
	Attempts     int    `json:"attempts"`
	Compensation bool   `json:"compensation,omitempty"`
	// Error is the type of the step's final error, "" when it succeeded.
	Error string `json:"error,omitempty"`
	// Unfinished is set when the run ended before the step had a result
	// (terminated while the step retried).
	Unfinished bool `json:"unfinished,omitempty"`
}

// Scenario is one of the source document's situations, run as an order.
type Scenario struct {
	Name string
	// Expected says, in words, how the scenario must end.
	Expected string
	run      func(ctx context.Context, env *Env, sc Scenario) Result
	// order builds the scenario's input; check says what is wrong with its run.
	order func(id string) OrderInput
	check func(o OrderRun) []string
}

// Scenarios returns the eight scenarios of issue 3, then those of issue 10
// that talk to running orders, then issue 11's schedule, which reconciles
// what the others left in the ledger, in the order the demo runs them.
func Scenarios() []Scenario {
	return slices.Concat(documentScenarios(), talkScenarios(), scheduleScenarios())
}

// documentScenarios are the source document's situations (issue 3).
func documentScenarios() []Scenario {
	return []Scenario{
		{Name: "happy_path", Expected: "completed, transaction and shipment IDs set",
			order: func(id string) OrderInput { return NewOrder(id, "user-1") },
			check: func(o OrderRun) []string {
				p := want(o, StatusCompleted)
				p = append(p, wantIDs(o, true, true)...)
				p = append(p, wantCompensations(o)...)
				for _, st := range []string{ValidateOrder.Name(), ReserveInventory.Name(), ProcessPayment.Name(), CreateShipment.Name(), SendNotification.Name()} {
					p = append(p, wantAttempts(o, st, 1)...)
				}
				return p
			}},
		{Name: "invalid_order", Expected: "validation_failed, no other step ran",
			order: func(id string) OrderInput {
				in := NewOrder(id, "user-2")
				in.Items[0].Quantity = 0
				in.TotalAmount = 0
				return in
			},
			check: func(o OrderRun) []string {
				p := want(o, StatusValidationFailed)
				if got := o.stepNames(); !slices.Equal(got, []string{ValidateOrder.Name()}) {
					p = append(p, fmt.Sprintf("steps %v ran, want only ValidateOrder", got))
				}
				return p
			}},
		{Name: "out_of_stock", Expected: "out_of_stock, ReserveInventory attempted once (non-retryable InsufficientStock)",
			order: func(id string) OrderInput {
				in := NewOrder(id, "user-3")
				in.Items[0].ProductID = SoldOutPrefix + "-CONSOLE"
				return in
			},
			check: func(o OrderRun) []string {
				p := want(o, StatusOutOfStock)
				p = append(p, wantAttempts(o, ReserveInventory.Name(), 1)...)
				p = append(p, wantError(o, ReserveInventory.Name(), ErrTypeInsufficientStock)...)
				return p
			}},
		{Name: "flaky_inventory", Expected: "completed, ReserveInventory attempted 3 times with backoff",
			order: func(id string) OrderInput {
				in := NewOrder(id, "user-4")
				in.Faults = []string{FaultInventoryFlaky}
				return in
			},
			check: func(o OrderRun) []string {
				p := want(o, StatusCompleted)
				p = append(p, wantAttempts(o, ReserveInventory.Name(), FlakyFailures+1)...)
				// Backoff: 100 ms before the second attempt, 200 ms before the third.
				if h := o.Entry(ReserveInventory.Name()); h != nil && h.Duration() < 300*time.Millisecond {
					p = append(p, fmt.Sprintf("ReserveInventory took %s over its attempts, want at least 300ms of backoff", h.Duration()))
				}
				return p
			}},
		{Name: "payment_declined", Expected: "payment_failed, ReleaseInventory ran once",
			order: func(id string) OrderInput { return NewOrder(id, BrokeUserPrefix+"-user-5") },
			check: func(o OrderRun) []string {
				p := want(o, StatusPaymentFailed)
				p = append(p, wantCompensations(o, ReleaseInventory.Name())...)
				p = append(p, wantAttempts(o, ReleaseInventory.Name(), 1)...)
				p = append(p, wantIDs(o, false, false)...)
				return p
			}},
		{Name: "shipment_failed", Expected: "shipment_failed with the transaction ID; RefundPayment then ReleaseInventory, once each",
			order: func(id string) OrderInput {
				in := NewOrder(id, "user-6")
				in.Faults = []string{FaultShippingDown}
				return in
			},
			check: func(o OrderRun) []string {
				p := want(o, StatusShipmentFailed)
				p = append(p, wantIDs(o, true, false)...)
				p = append(p, wantCompensations(o, RefundPayment.Name(), ReleaseInventory.Name())...)
				p = append(p, wantAttempts(o, RefundPayment.Name(), 1)...)
				p = append(p, wantAttempts(o, ReleaseInventory.Name(), 1)...)
				return p
			}},
		{Name: "payment_fallback", Expected: "primary channel down; charged on the fallback channel; completed",
			order: func(id string) OrderInput {
				in := NewOrder(id, "user-7")
				in.Faults = []string{FaultPrimaryDown}
				return in
			},
			check: func(o OrderRun) []string {
				p := want(o, StatusCompleted)
				p = append(p, wantIDs(o, true, true)...)
				if h := o.Entry(ProcessPayment.Name()); h == nil || h.Error == nil {
					p = append(p, "ProcessPayment did not fail")
				}
				if o.Effects.ChargedFallback != 1 || o.Effects.ChargedPrimary != 0 {
					p = append(p, fmt.Sprintf("charged %d times on the primary channel and %d on the fallback, want 0 and 1", o.Effects.ChargedPrimary, o.Effects.ChargedFallback))
				}
				return p
			}},
		{Name: "breaker", Expected: fmt.Sprintf("the shared breaker opens after %d primary failures; the next orders skip the primary and pay through the fallback; after %s one half-open probe succeeds and the breaker closes", BreakerThreshold, BreakerResetTimeout),
			run: runBreaker},
	}
}

// ScenarioNames lists the scenarios in the demo's order.
func ScenarioNames() []string {
	var out []string
	for _, sc := range Scenarios() {
		out = append(out, sc.Name)
	}
	return out
}

// RunScenario runs the named scenario; an unknown name gives ErrUnknownName.
func RunScenario(ctx context.Context, env *Env, name string) (Result, error) {
	for _, sc := range Scenarios() {
		if sc.Name == name {
			return sc.Run(ctx, env), nil
		}
	}
	return Result{}, fmt.Errorf("%w: scenario %q (known: %s)", ErrUnknownName, name, strings.Join(ScenarioNames(), ", "))
}

// Run runs the scenario and checks its outcome.
func (sc Scenario) Run(ctx context.Context, env *Env) Result {
	start := time.Now()
	var r Result
	if sc.run != nil {
		r = sc.run(ctx, env, sc)
	} else {
		o := env.RunOrder(ctx, sc.Name, env.id(sc.Name), sc.order(env.id(sc.Name)))
		r = resultOf(sc, o)
		r.Problems = append(r.Problems, sc.check(o)...)
		r.Problems = append(r.Problems, CheckEffects(o.Status(), o.Effects)...)
	}
	r.Scenario, r.Expected = sc.Name, sc.Expected
	r.OK = len(r.Problems) == 0
	r.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	return r
}

// resultOf fills a Result with one run's outcome.
func resultOf(sc Scenario, o OrderRun) Result {
	r := Result{Scenario: sc.Name, WorkflowID: o.WorkflowID, Status: o.Status(), Compensations: o.Compensations(), Attempts: map[string]int{}, Steps: []StepRun{}}
	r.TransactionID, r.ShipmentID = o.Output.TransactionID, o.Output.ShipmentID
	for _, h := range o.History {
		if h.Kind != "step" {
			continue
		}
		r.Attempts[h.Name] += h.Attempts
		s := StepRun{Step: h.Name, Attempts: h.Attempts, Compensation: h.Compensation}
		if h.Error != nil {
			s.Error = h.Error.Type
		}
		s.Unfinished = !h.Done
		r.Steps = append(r.Steps, s)
	}
	if o.Err != nil {
		r.Problems = append(r.Problems, o.Err.Error())
	}
	return r
}

// NewOrder returns a valid order of two items for user.
func NewOrder(orderID, user string) OrderInput {
	return OrderInput{
		OrderID: orderID,
		UserID:  user,
		Items: []OrderItem{
			{ProductID: "SKU-KEYBOARD", Quantity: 1, Price: 89.90},
			{ProductID: "SKU-CABLE", Quantity: 2, Price: 5.05},
		},
		TotalAmount:     100.00,
		ShippingAddress: "1 Example Road, Springfield",
	}
}

func (o OrderRun) stepNames() []string {
	var out []string
	for _, h := range o.History {
		if h.Kind == "step" {
			out = append(out, h.Name)
		}
	}
	return out
}

func want(o OrderRun, status string) []string {
	if got := o.Status(); got != status {
		return []string{fmt.Sprintf("status %s, want %s", got, status)}
	}
	return nil
}

func wantIDs(o OrderRun, tx, ship bool) []string {
	var p []string
	if got := o.Output.TransactionID != nil && *o.Output.TransactionID != ""; got != tx {
		p = append(p, fmt.Sprintf("transaction ID set: %v, want %v", got, tx))
	}
	if got := o.Output.ShipmentID != nil && *o.Output.ShipmentID != ""; got != ship {
		p = append(p, fmt.Sprintf("shipment ID set: %v, want %v", got, ship))
	}
	return p
}

func wantCompensations(o OrderRun, names ...string) []string {
	if got := o.Compensations(); !slices.Equal(got, names) {
		return []string{fmt.Sprintf("compensations %v, want %v", got, names)}
	}
	return nil
}

func wantAttempts(o OrderRun, step string, n int) []string {
	if got := o.Attempts(step); got != n {
		return []string{fmt.Sprintf("%s attempted %d times, want %d", step, got, n)}
	}
	return nil
}

func wantError(o OrderRun, step, typ string) []string {
	h := o.Entry(step)
	if h == nil || h.Error == nil || h.Error.Type != typ {
		return []string{fmt.Sprintf("%s did not fail with %s", step, typ)}
	}
	return nil
}

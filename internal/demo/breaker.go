package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go"
)

// Breaker states as the scenario compares them (transition subjects may
// spell half-open with '-', '_' or nothing).
const (
	stateOpen     = "open"
	stateHalfOpen = "halfopen"
	stateClosed   = "closed"
)

// Transition is one breaker transition seen on <prefix>.breaker.<name>.<state>.
type Transition struct {
	Breaker string    `json:"breaker"`
	State   string    `json:"state"`
	Subject string    `json:"subject"`
	At      time.Time `json:"at"`
	// Event is the transition's JSON payload as published.
	Event json.RawMessage `json:"event,omitempty"`
}

func normState(s string) string {
	return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s))
}

// BreakerReport is what the breaker scenario saw.
type BreakerReport struct {
	Name        string       `json:"name"`
	Transitions []Transition `json:"transitions"`
	// PrimaryFailuresBeforeOpen counts the primary channel's failed calls
	// until the breaker opened.
	PrimaryFailuresBeforeOpen int `json:"primary_failures_before_open"`
	// OrdersWhileOpen were paid while the breaker was open;
	// PrimaryCallsWhileOpen must be 0.
	OrdersWhileOpen       int `json:"orders_while_open"`
	PrimaryCallsWhileOpen int `json:"primary_calls_while_open"`
	// ProbeCalls is how many primary calls the first order after the reset
	// timeout made: the half-open probe.
	ProbeCalls int `json:"probe_calls"`
	// Orders lists every order the scenario ran.
	Orders []BreakerOrder `json:"orders"`
}

// BreakerOrder is one order of the breaker scenario.
type BreakerOrder struct {
	Phase      string `json:"phase"`
	WorkflowID string `json:"workflow_id"`
	Status     string `json:"status"`
	// Channel charged the order.
	Channel string `json:"channel"`
	// PrimaryCalls counts the calls that reached the primary channel's
	// service; PrimaryError is the primary step's final error type.
	PrimaryCalls int    `json:"primary_calls"`
	PrimaryError string `json:"primary_error,omitempty"`
}

// watchBreaker collects the transitions of one breaker.
type watchBreaker struct {
	mu   sync.Mutex
	seen []Transition
	sub  *nats.Subscription
	cond chan struct{}
}

func (e *Env) watchBreaker(name string) (*watchBreaker, error) {
	w := &watchBreaker{cond: make(chan struct{}, 1)}
	subj := e.prefix() + ".breaker." + name + ".>"
	sub, err := e.NC.Subscribe(subj, func(m *nats.Msg) {
		tok := strings.Split(m.Subject, ".")
		t := Transition{Breaker: name, State: tok[len(tok)-1], Subject: m.Subject, At: time.Now().UTC()}
		if json.Valid(m.Data) {
			t.Event = json.RawMessage(m.Data)
		}
		w.mu.Lock()
		w.seen = append(w.seen, t)
		w.mu.Unlock()
		select {
		case w.cond <- struct{}{}:
		default:
		}
		if e.OnTransition != nil {
			e.OnTransition(t)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("demo: watching %s: %w", subj, err)
	}
	// Make sure the server has the interest before anything can trip.
	if err := e.NC.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("demo: watching %s: %w", subj, err)
	}
	w.sub = sub
	return w, nil
}

func (w *watchBreaker) stop() { _ = w.sub.Unsubscribe() }

func (w *watchBreaker) transitions() []Transition {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Transition(nil), w.seen...)
}

// waitFor waits up to d for a transition to state after index from, and
// returns its index, or -1.
func (w *watchBreaker) waitFor(ctx context.Context, state string, from int, d time.Duration) int {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		for i, t := range w.transitions() {
			if i >= from && normState(t.State) == state {
				return i
			}
		}
		select {
		case <-w.cond:
		case <-deadline.C:
			return -1
		case <-ctx.Done():
			return -1
		}
	}
}

// runBreaker: a healthy order first (the breaker is closed and its failure
// count reset), then orders with the primary channel down until the breaker
// opens, two healthy orders while it is open (they must not call the
// primary), and after the reset timeout one healthy order whose half-open
// probe closes the breaker, then one more on the primary channel.
func runBreaker(ctx context.Context, env *Env, sc Scenario) Result {
	rep := &BreakerReport{Name: PrimaryBreakerName, Transitions: []Transition{}, Orders: []BreakerOrder{}}
	fail := func(r Result, format string, args ...any) Result {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
		rep.Transitions = nil
		r.Breaker = rep
		return r
	}
	w, err := env.watchBreaker(PrimaryBreakerName)
	if err != nil {
		return fail(Result{Scenario: sc.Name}, "%v", err)
	}
	defer w.stop()
	primary := ProcessPayment.Name()
	n := 0
	order := func(phase string, faults ...string) OrderRun {
		n++
		id := env.id(sc.Name, fmt.Sprint(n), phase)
		in := NewOrder(id, "user-8")
		in.Faults = faults
		calls := env.Services.Calls(primary)
		o := env.RunOrder(ctx, sc.Name, id, in)
		bo := BreakerOrder{Phase: phase, WorkflowID: id, Status: o.Status(), Channel: o.Channel(), PrimaryCalls: env.Services.Calls(primary) - calls}
		if h := o.Entry(primary); h != nil && h.Error != nil {
			bo.PrimaryError = h.Error.Type
		}
		rep.Orders = append(rep.Orders, bo)
		return o
	}
	var problems []string
	check := func(o OrderRun) {
		if o.Err != nil {
			problems = append(problems, o.Err.Error())
		}
		if s := o.Status(); s != StatusCompleted {
			problems = append(problems, fmt.Sprintf("%s ended %s, want completed", o.WorkflowID, s))
		}
		problems = append(problems, CheckEffects(o.Status(), o.Effects)...)
	}

	// 1. Start closed, with no failures counted: a healthy order paid on the
	// primary. A breaker left open by an earlier run (the state outlives
	// processes) gets its reset timeout first.
	for try := 0; ; try++ {
		o := order("warmup")
		check(o)
		if o.Channel() == ChannelPrimary {
			break
		}
		if try == 2 {
			return finishBreaker(sc, o, rep, w, append(problems, "the primary channel never took a warm-up order"))
		}
		time.Sleep(BreakerResetTimeout + 200*time.Millisecond)
	}

	// 2. Trip it: orders whose primary channel is down, until it opens.
	before := env.Services.Calls(primary)
	openAt := -1
	for i := 0; i < 2*BreakerThreshold && openAt < 0; i++ {
		check(order("primary_down", FaultPrimaryDown))
		openAt = w.waitFor(ctx, stateOpen, 0, 300*time.Millisecond)
	}
	rep.PrimaryFailuresBeforeOpen = env.Services.Calls(primary) - before
	if openAt < 0 {
		return finishBreaker(sc, rep.last(), rep, w, append(problems, fmt.Sprintf("the breaker did not open after %d primary failures", rep.PrimaryFailuresBeforeOpen)))
	}
	openedAt := time.Now()
	if rep.PrimaryFailuresBeforeOpen != BreakerThreshold {
		problems = append(problems, fmt.Sprintf("the breaker opened after %d primary failures, want %d", rep.PrimaryFailuresBeforeOpen, BreakerThreshold))
	}

	// 3. While open: healthy orders do not reach the primary, and pay on the fallback.
	before = env.Services.Calls(primary)
	for range 2 {
		o := order("while_open")
		rep.OrdersWhileOpen++
		check(o)
		if o.Channel() != ChannelFallback {
			problems = append(problems, fmt.Sprintf("%s paid on the %q channel while the breaker was open, want fallback", o.WorkflowID, o.Channel()))
		}
		if h := o.Entry(primary); h == nil || h.Error == nil || h.Error.Type != steps.TypeBreakerOpen {
			problems = append(problems, fmt.Sprintf("%s: ProcessPayment did not fail with %s", o.WorkflowID, steps.TypeBreakerOpen))
		}
	}
	rep.PrimaryCallsWhileOpen = env.Services.Calls(primary) - before
	if rep.PrimaryCallsWhileOpen != 0 {
		problems = append(problems, fmt.Sprintf("the primary channel was called %d times while the breaker was open, want 0", rep.PrimaryCallsWhileOpen))
	}

	// 4. After the reset timeout, one half-open probe succeeds and closes it.
	if wait := time.Until(openedAt.Add(BreakerResetTimeout + 150*time.Millisecond)); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return finishBreaker(sc, OrderRun{}, rep, w, append(problems, ctx.Err().Error()))
		}
	}
	before = env.Services.Calls(primary)
	probe := order("probe")
	check(probe)
	rep.ProbeCalls = env.Services.Calls(primary) - before
	if rep.ProbeCalls != 1 || probe.Channel() != ChannelPrimary {
		problems = append(problems, fmt.Sprintf("the probe order called the primary %d times and paid on %q, want 1 call and primary", rep.ProbeCalls, probe.Channel()))
	}
	if w.waitFor(ctx, stateClosed, openAt, time.Second) < 0 {
		problems = append(problems, "the breaker did not close after the probe")
	}
	if w.waitFor(ctx, stateHalfOpen, openAt, 0) < 0 {
		problems = append(problems, "no half-open transition was published")
	}

	// 5. Closed again: the next order pays on the primary.
	if after := order("closed"); after.Channel() != ChannelPrimary {
		problems = append(problems, fmt.Sprintf("%s paid on %q after the breaker closed, want primary", after.WorkflowID, after.Channel()))
	} else {
		check(after)
	}
	return finishBreaker(sc, probe, rep, w, problems)
}

// last names the scenario's latest order, for a result that ends early.
func (rep *BreakerReport) last() OrderRun {
	if len(rep.Orders) == 0 {
		return OrderRun{}
	}
	last := rep.Orders[len(rep.Orders)-1]
	return OrderRun{WorkflowID: last.WorkflowID, RunStatus: last.Status}
}

func finishBreaker(sc Scenario, o OrderRun, rep *BreakerReport, w *watchBreaker, problems []string) Result {
	r := resultOf(sc, o)
	if o.Status() == "error" && o.WorkflowID == "" {
		r.Status = ""
	}
	rep.Transitions = w.transitions()
	r.Breaker = rep
	r.Problems = append(r.Problems, problems...)
	return r
}

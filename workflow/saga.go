package workflow

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
)

// DefaultCompensationRetry retries a compensation with backoff for a long
// time, but not forever: 20 attempts from 1s, doubling, at most one minute
// apart — about fifteen minutes in all. A compensation that still fails ends
// the run compensation_failed; it is never dropped.
var DefaultCompensationRetry = steps.RetryPolicy{
	MaxAttempts:        20,
	InitialInterval:    time.Second,
	MaxInterval:        time.Minute,
	BackoffCoefficient: 2,
}

// Saga collects compensations as a workflow makes progress and runs them in
// reverse order when it must undo it:
//
//	saga := workflow.NewSaga(ctx)
//	workflow.AddCompensation(saga, ReleaseInventory, reservationID)
//	...
//	if err != nil { _ = saga.Compensate(ctx); return ... }
//
// Each compensation is a durable step with its own retry policy
// (DefaultCompensationRetry unless the Saga's options say otherwise). The
// compiler checks that a compensation's input has the step's input type.
type Saga struct {
	opts  steps.Options
	comps []comp
}

type comp struct {
	name     string
	validate func() error
	input    any
}

// NewSaga returns an empty saga whose compensations run with the step
// options of ctx, except that the retry policy defaults to
// DefaultCompensationRetry.
func NewSaga(ctx Context) *Saga {
	o := StepOptions(ctx)
	rp := DefaultCompensationRetry
	o.RetryPolicy = &rp
	o.Breaker = nil
	return &Saga{opts: o}
}

// WithOptions sets the step options (retry policy included) of the saga's
// compensations and returns the saga.
func (s *Saga) WithOptions(o steps.Options) *Saga {
	s.opts = o
	return s
}

// AddCompensation registers step(input) to run if saga compensates. It is a
// function rather than a method so that the compiler checks input against
// the step's input type.
func AddCompensation[I, O any](saga *Saga, step *steps.Definition[I, O], input I) {
	saga.comps = append(saga.comps, comp{name: step.Name(), validate: step.Validate, input: input})
}

// Compensate runs the compensations in reverse order of addition, each to
// completion (with its retries) before the next. One that fails for good, or
// cannot even be scheduled, does not stop the others; the run then ends
// compensation_failed with every failure, whatever the workflow returns, and
// Compensate returns a *CompensationError. Compensate runs the compensations
// once: a second call does nothing.
func (s *Saga) Compensate(ctx Context) error {
	e := ctx.state().e
	comps := s.comps
	s.comps = nil
	if len(comps) == 0 {
		return nil
	}
	prev := e.compensating
	e.compensating = true
	defer func() { e.compensating = prev }()
	// Compensations run also when the run was canceled: that is when they
	// are needed.
	cctx := WithStepOptions(NewDisconnectedContext(ctx), s.opts)
	var failures []CompensationFailure
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		sl := scheduleStep(cctx, c.name, c.validate, c.input)
		if i == len(comps)-1 && e.matched >= len(e.recorded) {
			e.emit(wire.Event{Event: wire.EventCompensating, Seq: sl.seq, Step: c.name, Compensation: true})
		}
		f := Future[struct{}]{e: e, s: sl, discard: true}
		if _, err := f.Get(cctx); err != nil {
			fail := CompensationFailure{Step: c.name, Seq: sl.seq, Message: err.Error()}
			var se *StepError
			if errors.As(err, &se) {
				fail.Type, fail.Message, fail.Attempts = se.Err.Type, se.Err.Message, se.Attempts
			}
			failures = append(failures, fail)
		}
	}
	if len(failures) > 0 {
		ce := &CompensationError{Failures: failures, Step: failures[0].Step, Seq: failures[0].Seq}
		if e.compensationErr == nil {
			e.compensationErr = ce
		}
		return ce
	}
	return nil
}

// CompensationFailure is one compensation that failed for good.
type CompensationFailure struct {
	Step     string `msgpack:"st" json:"step"`
	Seq      int    `msgpack:"s" json:"seq"`
	Attempts int    `msgpack:"a" json:"attempts"`
	Type     string `msgpack:"t" json:"type"`
	Message  string `msgpack:"m" json:"message"`
}

// CompensationError says which compensations failed and why. A run that
// records one ends with status compensation_failed.
type CompensationError struct {
	// Step and Seq name the first failure.
	Step     string                `msgpack:"st"`
	Seq      int                   `msgpack:"s"`
	Failures []CompensationFailure `msgpack:"f"`
}

func (e *CompensationError) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = fmt.Sprintf("%s (position %d, %d attempts): %s: %s", f.Step, f.Seq, f.Attempts, f.Type, f.Message)
	}
	return "jetflow: compensation failed: " + strings.Join(parts, "; ")
}

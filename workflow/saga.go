package workflow

import (
	"fmt"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
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

// CompensationStep is a step that can undo another: any *steps.Definition.
type CompensationStep interface {
	Name() string
	AcceptsInput(v any) bool
	Validate() error
}

// Saga collects compensations as a workflow makes progress and runs them in
// reverse order when it must undo it:
//
//	saga := workflow.NewSaga(ctx)
//	saga.AddCompensation(ReleaseInventory, reservationID)
//	...
//	if err != nil { saga.Compensate(ctx); return ... }
//
// Each compensation is a durable step with its own retry policy
// (DefaultCompensationRetry unless the Saga's options say otherwise).
type Saga struct {
	opts  steps.Options
	comps []comp
	err   error
}

type comp struct {
	step  CompensationStep
	input any
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

// AddCompensation registers step(input) to run if the saga compensates. An
// input of the wrong type is reported by Compensate, not by a panic.
func (s *Saga) AddCompensation(step CompensationStep, input any) {
	if err := step.Validate(); err != nil && s.err == nil {
		s.err = err
	}
	if !step.AcceptsInput(input) && s.err == nil {
		s.err = fmt.Errorf("jetflow: compensation %s does not take a %T", step.Name(), input)
	}
	s.comps = append(s.comps, comp{step: step, input: input})
}

// Compensate runs the compensations in reverse order of addition, each to
// completion (with its retries) before the next. One that fails for good does
// not stop the others; the run then ends compensation_failed with every
// failure, whatever the workflow returns, and Compensate returns a
// *CompensationError. Compensate runs the compensations once: a second call
// does nothing.
func (s *Saga) Compensate(ctx Context) error {
	e := ctx.state().e
	if s.err != nil {
		return s.err
	}
	comps := s.comps
	s.comps = nil
	if len(comps) == 0 {
		return nil
	}
	prev := e.compensating
	e.compensating = true
	defer func() { e.compensating = prev }()
	cctx := WithStepOptions(ctx, s.opts)
	var failures []CompensationFailure
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		f := executeUntyped(cctx, c.step.Name(), c.input)
		if f.seq > e.recorded && i == len(comps)-1 {
			e.emit(wire.Event{Event: wire.EventCompensating, Seq: f.seq, Step: c.step.Name(), Compensation: true})
		}
		if _, err := f.Get(cctx); err != nil {
			fail := CompensationFailure{Step: c.step.Name(), Seq: f.seq, Message: err.Error()}
			if se, ok := err.(*StepError); ok {
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

// executeUntyped schedules a step whose input type was checked when it was
// added; the output is not needed.
func executeUntyped(ctx Context, name string, in any) Future[struct{}] {
	s := ctx.state()
	e := s.e
	seq, isNew := e.next(kv.KindStep, name)
	f := Future[struct{}]{e: e, seq: seq, kind: kv.KindStep, name: name, discard: true}
	if !isNew {
		return f
	}
	data, err := kv.Marshal(in)
	if err != nil {
		f.err = fmt.Errorf("jetflow: encoding the input of compensation %s: %w", name, err)
		return f
	}
	t := steps.NewTask(e.run.Workflow, e.run.ID, name, seq, data, s.opts, time.Now())
	t.Compensation = true
	e.newSteps = append(e.newSteps, t)
	return f
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

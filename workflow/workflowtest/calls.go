package workflowtest

import (
	"encoding/json"
	"time"

	"github.com/jetflow-dev/jetflow/internal/jsonpayload"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/internal/kit"
)

// Call is one attempt of a step, as the Env ran it: a fake's call, a
// registered handler's, or one the engine failed without calling either
// (Refused).
type Call struct {
	WorkflowID string
	Step       string
	// Seq is the step's position in its run; Attempt counts from 1.
	Seq     int
	Attempt int
	// Compensation is true for a step a saga ran to undo another.
	Compensation bool
	// At is the virtual time the attempt started, Ended when its outcome
	// reached the run (zero while in flight).
	At, Ended time.Time
	// Err is the attempt's error, nil when it succeeded.
	Err *steps.Error
	// Refused is true for an attempt failed without calling the handler:
	// refused by an open circuit breaker (Err's Type is BreakerOpen), or
	// past its schedule-to-close timeout.
	Refused bool

	input, output []byte
	decode        func(what string, data []byte, v any) error
}

// InputJSON is the attempt's input as JSON (as `jetflow history` prints it).
func (c Call) InputJSON() json.RawMessage {
	out, err := jsonpayload.ToJSON(c.input)
	if err != nil {
		return nil
	}
	return out
}

// Input decodes the input of c, a call of step, into the step's input type.
// A call of another step, or an input that does not decode, is an error.
func Input[I, O any](c Call, step *steps.Definition[I, O]) (I, error) {
	var in I
	if c.Step != step.Name() {
		return in, &WrongStepError{Call: c.Step, Step: step.Name()}
	}
	err := c.decode("the input of step "+c.Step, c.input, &in)
	return in, err
}

// Output decodes the output of c, a successful call of step.
func Output[I, O any](c Call, step *steps.Definition[I, O]) (O, error) {
	var out O
	if c.Step != step.Name() {
		return out, &WrongStepError{Call: c.Step, Step: step.Name()}
	}
	err := c.decode("the output of step "+c.Step, c.output, &out)
	return out, err
}

// Calls are every step attempt the Env ran, in the order they started,
// compensations included.
func (env *Env) Calls() []Call {
	kc := env.e.Calls()
	out := make([]Call, len(kc))
	for i, c := range kc {
		out[i] = callOf(c, env.e.Decode)
	}
	return out
}

// CallsOf are the attempts of the named step, in order.
func (env *Env) CallsOf(step string) []Call {
	var out []Call
	for _, c := range env.Calls() {
		if c.Step == step {
			out = append(out, c)
		}
	}
	return out
}

// Compensations are the attempts of compensations (steps a saga ran to undo
// others), in the order they started: the reverse of the order they were
// added, each attempt of a retried one listed.
func (env *Env) Compensations() []Call {
	var out []Call
	for _, c := range env.Calls() {
		if c.Compensation {
			out = append(out, c)
		}
	}
	return out
}

// History is the timeline of the run id (the current execution of a run
// that continued as new) as workflow.Client.History returns it: every
// decision in order, with its outcome. ExecuteWorkflow's run is
// History(WithID's ID), by default "<workflow>-<n>" for the n-th run of
// the Env. Nil for an ID the Env has not run, and for a faked child.
func (env *Env) History(id string) []workflow.HistoryEntry {
	h, _ := env.e.History(id).([]workflow.HistoryEntry)
	return h
}

// BreakerEvents are the circuit breaker transitions so far, in order: what
// a worker publishes on <prefix>.breaker.<name>.<state>. Breakers are kept
// for the Env's life, so that runs one after the other share them.
func (env *Env) BreakerEvents() []steps.BreakerEvent { return env.e.BreakerEvents() }

func callOf(c kit.Call, decode func(string, []byte, any) error) Call {
	return Call{WorkflowID: c.WorkflowID, Step: c.Step, Seq: c.Seq, Attempt: c.Attempt, Compensation: c.Compensation,
		At: c.At, Ended: c.Ended, Err: c.Err, Refused: c.Refused, input: c.Input, output: c.Output, decode: decode}
}

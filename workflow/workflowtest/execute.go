package workflowtest

import (
	"fmt"
	"strconv"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
)

// ExecuteWorkflow runs def with input in, in env, until it ends, and
// returns what workflow.Run.Result would: its output, and for a run that
// ended other than completed a *workflow.RunError (errors.As it for the
// *workflow.CanceledError, *workflow.CompensationError, or the step's
// *steps.Error the run failed with). Timers, retry backoffs and the
// callbacks of At fire in virtual time, in order, at once.
//
// Once the run has ended, and every child it started has ended or waits
// with nothing scheduled, each of their histories is replayed in a fresh
// execution, as a worker that lost a run from its cache would: a replay
// that does not make the same decisions fails the test with the
// *workflow.NonDeterminismError a deployment would hit (WithReplayEveryTask
// replays after every task as well). A run still waiting when nothing is
// left to happen (a signal that never comes) returns a *BlockedError.
func ExecuteWorkflow[I, O any](env *Env, def *workflow.Definition[I, O], in I, opts ...RunOption) (O, error) {
	env.t.Helper()
	var out O
	var rc runConfig
	for _, o := range opts {
		o(&rc)
	}
	env.runs++
	id := rc.id
	if id == "" {
		id = def.Name() + "-" + strconv.Itoa(env.runs)
	}
	input, err := kv.MarshalPayload(in)
	if err != nil {
		return out, fmt.Errorf("jetflow: encoding the input of %s: %w", def.Name(), err)
	}
	if err := env.e.Start(def, id, input); err != nil {
		return out, err
	}
	env.current, env.running = id, true
	start := env.e.Now()
	for _, p := range env.pending {
		if p.when != nil {
			env.e.When(id, p.when, p.fn)
		} else {
			env.e.At(start.Add(p.d), id, p.fn)
		}
	}
	env.pending = nil
	o := env.e.Run(id)
	env.running = false
	for _, err := range o.Replay {
		env.t.Errorf("workflowtest: run %s: a worker rebuilding it from its history would fail: %v", id, err)
	}
	if o.Fault != nil {
		env.t.Fatal(o.Fault)
	}
	if o.Blocked != "" {
		return out, &BlockedError{WorkflowID: id, WaitingOn: o.Blocked, At: env.e.Now()}
	}
	if o.Err != nil {
		if len(o.Output) > 0 {
			// A compensation_failed run may still carry the workflow's output.
			_ = env.e.Decode("the output of run "+id, o.Output, &out)
		}
		return out, o.Err
	}
	err = env.e.Decode("the output of run "+id, o.Output, &out)
	return out, err
}

// RunOption configures one ExecuteWorkflow.
type RunOption func(*runConfig)

type runConfig struct {
	id string
}

// WithID gives the run its workflow ID (by default the workflow's name and
// a count: "OrderOrchestration-1"). Step handlers see it in their
// idempotency keys (steps.IdempotencyKey).
func WithID(id string) RunOption { return func(c *runConfig) { c.id = id } }

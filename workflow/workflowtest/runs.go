package workflowtest

import (
	"fmt"

	"github.com/jetflow-dev/jetflow/workflow"
)

// Record is the record of run id as workflow.Client.Record returns it: its
// workflow, status, input and output, times, and for a child workflow its
// parent's ID. Any run of the Env has one: ExecuteWorkflow's, a child's
// (faked ones included), a schedule's. An ID the Env has not run gives
// workflow.ErrNotFound.
func (env *Env) Record(id string) (workflow.Record, error) {
	rec, ok := env.e.Record(id)
	if !ok {
		return workflow.Record{}, fmt.Errorf("%w: %s", workflow.ErrNotFound, id)
	}
	return rec.(workflow.Record), nil
}

// Result is what workflow.Run.Result returns for run id, for a run other
// than ExecuteWorkflow's (a child's, a schedule's): its output, and for a
// run that ended other than completed a *workflow.RunError. A run still
// open gives a *BlockedError saying what it waits on (it may still move:
// Advance), an ID the Env has not run workflow.ErrNotFound.
func Result[O any](env *Env, id string) (O, error) {
	var out O
	o, ok := env.e.Result(id)
	switch {
	case !ok:
		return out, fmt.Errorf("%w: %s", workflow.ErrNotFound, id)
	case o.Blocked != "":
		return out, &BlockedError{WorkflowID: id, WaitingOn: o.Blocked, At: env.e.Now()}
	}
	if len(o.Output) > 0 || o.Err == nil {
		if err := env.e.Decode("the output of run "+id, o.Output, &out); err != nil && o.Err == nil {
			return out, err
		}
	}
	return out, o.Err
}

package workflow

import (
	"errors"
	"fmt"

	"github.com/jetflow-dev/jetflow/kv"
)

// ContinueAsNew ends the current execution of a run and starts a fresh one of
// the same workflow under the same workflow ID, with input in and an empty
// history. Return it from workflow code:
//
//	if processed >= 1000 {
//		return Out{}, workflow.ContinueAsNew(ctx, State{Next: next})
//	}
//
// It is how a workflow that loops for ever (or for longer than
// MaxHistoryEvents allows) keeps a flat cost: the switch is one revision-checked
// write of the run record, so it is atomic, and Status, Result and History
// follow the workflow ID to the newest execution.
func ContinueAsNew[I any](ctx Context, in I) error {
	data, err := kv.MarshalPayload(in)
	if err != nil {
		return fmt.Errorf("jetflow: encoding the input of the next execution: %w", err)
	}
	return &ContinueAsNewError{Workflow: ctx.state().e.run.Workflow, input: data}
}

// ContinueAsNewError is what ContinueAsNew returns; the engine recognises it
// when the workflow returns it.
type ContinueAsNewError struct {
	Workflow string
	input    []byte
}

func (e *ContinueAsNewError) Error() string {
	return "jetflow: workflow " + e.Workflow + " continues as new"
}

// ErrContinueAsNew matches (errors.Is) every *ContinueAsNewError.
var ErrContinueAsNew = errors.New("jetflow: continue as new")

// Is matches ErrContinueAsNew.
func (e *ContinueAsNewError) Is(target error) bool { return target == ErrContinueAsNew }

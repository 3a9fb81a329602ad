package workflowtest

import (
	"errors"
	"fmt"
	"time"
)

// ErrBlocked matches (errors.Is) every *BlockedError.
var ErrBlocked = errors.New("workflowtest: run blocked")

// BlockedError is a run still waiting when nothing is left to happen in its
// Env: no timer, retry, step in flight, signal or callback is due. A real
// run would wait there for ever (for a signal, say, that nobody sends).
type BlockedError struct {
	WorkflowID string
	// WaitingOn is what its code waits on, as workflow.Description says it.
	WaitingOn string
	// At is the virtual time when nothing was left.
	At time.Time
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("workflowtest: run %s waits on %s, and nothing is left to happen (virtual time %s)", e.WorkflowID, e.WaitingOn, e.At.Format(time.RFC3339))
}

// Is matches ErrBlocked.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// WrongStepError is Input or Output asked for one step's types of another's
// call.
type WrongStepError struct {
	Call, Step string
}

func (e *WrongStepError) Error() string {
	return "workflowtest: a call of step " + e.Call + " read as one of " + e.Step
}

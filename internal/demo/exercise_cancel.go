package demo

import (
	"context"
	"errors"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// CancelChain marks 1..Steps one step after the other, registering each
// mark's compensation (Unmark) before it waits for the mark, and undoes
// every registered mark when it is canceled. The chaos harness cancels
// these runs at random points: every mark in the ledger must then have its
// unmark, once.
//
// The compensation is registered before the mark is awaited because a
// cancel that lands while Mark is in flight makes Get return at once,
// while the attempt may still record its effect afterwards (a worker that
// missed the halt, or a redelivery): registered after a successful Get, its
// compensation would never run. Registered before, a mark that never had
// an effect is unmarked anyway, which an idempotent undo allows; a mark
// that lands after its unmark ran is still paired with it in the ledger (a
// real service would keep the unmark as a tombstone that voids it).
var CancelChain = workflow.New("CancelChain", CancelChainWorkflow)

// Mark and Unmark are CancelChain's step and its compensation: each records
// an effect (EffectMark, EffectUnmark) counting N under its idempotency key.
var (
	Mark   = steps.Ref[TallyInput, int]("Mark")
	Unmark = steps.Ref[TallyInput, int]("Unmark")
)

// The kinds of the effects Mark and Unmark record.
const (
	EffectMark   = "mark"
	EffectUnmark = "unmark"
)

// CancelInput is CancelChain's input: Steps marks of Delay each, with a
// timer of Pause after every second one.
type CancelInput struct {
	Steps int           `json:"steps"`
	Delay time.Duration `json:"delay,omitempty"`
	Pause time.Duration `json:"pause,omitempty"`
	// StepError makes the run return the error its Get or Sleep gave, as
	// workflow code is documented to do. Without it the run takes a Mark
	// that failed with steps.TypeCanceled (its attempt was halted because
	// the run was canceled) for the cancellation itself, and returns a
	// *CanceledError: the worker that receives a cancel halts the steps in
	// flight at once, before its workflow task's batch is in the history,
	// and when that batch loses the race to another task's, the code can
	// get the halted Mark's failure before the cancel, or without it if
	// the run ends first. Returned as it came, that failure ends the run
	// failed, its cancel never recorded.
	StepError bool `json:"step_error,omitempty"`
}

// Marked is CancelChain's output when nothing canceled it.
type Marked struct {
	Steps int `json:"steps"`
}

// CancelChainWorkflow marks 1..in.Steps, compensating what it registered
// when a Get, or a Sleep, says the run was canceled.
func CancelChainWorkflow(ctx workflow.Context, in CancelInput) (Marked, error) {
	ctx = workflow.WithStepOptions(ctx, exerciseOptions())
	// The undo is retried for as long as it takes, like the marks: under
	// faults, the default policy's twenty attempts could run out.
	saga := workflow.NewSaga(ctx).WithOptions(exerciseOptions())
	for n := 1; n <= in.Steps; n++ {
		mark := workflow.ExecuteStep(ctx, Mark, TallyInput{N: n, Delay: in.Delay})
		workflow.AddCompensation(saga, Unmark, TallyInput{N: n})
		if _, err := mark.Get(ctx); err != nil {
			return Marked{}, undo(ctx, saga, err, in.StepError)
		}
		if in.Pause > 0 && n%2 == 0 {
			if err := workflow.Sleep(ctx, in.Pause); err != nil {
				return Marked{}, undo(ctx, saga, err, in.StepError)
			}
		}
	}
	return Marked{Steps: in.Steps}, nil
}

// undo compensates, and says why the run stops: the cancellation when
// there is one or a Mark was halted by one, unless stepErr asks for err as
// it came.
func undo(ctx workflow.Context, saga *workflow.Saga, err error, stepErr bool) error {
	_ = saga.Compensate(ctx)
	if stepErr {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var se *workflow.StepError
	if errors.As(err, &se) && se.Err != nil && se.Err.Type == steps.TypeCanceled {
		return &workflow.CanceledError{Reason: se.Err.Message}
	}
	return err
}

// MarkHandler waits in.Delay (less if the attempt is halted) and records
// the mark of in.N.
func (s *Services) MarkHandler(ctx context.Context, in TallyInput) (int, error) {
	return s.count(ctx, Mark.Name(), EffectMark, "MRK", in)
}

// UnmarkHandler records the unmark of in.N.
func (s *Services) UnmarkHandler(ctx context.Context, in TallyInput) (int, error) {
	return s.count(ctx, Unmark.Name(), EffectUnmark, "UMK", in)
}

package workflow

import (
	"errors"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
)

var (
	// ErrInvalidID matches (errors.Is) every *InvalidIDError.
	ErrInvalidID = errors.New("jetflow: invalid workflow ID")
	// ErrInvalidOption is wrapped by every option that refuses its value.
	ErrInvalidOption = errors.New("jetflow: invalid option")
	// ErrNotFound is returned when no run has the given workflow ID.
	ErrNotFound = errors.New("jetflow: workflow run not found")
	// ErrAlreadyStarted matches (errors.Is) every *AlreadyStartedError.
	ErrAlreadyStarted = errors.New("jetflow: workflow ID already used")
	// ErrPayloadTooLarge matches (errors.Is) every *PayloadTooLargeError.
	ErrPayloadTooLarge = errors.New("jetflow: payload too large")
	// ErrNonDeterminism matches (errors.Is) every *NonDeterminismError.
	ErrNonDeterminism = errors.New("jetflow: non-deterministic workflow")
	// ErrInvalidName is returned for a workflow, step or signal name that
	// is not a valid subject token (letters, digits, '-' and '_').
	ErrInvalidName = errors.New("jetflow: invalid name")
	// ErrNotDeployed matches (errors.Is) every *NotDeployedError.
	ErrNotDeployed = errors.New("jetflow: deployment missing")
)

// NotDeployedError is returned by NewClient, and by a Client's reads and
// starts, when a stream or bucket of the namespace does not exist: no
// worker (nor Deploy, nor `jetflow init`) has set the namespace up, or
// someone deleted part of it. A client never creates them, so a read
// against a missing bucket says so instead of answering "no such run".
type NotDeployedError struct {
	// Prefix is the namespace.
	Prefix string
	// Kind is "stream" or "bucket".
	Kind string
	Name string
}

func (e *NotDeployedError) Error() string {
	return (&wire.NotDeployedError{Prefix: e.Prefix, Kind: e.Kind, Name: e.Name}).Error()
}

// Is matches ErrNotDeployed.
func (e *NotDeployedError) Is(target error) bool { return target == ErrNotDeployed }

// notDeployed turns the engine's error for a missing stream or bucket into
// a *NotDeployedError, and returns other errors as they are.
func notDeployed(err error) error {
	var we *wire.NotDeployedError
	if errors.As(err, &we) || errors.Is(err, wire.ErrNotDeployed) {
		if we == nil {
			return fmt.Errorf("%w: %v", ErrNotDeployed, err)
		}
		return &NotDeployedError{Prefix: we.Prefix, Kind: we.Kind, Name: we.Name}
	}
	return err
}

// AlreadyStartedError is returned by Start when the ID belongs to a run
// that the Start may not return nor replace (see IDReusePolicy): a run of
// another workflow, or one started with another input. It describes that
// run.
type AlreadyStartedError struct {
	WorkflowID string
	// Workflow and Status are the existing run's.
	Workflow string
	Status   string
	// InputDiffers is set when the existing run's input is not the one
	// Start was given (compared as decoded values, so the order of a map's
	// keys does not count).
	InputDiffers bool
}

func (e *AlreadyStartedError) Error() string {
	s := fmt.Sprintf("jetflow: workflow ID %s is taken by a run of %s (%s)", e.WorkflowID, e.Workflow, e.Status)
	if e.InputDiffers {
		s += ", started with another input"
	}
	return s
}

// Is matches ErrAlreadyStarted.
func (e *AlreadyStartedError) Is(target error) bool { return target == ErrAlreadyStarted }

// InvalidIDError says why a workflow ID was refused.
type InvalidIDError struct {
	ID     string
	Reason string
}

func (e *InvalidIDError) Error() string {
	id := e.ID
	if len(id) > 40 {
		id = id[:40] + "…"
	}
	return fmt.Sprintf("jetflow: invalid workflow ID %q: %s", id, e.Reason)
}

// Is matches ErrInvalidID.
func (e *InvalidIDError) Is(target error) bool { return target == ErrInvalidID }

// PayloadTooLargeError is returned by Start when the run record (input
// included) would not fit in one message of the server's max_payload, and
// fails a run whose side effect value is too large to record.
type PayloadTooLargeError struct {
	What string
	Size int
	Max  int64
}

func (e *PayloadTooLargeError) Error() string {
	return fmt.Sprintf("jetflow: %s is %d bytes, over the server's max_payload of %d", e.What, e.Size, e.Max)
}

// Is matches ErrPayloadTooLarge.
func (e *PayloadTooLargeError) Is(target error) bool { return target == ErrPayloadTooLarge }

// NonDeterminismError says where replaying a workflow's code diverged from
// the decisions it recorded: the code asked for Found at position Seq where
// the history has Expected. The run fails with it; it is never a panic or a hang.
type NonDeterminismError struct {
	Workflow   string `msgpack:"wf"`
	WorkflowID string `msgpack:"id"`
	Seq        int    `msgpack:"s"`
	Expected   string `msgpack:"e"`
	Found      string `msgpack:"f"`
}

func (e *NonDeterminismError) Error() string {
	return fmt.Sprintf("jetflow: non-deterministic workflow %s (run %s): at position %d the history has %s but the code asked for %s",
		e.Workflow, e.WorkflowID, e.Seq, e.Expected, e.Found)
}

// Is matches ErrNonDeterminism.
func (e *NonDeterminismError) Is(target error) bool { return target == ErrNonDeterminism }

// StepError is what Future.Get returns when a step failed for good: it
// names the step and its attempts and wraps the step's *steps.Error, so
// errors.As(err, &stepsErr) and errors.Is(err, steps.ErrBreakerOpen) work.
type StepError struct {
	Step     string
	Seq      int
	Attempts int
	// Exhausted is true when the retry policy ran out of attempts, false when
	// the error was non-retryable.
	Exhausted bool
	Err       *steps.Error
}

func (e *StepError) Error() string {
	if e.Err == nil {
		return e.text("")
	}
	return e.text(e.Err.Error())
}

// untyped is Error without the step error's type, for a record that keeps
// the type apart.
func (e *StepError) untyped() string {
	if e.Err == nil {
		return e.text("")
	}
	return e.text(e.Err.Message)
}

func (e *StepError) text(cause string) string {
	why := "non-retryable"
	if e.Exhausted {
		why = "attempts exhausted"
	}
	s := fmt.Sprintf("jetflow: step %s failed after %d attempt(s) (%s)", e.Step, e.Attempts, why)
	if cause != "" {
		s += ": " + cause
	}
	return s
}

// Unwrap returns the step's *steps.Error.
func (e *StepError) Unwrap() error { return e.Err }

// Is matches steps.ErrAttemptsExhausted when the retries ran out, and for a
// step refused before it was scheduled, ErrPayloadTooLarge or
// steps.ErrInvalidName.
func (e *StepError) Is(target error) bool {
	switch target {
	case steps.ErrAttemptsExhausted:
		return e.Exhausted
	case ErrPayloadTooLarge:
		return e.Err != nil && e.Err.Type == TypePayloadTooLarge
	case steps.ErrInvalidName:
		return e.Err != nil && e.Err.Type == TypeInvalidName
	}
	return false
}

// Error types of a step or child workflow refused before it was scheduled.
const (
	TypePayloadTooLarge = steps.TypePayloadTooLarge
	TypeInvalidName     = "InvalidName"
	// TypeInvalidID: a child workflow ID that is not a valid workflow ID.
	TypeInvalidID = "InvalidID"
	// TypeInvalidOption: a child workflow option out of range.
	TypeInvalidOption = "InvalidOption"
	// TypeAlreadyStarted: a child workflow ID that has a run the parent
	// did not start.
	TypeAlreadyStarted = "AlreadyStarted"
)

// RunError is what Result returns for a run that did not complete: the run's
// final status and its error. It unwraps to the cause (a *CanceledError for
// a canceled run, so errors.Is(err, ErrCanceled) holds; a
// *NonDeterminismError or *CompensationError; otherwise a *steps.Error
// carrying the workflow's error type and message).
type RunError struct {
	WorkflowID string
	Status     string
	Cause      error
}

func (e *RunError) Error() string {
	return fmt.Sprintf("jetflow: run %s ended %s: %v", e.WorkflowID, e.Status, e.Cause)
}

// Unwrap returns the cause.
func (e *RunError) Unwrap() error { return e.Cause }

// MaxHistoryEvents bounds one execution's history: decisions (steps, timers,
// side effects) plus the results delivered to the code. A 50,000-step
// workflow records about 100,000. A run that would pass it fails with a
// *HistoryLimitError before it writes more; a workflow meant to run longer
// continues as new (ContinueAsNew) every so often.
const MaxHistoryEvents = 250_000

// ErrHistoryLimit matches (errors.Is) every *HistoryLimitError.
var ErrHistoryLimit = errors.New("jetflow: history limit reached")

// HistoryLimitError fails a run whose history would pass MaxHistoryEvents.
type HistoryLimitError struct {
	Workflow   string `msgpack:"wf"`
	WorkflowID string `msgpack:"id"`
	Limit      int    `msgpack:"l"`
}

func (e *HistoryLimitError) Error() string {
	return fmt.Sprintf("jetflow: run %s of %s reached the history limit of %d events; return workflow.ContinueAsNew(ctx, input) to go on with a fresh history",
		e.WorkflowID, e.Workflow, e.Limit)
}

// Is matches ErrHistoryLimit.
func (e *HistoryLimitError) Is(target error) bool { return target == ErrHistoryLimit }

// ErrHandedOver is what Hooks.WorkflowTask gets for a task this worker
// handed to the worker holding the run in memory, which moved the run
// instead: the task neither failed nor moved the run here.
var ErrHandedOver = errors.New("jetflow: workflow task handed over to the worker holding the run")

// ErrUnwound matches (errors.Is) every *UnwindError.
var ErrUnwound = errors.New("jetflow: workflow code stopped without returning")

// UnwindError fails a run whose code stopped without returning: it called
// runtime.Goexit, or swallowed the engine's own stop. It never completes
// the run.
type UnwindError struct {
	Workflow   string `msgpack:"wf"`
	WorkflowID string `msgpack:"id"`
}

func (e *UnwindError) Error() string {
	return fmt.Sprintf("jetflow: the code of workflow %s (run %s) stopped without returning (runtime.Goexit?)", e.Workflow, e.WorkflowID)
}

// Is matches ErrUnwound.
func (e *UnwindError) Is(target error) bool { return target == ErrUnwound }

// ErrUnsupportedFormat is returned for a run recorded in a format this
// version of jetflow cannot replay.
var ErrUnsupportedFormat = errors.New("jetflow: run recorded in an unsupported format")

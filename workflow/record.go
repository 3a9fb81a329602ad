package workflow

import (
	"time"

	"github.com/jetflow-dev/jetflow/internal/tracing"
	"github.com/jetflow-dev/jetflow/kv"
)

// Status is where a run stands.
type Status string

// Run statuses. A run is closed once it is completed, failed,
// compensation_failed, canceled or terminated.
const (
	StatusPending            Status = "pending"
	StatusRunning            Status = "running"
	StatusCompleted          Status = "completed"
	StatusFailed             Status = "failed"
	StatusCompensationFailed Status = "compensation_failed"
	StatusCanceled           Status = "canceled"
	StatusTerminated         Status = "terminated"
)

// Statuses are every status a run can have, in the order a run goes
// through them.
var Statuses = []Status{StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusCompensationFailed, StatusCanceled, StatusTerminated}

// Closed reports whether a run with this status has ended for good.
func (s Status) Closed() bool { return kv.Terminal(string(s)) }

// Failure is how a run (or the step that ended it) failed.
type Failure struct {
	Type    string
	Message string
	// NonRetryable says a retry policy would not have retried it.
	NonRetryable bool
	// Step and Seq name the step, when a step's failure ended the run.
	Step string
	Seq  int
	// Details is what the failure carried beyond its message, in the
	// payload encoding (a NonDeterminismError's or CompensationError's
	// fields, a step error's details).
	Details []byte
}

// Record is a run as stored: what it was started with and how it ended. Its
// Input and Output are in the payload encoding (see package kv's doc).
type Record struct {
	ID       string
	Workflow string
	Status   Status
	Input    []byte
	Output   []byte
	Error    *Failure
	// Exec is the current execution: 1, plus one for each continue-as-new.
	Exec      int
	CreatedAt time.Time
	StartedAt time.Time
	ClosedAt  time.Time
	// Waiting says why the run cannot move, when jetflow knows.
	Waiting string
	// Parent is the ID of the run that started this one as a child
	// workflow (ExecuteChild); empty for a run started from outside.
	Parent string
	// TraceID is the OpenTelemetry trace of the run's spans (hex); empty
	// when its Start had no span context.
	TraceID string
}

func recordOf(run kv.Run) Record {
	return Record{ID: run.ID, Workflow: run.Workflow, Status: Status(run.Status), Input: run.Input, Output: run.Output, Error: failureOf(run.Error),
		Exec: max(run.Exec, 1), CreatedAt: run.CreatedAt, StartedAt: run.StartedAt, ClosedAt: run.ClosedAt, Waiting: run.Waiting,
		Parent: parentOf(&run), TraceID: tracing.TraceID(run.TraceParent)}
}

func parentOf(run *kv.Run) string {
	if run.Parent == nil {
		return ""
	}
	return run.Parent.ID
}

func failureOf(e *kv.ErrorInfo) *Failure {
	if e == nil {
		return nil
	}
	return &Failure{Type: e.Type, Message: e.Message, NonRetryable: e.NonRetryable, Step: e.Step, Seq: e.Seq, Details: e.Details}
}

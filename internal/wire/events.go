package wire

import (
	"encoding/json"
	"time"
)

// Event names published on the status subjects.
const (
	EventStarted            = "started"
	EventStepScheduled      = "step_scheduled"
	EventStepStarted        = "step_started"
	EventStepCompleted      = "step_completed"
	EventStepFailed         = "step_failed"
	EventStepRetrying       = "step_retrying"
	EventTimerScheduled     = "timer_scheduled"
	EventTimerFired         = "timer_fired"
	EventCompensating       = "compensating"
	EventCompensated        = "compensated"
	EventCompleted          = "completed"
	EventFailed             = "failed"
	EventCompensationFailed = "compensation_failed"
	EventContinuedAsNew     = "continued_as_new"
	EventNonDeterminism     = "nondeterminism"
	EventPoisonMessage      = "poison_message"
	EventNoWorker           = "no_worker"
	// EventRepaired and EventStuck report what the sweeper found in a run
	// that was owed progress: repaired, or only reported.
	EventRepaired = "repaired"
	EventStuck    = "stuck"
	// Signals, cancellation and termination.
	EventSignaled           = "signaled"
	EventCancelRequested    = "cancel_requested"
	EventCanceled           = "canceled"
	EventTerminateRequested = "terminate_requested"
	EventTerminated         = "terminated"
	// Child workflows, on the parent's subjects (ChildID names the child).
	EventChildStarted   = "child_started"
	EventChildCompleted = "child_completed"
)

// Event is one status change of a run, published as JSON so that
// `nats sub 'jetflow.status.>'` is readable by a person.
type Event struct {
	Event      string    `json:"event"`
	Workflow   string    `json:"workflow"`
	WorkflowID string    `json:"workflow_id"`
	Time       time.Time `json:"time"`
	Status     string    `json:"status,omitempty"`
	Seq        int       `json:"seq,omitempty"`
	Step       string    `json:"step,omitempty"`
	Attempt    int       `json:"attempt,omitempty"`
	// DurationMS is how long the attempt (or the run) took.
	DurationMS float64 `json:"duration_ms,omitempty"`
	// RetryInMS is the backoff before the next attempt.
	RetryInMS    float64 `json:"retry_in_ms,omitempty"`
	Error        string  `json:"error,omitempty"`
	ErrorType    string  `json:"error_type,omitempty"`
	Compensation bool    `json:"compensation,omitempty"`
	Worker       string  `json:"worker,omitempty"`
	// ChildID is the child workflow of a child_started or child_completed
	// event.
	ChildID string `json:"child_id,omitempty"`
}

// Emit publishes ev on its status subject. Events are fire-and-forget core
// publishes captured by the event stream: they report state, they never are
// the state, so a lost event delays a watcher but loses no work.
func (e *Env) Emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	_ = e.NC.Publish(e.Names.StatusSubject(ev.Workflow, ev.WorkflowID, ev.Event), data)
}

package wire

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// ClosingEvents are the events that end a run (one of them, once).
var ClosingEvents = []string{EventCompleted, EventFailed, EventCompensationFailed, EventCanceled, EventTerminated}

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
	buf := eventBufs.Get().(*[]byte)
	defer eventBufs.Put(buf)
	data, err := ev.appendJSON((*buf)[:0])
	if err != nil {
		return
	}
	*buf = data
	// Publish copies data into the connection's buffer before it returns.
	_ = e.NC.Publish(e.Names.StatusSubject(ev.Workflow, ev.WorkflowID, ev.Event), data)
}

// Schedule events, on <prefix>.schedule.<id>.<event>.
const (
	EventScheduleCreated   = "created"
	EventScheduleUpdated   = "updated"
	EventSchedulePaused    = "paused"
	EventScheduleUnpaused  = "unpaused"
	EventScheduleTriggered = "triggered"
	EventScheduleBackfill  = "backfill"
	EventScheduleDeleted   = "deleted"
	// EventScheduleFired: a tick started its run (WorkflowID).
	EventScheduleFired = "fired"
	// EventScheduleSkipped: a tick started nothing because the last run
	// was still open (overlap skip, or a full buffer).
	EventScheduleSkipped = "skipped_overlap"
	// EventScheduleBuffered: a tick waits for the open run to end.
	EventScheduleBuffered = "buffered"
	// EventScheduleMissed: a tick handled after its catch-up window.
	EventScheduleMissed = "missed"
	// EventScheduleDone: the schedule starts nothing more (its limit or
	// its end).
	EventScheduleDone = "done"
	// EventScheduleStartFailed: a tick's run could not be started (its
	// ID has another run, the input is refused); the tick counts as missed.
	EventScheduleStartFailed = "start_failed"
)

// ScheduleEvent is one thing that happened to a schedule, published as JSON
// on ScheduleEventSubject.
type ScheduleEvent struct {
	Event    string    `json:"event"`
	Schedule string    `json:"schedule"`
	Workflow string    `json:"workflow,omitempty"`
	Time     time.Time `json:"time"`
	// WorkflowID is the run a tick started (or was meant to).
	WorkflowID string `json:"workflow_id,omitempty"`
	// Nominal is the tick's time.
	Nominal time.Time `json:"nominal,omitzero"`
	Detail  string    `json:"detail,omitempty"`
	Worker  string    `json:"worker,omitempty"`
}

// EmitSchedule publishes a schedule event (fire-and-forget, like Emit).
func (e *Env) EmitSchedule(ev ScheduleEvent) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	_ = e.NC.Publish(e.Names.ScheduleEventSubject(ev.Schedule, ev.Event), data)
}

// LastStored is the sequence of the last message stream holds on any of
// filters, 0 when it holds none.
func LastStored(ctx context.Context, stream jetstream.Stream, filters []string) (uint64, error) {
	var last uint64
	for _, f := range filters {
		m, err := stream.GetLastMsgForSubject(ctx, f)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		last = max(last, m.Sequence)
	}
	return last, nil
}

package wire

import (
	"strconv"
	"strings"
)

// Names builds every subject, stream and consumer name under one namespace prefix.
type Names struct {
	Prefix string
}

// NewNames returns Names for prefix, "jetflow" when empty.
func NewNames(prefix string) Names {
	if prefix == "" {
		prefix = "jetflow"
	}
	return Names{Prefix: prefix}
}

// TaskStream holds workflow tasks, step tasks and scheduled (delayed) tasks.
func (n Names) TaskStream() string { return strings.ToUpper(n.Prefix) + "_TASKS" }

// EventStream keeps status and breaker events.
func (n Names) EventStream() string { return strings.ToUpper(n.Prefix) + "_EVENTS" }

// DeadLetterStream keeps task messages that could not be decoded.
func (n Names) DeadLetterStream() string { return strings.ToUpper(n.Prefix) + "_DLQ" }

// WorkflowSubject carries the tasks of one workflow type.
func (n Names) WorkflowSubject(workflow string) string { return n.Prefix + ".wf." + workflow }

// SignalSubject carries the signals (and cancel and terminate requests) of
// one run, in the order the server accepts them; its workflow type's
// consumer delivers each as a hint, and the worker reads them in order from
// the stream.
func (n Names) SignalSubject(workflow, workflowID, inc string) string {
	s := n.Prefix + ".signal." + workflow + "." + workflowID
	if inc != "" {
		s += "." + inc
	}
	return s
}

// SignalFilter matches the signals of every run of one workflow type.
func (n Names) SignalFilter(workflow string) string { return n.Prefix + ".signal." + workflow + ".>" }

// QuerySubject is the core (not stored) subject on which the workers of a
// workflow type answer queries about one of its runs (a queue group).
func (n Names) QuerySubject(workflow, workflowID string) string {
	return n.Prefix + ".query." + workflow + "." + workflowID
}

// HaltSubject is the core (not stored) subject on which runners hear that a
// run was canceled or terminated, so they cancel its attempts in flight.
func (n Names) HaltSubject(execKey string) string { return n.Prefix + ".halt." + execKey }

// StartSubject carries the start hints of one workflow type: the one
// subject on which clients, who may not publish workflow tasks, ask for a
// pending run to start. A worker reads nothing else from such a message.
func (n Names) StartSubject(workflow string) string { return n.Prefix + ".start." + workflow }

// StepSubject carries the tasks of one step.
func (n Names) StepSubject(step string) string { return n.Prefix + ".step." + step }

// ScheduleSubject holds one delayed task until it is due.
func (n Names) ScheduleSubject(workflowID string, seq, attempt int) string {
	return n.Prefix + ".sched." + workflowID + "." + strconv.Itoa(seq) + "." + strconv.Itoa(attempt)
}

// StatusSubject is where a run's events are published.
func (n Names) StatusSubject(workflow, workflowID, event string) string {
	return n.Prefix + ".status." + workflow + "." + workflowID + "." + event
}

// StatusFilter matches the events of one run, or of every run when workflow
// or id is "*".
func (n Names) StatusFilter(workflow, workflowID string) string {
	return n.Prefix + ".status." + workflow + "." + workflowID + ".*"
}

// StatusStored is the subject the event stream stores a run's events under:
// the stream drops the event's name from the subject (the event carries
// it), so each run costs the server one entry in the stream's subject
// index instead of one per kind of event.
func (n Names) StatusStored(workflow, workflowID string) string {
	return n.Prefix + ".status." + workflow + "." + workflowID
}

// StoredStatusFilters match the stored events of one run, or of every run
// when workflow or id is "*": those stored under StatusStored, and those a
// jetflow before it stored under their status subject.
func (n Names) StoredStatusFilters(workflow, workflowID string) []string {
	return []string{n.StatusStored(workflow, workflowID), n.StatusFilter(workflow, workflowID)}
}

// BreakerSubject is where a breaker's transitions are published.
func (n Names) BreakerSubject(name, state string) string {
	return n.Prefix + ".breaker." + name + "." + state
}

// OwnerSubject is the core (not stored) subject on which one worker
// instance takes wake-ups for the runs it holds in memory.
func (n Names) OwnerSubject(instance string) string { return n.Prefix + ".own." + instance }

// DeadLetterSubject is where a poison task message is parked.
func (n Names) DeadLetterSubject(kind, name string) string {
	return n.Prefix + ".dlq." + kind + "." + name
}

// TaskSubjects are the subjects the task stream captures.
func (n Names) TaskSubjects() []string {
	return []string{n.Prefix + ".wf.>", n.Prefix + ".step.>", n.Prefix + ".sched.>", n.Prefix + ".start.>", n.Prefix + ".signal.>", n.Prefix + ".tick.>"}
}

// TickSubject holds the next wake-up of schedule id (a message schedule
// whose target is the workflow type's subject; one per schedule, rolled up).
func (n Names) TickSubject(id string) string { return n.Prefix + ".tick." + id }

// ScheduleEventSubject is where a schedule's events are published.
func (n Names) ScheduleEventSubject(id, event string) string {
	return n.Prefix + ".schedule." + id + "." + event
}

// WorkflowConsumer is the durable consumer every worker of one workflow type shares.
func (n Names) WorkflowConsumer(workflow string) string { return "wf_" + workflow }

// StepConsumer is the durable consumer every worker of one step shares.
func (n Names) StepConsumer(step string) string { return "step_" + step }

// MsgID builds a deduplication ID naming one action on one position of a run.
func MsgID(workflowID string, seq, attempt int, action string) string {
	return workflowID + "." + strconv.Itoa(seq) + "." + strconv.Itoa(attempt) + "." + action
}

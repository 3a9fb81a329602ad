package runner

import (
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"strconv"
	"time"
)

// Task is one attempt of a step, as it travels on the step subject.
type Task struct {
	WorkflowID string `msgpack:"id"`
	Workflow   string `msgpack:"wf"`
	Step       string `msgpack:"st"`
	Seq        int    `msgpack:"s"`
	Attempt    int    `msgpack:"a"`
	Input      []byte `msgpack:"in"`
	// steps.Options are resolved (defaults applied) by the scheduler.
	StartToClose    time.Duration        `msgpack:"stc"`
	ScheduleToClose time.Duration        `msgpack:"sch,omitempty"`
	Retry           steps.RetryPolicy    `msgpack:"rp"`
	Breaker         *steps.BreakerPolicy `msgpack:"br,omitempty"`
	// ScheduledAt is when the first attempt was scheduled.
	ScheduledAt time.Time `msgpack:"sa"`
	// NotBefore is when a retry becomes due.
	NotBefore    time.Time `msgpack:"nb,omitempty"`
	Compensation bool      `msgpack:"c,omitempty"`
	// Exec is the run's execution (continue-as-new count + 1; 0 means 1).
	Exec int `msgpack:"x,omitempty"`
	// Republished marks a task published again by a worker that rebuilt the
	// run from its history: the first one may have run already.
	Republished bool `msgpack:"rp2,omitempty"`
	// Owner is the instance of the worker that holds the run in memory, so
	// the worker that finishes the step can wake the run there (a hint).
	Owner string `msgpack:"ow,omitempty"`
	// Inc is the run's incarnation (kv.Run.Inc), part of its keys.
	Inc string `msgpack:"i,omitempty"`
	// Reuse is the run's reuse count of its ID (kv.Run.Reuse), part of its
	// idempotency key.
	Reuse int `msgpack:"ru,omitempty"`
	// Batch is the history batch that recorded the decision to run this
	// step: the runner reads the step's policy and input digest from there
	// (the options above are a copy and are not trusted).
	Batch int `msgpack:"b,omitempty"`
}

// ExecKey is the key prefix of the task's execution in the steps bucket.
func (t *Task) ExecKey() string { return kv.ExecKey(t.WorkflowID, t.Inc, t.Exec) }

// ResultKey is where the step's result is recorded.
func (t *Task) ResultKey() string { return kv.StepKey(t.ExecKey(), t.Seq) }

// IdempotencyKey is "<workflowID>/<seq>"
// (or "<workflowID>.x<n>/<seq>" in the n-th execution after continue-as-new).
// The run's incarnation is not part of it: it names the effect the workflow
// asks for, whatever the keys the engine keeps it under.
// A run that reused the ID of closed ones (WithIDReusePolicy) has
// "<workflowID>~<n>/<seq>": its effects are not the old runs'.
func (t *Task) IdempotencyKey() string {
	id := t.WorkflowID
	if t.Reuse > 0 {
		id += "~" + strconv.Itoa(t.Reuse)
	}
	return kv.ExecKey(id, "", t.Exec) + "/" + strconv.Itoa(t.Seq)
}

// NewTask builds the first attempt of a step with resolved options.
func NewTask(workflow, workflowID, step string, seq int, input []byte, opts steps.Options, now time.Time) Task {
	o := opts.Resolve()
	return Task{
		WorkflowID:      workflowID,
		Workflow:        workflow,
		Step:            step,
		Seq:             seq,
		Attempt:         1,
		Input:           input,
		StartToClose:    o.StartToCloseTimeout,
		ScheduleToClose: o.ScheduleToCloseTimeout,
		Retry:           *o.RetryPolicy,
		Breaker:         o.Breaker,
		ScheduledAt:     now,
	}
}

// Info is what the handler of this attempt reads from its context
// (steps.InfoFrom, steps.IdempotencyKey).
func (t *Task) Info() steps.Info {
	return steps.Info{
		Workflow: t.Workflow, WorkflowID: t.WorkflowID, Step: t.Step, Seq: t.Seq, Attempt: t.Attempt,
		IdempotencyKey: t.IdempotencyKey(), ScheduledAt: t.ScheduledAt, Compensation: t.Compensation,
	}
}

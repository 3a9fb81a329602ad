package kv

import (
	"strconv"
	"time"
)

// Run statuses. A run is terminal once it is completed, failed,
// compensation_failed, canceled or terminated.
const (
	StatusPending            = "pending"
	StatusRunning            = "running"
	StatusCompleted          = "completed"
	StatusFailed             = "failed"
	StatusCompensationFailed = "compensation_failed"
	// StatusContinuedAsNew closes one execution whose workflow continued as
	// a new one under the same ID; the run record then shows the new one.
	StatusContinuedAsNew = "continued_as_new"
	// StatusCanceled: the run was asked to stop (Client.Cancel) and its
	// code returned a *CanceledError, after its compensations.
	StatusCanceled = "canceled"
	// StatusTerminated: the run was ended at once (Client.Terminate); no
	// code ran after that.
	StatusTerminated = "terminated"
)

// Terminal reports whether a run status is final.
func Terminal(status string) bool {
	switch status {
	case StatusCompleted, StatusFailed, StatusCompensationFailed, StatusCanceled, StatusTerminated:
		return true
	}
	return false
}

// Command kinds recorded in a run: what the workflow asked for at each position.
const (
	KindStep       = "step"
	KindTimer      = "timer"
	KindSideEffect = "side_effect"
	KindSignal     = "signal"
	// KindVersion is a change point the code passed (workflow.GetVersion):
	// its Name is the change ID, its Value the version taken.
	KindVersion = "version"
)

// Command is one decision of a workflow, in the order the code made it. Replay
// checks that the code still makes the same decision at the same position.
type Command struct {
	Seq  int    `msgpack:"s"`
	Kind string `msgpack:"k"`
	Name string `msgpack:"n"`
	// Compensation marks a step that a saga ran to undo another.
	Compensation bool `msgpack:"c,omitempty"`
	// At is when a timer fires, decided once and then replayed.
	At time.Time `msgpack:"at,omitempty"`
}

// ErrorInfo is an error as it is stored: its type, message and whether it may be retried.
type ErrorInfo struct {
	Type         string `msgpack:"t"`
	Message      string `msgpack:"m"`
	NonRetryable bool   `msgpack:"nr,omitempty"`
	// Step and Seq locate the error when it belongs to a step.
	Step string `msgpack:"st,omitempty"`
	Seq  int    `msgpack:"sq,omitempty"`
	// Exhausted is set when a retryable failure ran out of attempts.
	Exhausted bool `msgpack:"x,omitempty"`
	// Details is optional extra data of the error (msgpack).
	Details []byte `msgpack:"d,omitempty"`
}

// Run is the record of one workflow run in the runs bucket.
type Run struct {
	ID       string     `msgpack:"id"`
	Workflow string     `msgpack:"wf"`
	Status   string     `msgpack:"st"`
	Input    []byte     `msgpack:"in"`
	Output   []byte     `msgpack:"out,omitempty"`
	Error    *ErrorInfo `msgpack:"err,omitempty"`
	// Commands are the decisions of a run recorded by jetflow before format
	// FormatHistory; such a run cannot be replayed (see FormatHistory).
	Commands []Command `msgpack:"cmd,omitempty"`
	// Format is FormatHistory for runs whose decisions live in history batches.
	Format int `msgpack:"f,omitempty"`
	// Exec is the current execution (1 + continue-as-new count).
	Exec int `msgpack:"x,omitempty"`
	// Inc is the run's incarnation (see NewIncarnation), chosen at Start:
	// it scopes the run's keys in the steps bucket (ExecKey).
	Inc string `msgpack:"inc,omitempty"`
	// Reuse counts the runs that had this ID before (WithIDReusePolicy);
	// steps' idempotency keys carry it.
	Reuse int `msgpack:"ru,omitempty"`
	// SigSeq is the last signal the executions before the current one
	// received (a continue-as-new hands it on).
	SigSeq uint64 `msgpack:"sq,omitempty"`
	// CurrentStep is the step the run waits on, for Describe.
	CurrentStep string    `msgpack:"cur,omitempty"`
	CreatedAt   time.Time `msgpack:"ct"`
	StartedAt   time.Time `msgpack:"sa,omitempty"`
	UpdatedAt   time.Time `msgpack:"ua,omitempty"`
	ClosedAt    time.Time `msgpack:"ca,omitempty"`
	// Tasks counts the workflow tasks that moved this run.
	Tasks int `msgpack:"tk,omitempty"`
	// Waiting says why the run cannot move, when jetflow knows: no worker
	// serves its workflow type, or the step it waits on.
	Waiting string `msgpack:"wt,omitempty"`
	// Parent is set on a child workflow's run: the run that started it.
	Parent *ParentLink `msgpack:"pa,omitempty"`
	// Schedule is the schedule that started the run, if one did.
	Schedule string `msgpack:"sc,omitempty"`
	// TraceParent and TraceState are the W3C trace context of the run's
	// start (the caller of Start, or the client's start span): every span
	// of the run hangs under it, whichever worker makes the span.
	TraceParent string `msgpack:"tp,omitempty"`
	TraceState  string `msgpack:"ts,omitempty"`
}

// Result is what the steps bucket holds for one position of a run: the
// outcome of a step, a fired timer or a side effect. It is written once.
type Result struct {
	Kind     string     `msgpack:"k"`
	Name     string     `msgpack:"n"`
	Output   []byte     `msgpack:"o,omitempty"`
	Error    *ErrorInfo `msgpack:"e,omitempty"`
	Attempts int        `msgpack:"a,omitempty"`
	// ScheduledAt is when the first attempt was scheduled, StartedAt when the
	// last attempt started, CompletedAt when the result was recorded.
	ScheduledAt time.Time `msgpack:"sc,omitempty"`
	StartedAt   time.Time `msgpack:"sa,omitempty"`
	CompletedAt time.Time `msgpack:"ca"`
	Worker      string    `msgpack:"w,omitempty"`
	// Ref is a child workflow's ID, and Status the status its run ended
	// with (KindChild results only).
	Ref    string `msgpack:"rf,omitempty"`
	Status string `msgpack:"st,omitempty"`
}

// StepKey is the key of position seq of a run in the steps bucket.
func StepKey(workflowID string, seq int) string {
	return workflowID + "." + strconv.Itoa(seq)
}

// Claim is the decision the first delivery of one attempt of a
// breaker-guarded step took: call the service, or refuse because the breaker
// was open. It is written once, and every other delivery of the same attempt
// (a redelivery, a zombie woken up) follows it, so a refusal is never
// recorded while another delivery calls the service.
type Claim struct {
	Run bool `msgpack:"r"`
	// Refusal is the breaker's error when Run is false.
	Refusal *ErrorInfo `msgpack:"e,omitempty"`
	Worker  string     `msgpack:"w,omitempty"`
	At      time.Time  `msgpack:"at"`
}

// ClaimKey is the key of attempt n of position seq of a run in the steps
// bucket; purging the run's keys removes it too.
func ClaimKey(execKey string, seq, attempt int) string {
	return execKey + ".a." + strconv.Itoa(seq) + "." + strconv.Itoa(attempt)
}

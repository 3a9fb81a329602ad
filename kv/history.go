package kv

import (
	"strconv"
	"time"
)

// FormatHistory is the run format of jetflow since the history rewrite: a
// run's decisions live in an append-only history of batches in the steps
// bucket, not in the run record. A record without it (format 0) was written
// by an earlier jetflow; if it made decisions (Commands), it cannot be
// replayed by this one.
const FormatHistory = 2

// Kinds of positions beyond steps, timers and side effects.
const (
	// KindChild is reserved for child workflows.
	KindChild = "child"
)

// Decision is one position the workflow code claimed, in the order it made
// them: a step it scheduled, a timer it started, a side effect it recorded.
type Decision struct {
	Seq  int    `msgpack:"s"`
	Kind string `msgpack:"k"`
	Name string `msgpack:"n"`
	// Compensation marks a step that a saga ran to undo another.
	Compensation bool `msgpack:"c,omitempty"`
	// At is when a timer fires, or when a step was scheduled.
	At time.Time `msgpack:"at,omitempty"`
	// Value is a side effect's recorded value (msgpack).
	Value []byte `msgpack:"v,omitempty"`
	// Refused is set when the step could not even be scheduled (an input
	// too large, an invalid name): the future resolved with this error at
	// once, and replay resolves it the same way.
	Refused *ErrorInfo `msgpack:"rf,omitempty"`
}

// Closing is how an execution ended, recorded in its last batch before the
// run record says so.
type Closing struct {
	Status string     `msgpack:"st"`
	Output []byte     `msgpack:"o,omitempty"`
	Error  *ErrorInfo `msgpack:"e,omitempty"`
	// ContinueInput is the input of the next execution when Status is
	// StatusContinuedAsNew.
	ContinueInput []byte `msgpack:"ci,omitempty"`
}

// Batch is what one workflow task appended to a run's history: the results
// it delivered to the code, in the order the code saw them, and the
// decisions the code then made. Batches are stored create-only under
// HistoryKey(exec, N), N = 1, 2, ...: the first writer of N wins, which makes
// every run single-writer without a lock.
type Batch struct {
	N int `msgpack:"n"`
	// Deliveries are the positions whose results the code saw, in order.
	Deliveries []int      `msgpack:"d,omitempty"`
	Decisions  []Decision `msgpack:"x,omitempty"`
	// More says the task's decisions go on in batch N+1 (a task that made
	// more decisions than fit in one message); the code did not wait in
	// between.
	More    bool     `msgpack:"m,omitempty"`
	Closing *Closing `msgpack:"cl,omitempty"`
	// Seq is the last position claimed when the batch was written, and
	// WaitingOn what the code then waited for (for Describe).
	Seq       int       `msgpack:"s,omitempty"`
	WaitingOn string    `msgpack:"wo,omitempty"`
	Worker    string    `msgpack:"w,omitempty"`
	At        time.Time `msgpack:"at"`
}

// ExecKey is the key prefix of one execution of a workflow ID: the ID itself
// for the first, "<id>.x<n>" for the n-th after continue-as-new. Results are
// at ExecKey.<seq> and history batches at ExecKey.h.<n>.
func ExecKey(workflowID string, exec int) string {
	if exec <= 1 {
		return workflowID
	}
	return workflowID + ".x" + strconv.Itoa(exec)
}

// HistoryKey is the key of batch n of an execution in the steps bucket.
func HistoryKey(execKey string, n int) string {
	return execKey + ".h." + strconv.Itoa(n)
}

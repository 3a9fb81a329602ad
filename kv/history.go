package kv

import (
	"crypto/rand"
	"strconv"
	"strings"
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
	// KindChild is a child workflow the code started; its result is the
	// child run's outcome.
	KindChild = "child"
)

// ChildStart is the decision to start a child workflow (a KindChild
// Decision's Value): the child's ID, its input and what happens to it when
// the parent closes first.
type ChildStart struct {
	ID     string `msgpack:"id"`
	Input  []byte `msgpack:"in,omitempty"`
	Policy int    `msgpack:"p,omitempty"`
}

// ParentLink is a child run's link to the run that started it: where to
// record the child's outcome (the parent execution's position Seq) and the
// parent's close policy for it. Owner is the instance of the worker that
// held the parent (a hint for the wake-up).
type ParentLink struct {
	ID       string `msgpack:"id"`
	Workflow string `msgpack:"wf"`
	Inc      string `msgpack:"i,omitempty"`
	Exec     int    `msgpack:"x,omitempty"`
	Seq      int    `msgpack:"s"`
	Policy   int    `msgpack:"p,omitempty"`
	Owner    string `msgpack:"ow,omitempty"`
}

// Same reports whether l and o name the same position of the same parent
// execution.
func (l *ParentLink) Same(o *ParentLink) bool {
	return l != nil && o != nil && l.ID == o.ID && l.Inc == o.Inc && max(l.Exec, 1) == max(o.Exec, 1) && l.Seq == o.Seq
}

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
	// Policy is a step's resolved options (timeouts, retry policy, breaker)
	// as the code chose them, and Digest a hash of its input: the runner
	// takes both from here, never from the task message, which is only a
	// hint to look (package steps encodes and checks them).
	Policy []byte `msgpack:"p,omitempty"`
	Digest []byte `msgpack:"dg,omitempty"`
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
	// Inc is the run's incarnation (Run.Inc), so a batch left behind by a
	// deleted run of the same ID is never taken for this run's.
	Inc string `msgpack:"i,omitempty"`
	// Signals are the signals the code received in this task, in the
	// order they were accepted, before the results in Deliveries.
	Signals []SignalIn `msgpack:"sg,omitempty"`
	// Owner is the instance of the worker that wrote the batch, which
	// holds the run in memory after it: a hint for whoever sends the run
	// a signal.
	Owner string `msgpack:"ow,omitempty"`
}

// SignalIn is one signal delivered to a run: its message's sequence in the
// task stream (signals are delivered in that order, each once: a batch
// records the highest one it took), its name and payload.
type SignalIn struct {
	Seq     uint64    `msgpack:"q"`
	Name    string    `msgpack:"n"`
	Payload []byte    `msgpack:"p,omitempty"`
	At      time.Time `msgpack:"at"`
}

// Names of the signals the engine sends itself; a user's signal name cannot
// hold a '.'.
const (
	SignalCancel    = "jetflow.cancel"
	SignalTerminate = "jetflow.terminate"
)

// ExecKey is the key prefix of one execution of a run: "<id>.<inc>" for the
// first, "<id>.<inc>.x<n>" for the n-th after continue-as-new, where inc is
// the run's incarnation (Run.Inc). Results are at ExecKey.<seq> and history
// batches at ExecKey.h.<n>. A new run of an ID whose record was deleted has
// a new incarnation, so whatever the old one left behind (results, history,
// deduplication IDs derived from these keys) never stands in its way. Runs
// recorded before incarnations (inc "") use "<id>" and "<id>.x<n>".
func ExecKey(workflowID, inc string, exec int) string {
	k := workflowID
	if inc != "" {
		k += "." + inc
	}
	if exec <= 1 {
		return k
	}
	return k + ".x" + strconv.Itoa(exec)
}

// NewIncarnation returns a fresh incarnation for a run: 12 random characters
// from [a-z2-7] behind an "i", so no outsider can predict the keys and
// deduplication IDs of a run that is not yet started.
func NewIncarnation() string {
	return "i" + strings.ToLower(rand.Text()[:12]) // 60 random bits
}

// RetryKey is where the runner records that attempt n of position seq is
// scheduled, before it publishes that attempt: an attempt after the first
// is run only when its record says so, and at the time the record says.
func RetryKey(execKey string, seq, attempt int) string {
	return execKey + ".r." + strconv.Itoa(seq) + "." + strconv.Itoa(attempt)
}

// Retry is the record of one scheduled retry of a step (see RetryKey).
type Retry struct {
	Attempt   int       `msgpack:"a"`
	NotBefore time.Time `msgpack:"nb"`
	// Error is why the attempt before failed.
	Error  *ErrorInfo `msgpack:"e,omitempty"`
	Worker string     `msgpack:"w,omitempty"`
	At     time.Time  `msgpack:"at"`
}

// HistoryKey is the key of batch n of an execution in the steps bucket.
func HistoryKey(execKey string, n int) string {
	return execKey + ".h." + strconv.Itoa(n)
}

// TakeoverKey is where a worker claims an execution rebuilt from its
// history, batch n included, before it moves the execution when another
// worker may be moving it too (see Takeover): the first claim wins, and it
// is only good until batch n+1.
func TakeoverKey(execKey string, n int) string {
	return execKey + ".o." + strconv.Itoa(n)
}

// Takeover is a claim of one execution after one of its batches: of the
// workers that rebuild it at once (its owner silent, a task delivered
// twice), the one that moves it.
type Takeover struct {
	// Owner is the claimant's instance (its owner subject).
	Owner  string    `msgpack:"o"`
	Worker string    `msgpack:"w,omitempty"`
	At     time.Time `msgpack:"at"`
}

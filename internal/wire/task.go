package wire

import (
	"time"

	"github.com/jetflow-dev/jetflow/kv"
)

// Reasons a workflow task was published.
const (
	ReasonStart     = "start"
	ReasonResult    = "result"
	ReasonTimer     = "timer"
	ReasonUnblocked = "unblocked"
	// ReasonPurge removes a closed run once its retention has passed.
	ReasonPurge = "purge"
	// ReasonRepair asks the worker to rebuild the run from its history and
	// publish again whatever it waits on (the sweeper found it stuck).
	ReasonRepair = "repair"
	// ReasonSignal: a signal for the run waits in the task stream.
	ReasonSignal = "signal"
	// ReasonSchedule asks a worker of the schedule's workflow type to look
	// at the schedule WorkflowID: start the runs that are due, arm the next
	// wake-up.
	ReasonSchedule = "schedule"
)

// QueryMsg asks a run a query (a core request on its query subject);
// QueryReply is the answer.
type QueryMsg struct {
	WorkflowID string `msgpack:"id"`
	Name       string `msgpack:"n"`
}

// QueryReply carries the handler's value (payload encoding) or why there
// is none; Closed is the status of a run that has ended.
type QueryReply struct {
	Value  []byte `msgpack:"v,omitempty"`
	Error  string `msgpack:"e,omitempty"`
	Closed string `msgpack:"c,omitempty"`
}

// SignalMsg is a signal on its run's signal subject.
type SignalMsg struct {
	WorkflowID string `msgpack:"id"`
	Workflow   string `msgpack:"wf"`
	Name       string `msgpack:"n"`
	Payload    []byte `msgpack:"p,omitempty"`
	// Owner is the worker instance that last moved the run, as its last
	// history batch says (a hint: the worker that gets the message asks it
	// to take the signal, rather than rebuild the run and race it).
	Owner string `msgpack:"ow,omitempty"`
}

// WorkflowTask asks a worker to move a run forward: replay its code against
// the recorded results and act on any new decisions.
type WorkflowTask struct {
	WorkflowID string `msgpack:"id"`
	Workflow   string `msgpack:"wf"`
	Reason     string `msgpack:"r"`
	// Seq is the position whose result caused this task (0 for start).
	Seq int `msgpack:"s,omitempty"`
	// FireAt is set on timer tasks: the timer at Seq fires when it arrives.
	FireAt time.Time `msgpack:"fa,omitempty"`
	// Result was carried inline by earlier versions; it is ignored: a
	// message is a hint to look, and results are read from the bucket.
	Result *kv.Result `msgpack:"res,omitempty"`
	// Exec is the execution the task belongs to (0: the current one).
	Exec int `msgpack:"x,omitempty"`
	// Owner is the instance of the worker that held the run when the task
	// was published (a hint: another worker forwards the task to it).
	Owner string `msgpack:"ow,omitempty"`
	// Inc is the incarnation (kv.Run.Inc) of the run the task is for, on
	// start hints and purges: the ID may have been given to a new run
	// since (workflow.IDReusePolicy). Empty on tasks of older workers.
	Inc string `msgpack:"i,omitempty"`
	// Also lists more wake-ups of the run handed over with this one, on an
	// owner request: the worker that asks hands every wake-up it holds for
	// the run (results it found recorded among them), so the owner leaves
	// none of them undelivered.
	Also []Wake `msgpack:"al,omitempty"`
}

// Wake is one more wake-up of a handed-over task: its reason (signal,
// result or timer) and position.
type Wake struct {
	Reason string `msgpack:"r"`
	Seq    int    `msgpack:"s,omitempty"`
}

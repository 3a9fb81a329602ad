package wire

import "time"

// Reasons a workflow task was published.
const (
	ReasonStart     = "start"
	ReasonResult    = "result"
	ReasonTimer     = "timer"
	ReasonUnblocked = "unblocked"
)

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
}

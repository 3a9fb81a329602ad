package workflow

import (
	"testing"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
)

// What a worker that rebuilt a run hands to the worker that wrote the run's
// last batch, and what it keeps: a wake-up handed over is acknowledged once
// the owner answers, so one the owner would not record must stay.
func TestForwardable(t *testing.T) {
	run := kv.Run{ID: "r1", Workflow: "Order", Exec: 2}
	result := func(seq, exec int) *wakeup { return &wakeup{reason: wire.ReasonResult, seq: seq, exec: exec} }
	for _, tc := range []struct {
		name   string
		items  []*wakeup
		unseen []int
		want   bool
		seq    int
	}{
		{"signals", []*wakeup{{reason: wire.ReasonSignal}, {reason: wire.ReasonSignal}}, nil, true, 0},
		{"signals, with a result the rebuild found undelivered", []*wakeup{{reason: wire.ReasonSignal}}, []int{3}, false, 0},
		{"one result", []*wakeup{result(3, 2)}, nil, true, 3},
		{"one result, the one the rebuild found undelivered", []*wakeup{result(3, 2)}, []int{3}, false, 0},
		{"one result, and another the rebuild found undelivered", []*wakeup{result(3, 2)}, []int{2, 3}, false, 0},
		{"two results", []*wakeup{result(3, 2), result(4, 2)}, nil, false, 0},
		{"a result and a signal", []*wakeup{result(3, 2), {reason: wire.ReasonSignal}}, nil, false, 0},
		{"one fired timer", []*wakeup{{reason: wire.ReasonTimer, seq: 4}}, nil, true, 4},
		{"a result of the execution before", []*wakeup{result(3, 1)}, nil, false, 0},
		{"a result past what the history decided", []*wakeup{result(9, 2)}, nil, false, 0},
		{"a start", []*wakeup{{reason: wire.ReasonStart}}, nil, false, 0},
		{"a result the owner already declined", []*wakeup{{reason: wire.ReasonResult, seq: 3, asked: "owner"}}, nil, false, 0},
		{"a result handed over already", []*wakeup{{reason: wire.ReasonResult, seq: 3, forwarded: true}}, nil, false, 0},
	} {
		x := &execution{run: run, lastOwner: "owner", seq: 5}
		for _, seq := range tc.unseen {
			x.unseen = append(x.unseen, unseenResult{seq: seq})
		}
		task, ok := forwardable(x, tc.items)
		if ok != tc.want || (ok && (task.Seq != tc.seq || task.WorkflowID != "r1" || task.Reason != tc.items[0].reason)) {
			t.Errorf("%s: got %+v, %v; want handed over %v at position %d", tc.name, task, ok, tc.want, tc.seq)
		}
	}
}

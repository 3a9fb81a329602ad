package workflow

import (
	"slices"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
)

// What a worker that rebuilt a run hands to the worker that holds it, and
// what it keeps: a wake-up handed over is acknowledged once the owner
// answers, so one the owner would not record must stay, and a result the
// rebuild found recorded but undelivered goes with the request.
func TestForwardable(t *testing.T) {
	run := kv.Run{ID: "r1", Workflow: "Order", Exec: 2}
	result := func(seq, exec int) *wakeup { return &wakeup{reason: wire.ReasonResult, seq: seq, exec: exec} }
	sig := wire.Wake{Reason: wire.ReasonSignal}
	res := func(seq int) wire.Wake { return wire.Wake{Reason: wire.ReasonResult, Seq: seq} }
	for _, tc := range []struct {
		name   string
		items  []*wakeup
		unseen []int
		want   []wire.Wake // nil: kept
	}{
		{"signals", []*wakeup{{reason: wire.ReasonSignal}, {reason: wire.ReasonSignal}}, nil, []wire.Wake{sig}},
		{"signals, with a result the rebuild found undelivered", []*wakeup{{reason: wire.ReasonSignal}}, []int{3}, []wire.Wake{sig, res(3)}},
		{"one result", []*wakeup{result(3, 2)}, nil, []wire.Wake{res(3)}},
		{"one result, the one the rebuild found undelivered", []*wakeup{result(3, 2)}, []int{3}, []wire.Wake{res(3)}},
		{"one result, and another the rebuild found undelivered", []*wakeup{result(3, 2)}, []int{2, 3}, []wire.Wake{res(3), res(2)}},
		{"two results", []*wakeup{result(3, 2), result(4, 2)}, nil, []wire.Wake{res(3), res(4)}},
		{"a result and a signal", []*wakeup{result(3, 2), {reason: wire.ReasonSignal}}, nil, []wire.Wake{res(3), sig}},
		{"one fired timer", []*wakeup{{reason: wire.ReasonTimer, seq: 4}}, nil, []wire.Wake{{Reason: wire.ReasonTimer, Seq: 4}}},
		{"a result of the execution before", []*wakeup{result(3, 1)}, nil, nil},
		{"a result past what the history decided", []*wakeup{result(9, 2)}, nil, nil},
		{"a start", []*wakeup{{reason: wire.ReasonStart}}, nil, []wire.Wake{{Reason: wire.ReasonStart}}},
		{"a repair", []*wakeup{{reason: wire.ReasonRepair}}, nil, nil},
		{"a result the owner already declined", []*wakeup{{reason: wire.ReasonResult, seq: 3, asked: "owner"}}, nil, nil},
		{"a result handed over already", []*wakeup{{reason: wire.ReasonResult, seq: 3, forwarded: true}}, nil, nil},
		{"more than one request carries", []*wakeup{result(3, 2)}, make([]int, maxHandOver), nil},
	} {
		x := &execution{run: run, seq: 5}
		for _, seq := range tc.unseen {
			x.unseen = append(x.unseen, unseenResult{seq: seq})
		}
		task, ok := forwardable(x, tc.items, "owner")
		var got []wire.Wake
		if ok {
			got = append([]wire.Wake{{Reason: task.Reason, Seq: task.Seq}}, task.Also...)
			if task.WorkflowID != "r1" || task.Exec != 2 {
				t.Errorf("%s: handed over %+v, want run r1, execution 2", tc.name, task)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: handed over %v, want %v", tc.name, got, tc.want)
		}
	}
}

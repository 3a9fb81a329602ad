package kv_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// FuzzDecode feeds arbitrary bytes to every decoder a worker applies to what
// arrives from the network: it must return an error wrapping ErrCorrupt or
// succeed, never panic.
func FuzzDecode(f *testing.F) {
	for _, v := range []any{
		steps.NewTask("Order", "order-1", "Pay", 3, []byte{0x91, 0x01}, steps.Options{}, time.Unix(1700000000, 0)),
		wire.WorkflowTask{WorkflowID: "order-1", Workflow: "Order", Reason: wire.ReasonTimer, Seq: 2, FireAt: time.Unix(1700000000, 0)},
		kv.Run{ID: "order-1", Workflow: "Order", Status: kv.StatusRunning, Commands: []kv.Command{{Seq: 1, Kind: kv.KindStep, Name: "Pay"}}},
		kv.Result{Kind: kv.KindStep, Name: "Pay", Attempts: 2, Error: &kv.ErrorInfo{Type: "Declined", Message: "no"}},
	} {
		data, err := kv.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte("\xc1 not msgpack"))
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}) // a map claiming 4G entries
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []any{&steps.Task{}, &wire.WorkflowTask{}, &kv.Run{}, &kv.Result{}} {
			if err := kv.Unmarshal(data, v); err != nil && !errors.Is(err, kv.ErrCorrupt) {
				t.Fatalf("decoding %T: error %v does not wrap ErrCorrupt", v, err)
			}
		}
	})
}

func TestMarshalRoundTrip(t *testing.T) {
	in := kv.Run{ID: "order-1", Workflow: "Order", Status: kv.StatusRunning, Input: []byte{1, 2, 3},
		Commands: []kv.Command{{Seq: 1, Kind: kv.KindStep, Name: "Pay", Compensation: true}}, CreatedAt: time.Unix(1700000000, 5).UTC()}
	data, err := kv.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out kv.Run
	if err := kv.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.Commands[0] != in.Commands[0] || !out.CreatedAt.Equal(in.CreatedAt) || string(out.Input) != string(in.Input) {
		t.Fatalf("got %+v, want %+v", out, in)
	}
}

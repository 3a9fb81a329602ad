package kv_test

import (
	"encoding/json"
	"errors"
	"github.com/jetflow-dev/jetflow/internal/runner"
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
		runner.NewTask("Order", "order-1", "Pay", 3, []byte{0x91, 0x01}, steps.Options{}, time.Unix(1700000000, 0)),
		wire.WorkflowTask{WorkflowID: "order-1", Workflow: "Order", Reason: wire.ReasonTimer, Seq: 2, FireAt: time.Unix(1700000000, 0)},
		kv.Run{ID: "order-1", Workflow: "Order", Status: kv.StatusRunning, Commands: []kv.Command{{Seq: 1, Kind: kv.KindStep, Name: "Pay"}}},
		kv.Result{Kind: kv.KindStep, Name: "Pay", Attempts: 2, Error: &kv.ErrorInfo{Type: "Declined", Message: "no"}},
		kv.Breaker{Name: "pay", State: kv.BreakerOpen, Failures: 3, Probes: []kv.BreakerProbe{{ID: "p1"}}},
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
		for _, v := range []any{&runner.Task{}, &wire.WorkflowTask{}, &kv.Run{}, &kv.Result{}, &kv.Breaker{}} {
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

// TestBreakerRecordIsJSON: breaker records are JSON, so `nats kv get
// jetflow_breakers <name>` shows an operator the state; a record written as
// msgpack by an earlier version still decodes, and a broken one is
// ErrCorrupt (the breaker then counts as closed).
func TestBreakerRecordIsJSON(t *testing.T) {
	in := kv.Breaker{Name: "payment-primary", State: kv.BreakerOpen, Failures: 3, Opens: 1,
		OpenUntil: time.Unix(1700000060, 0).UTC(), UpdatedAt: time.Unix(1700000000, 0).UTC(),
		Policy: kv.BreakerConfig{Name: "payment-primary", FailureThreshold: 3, ResetTimeout: time.Minute}}
	data, err := kv.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatalf("breaker record is not JSON: %v: %s", err, data)
	}
	if fields["state"] != "open" || fields["name"] != "payment-primary" || fields["failures"] != 3.0 {
		t.Fatalf("breaker JSON %s: want state open, name and failures readable", data)
	}
	var out kv.Breaker
	if err := kv.Unmarshal(data, &out); err != nil || out.State != in.State || !out.OpenUntil.Equal(in.OpenUntil) || out.Policy != in.Policy {
		t.Fatalf("round trip: got %+v (%v), want %+v", out, err, in)
	}
	legacy, err := kv.Marshal(struct {
		Name  string `msgpack:"n"`
		State string `msgpack:"st"`
		F     int    `msgpack:"f"`
	}{"old", kv.BreakerHalfOpen, 2})
	if err != nil {
		t.Fatal(err)
	}
	var old kv.Breaker
	if err := kv.Unmarshal(legacy, &old); err != nil || old.Name != "old" || old.State != kv.BreakerHalfOpen || old.Failures != 2 {
		t.Fatalf("msgpack record: got %+v (%v)", old, err)
	}
	for _, bad := range []string{`{"state": open}`, "\xc1 not msgpack", ""} {
		if err := kv.Unmarshal([]byte(bad), &kv.Breaker{}); !errors.Is(err, kv.ErrCorrupt) {
			t.Errorf("decoding %q: got %v, want ErrCorrupt", bad, err)
		}
	}
}

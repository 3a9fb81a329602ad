package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

type shipInput struct {
	OrderID string     `json:"order_id"`
	Items   []shipItem `json:"items"`
	Express bool       `json:"express,omitempty"`
}

type shipItem struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

type shipOutput struct {
	OrderID string `json:"order_id"`
	Units   int    `json:"units"`
}

var countUnits = steps.New("CountUnits", func(ctx context.Context, in shipInput) (shipOutput, error) {
	out := shipOutput{OrderID: in.OrderID}
	for _, it := range in.Items {
		out.Units += it.Qty
	}
	return out, nil
})

var ship = workflow.New("Ship", func(ctx workflow.Context, in shipInput) (shipOutput, error) {
	return workflow.ExecuteStep(ctx, countUnits, in).Get(ctx)
})

// fromJSON encodes a JSON document the way a client without Go types does
// (the CLI, a webhook): objects become maps under their JSON names.
func fromJSON(t *testing.T, doc string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	data, err := kv.MarshalPayload(normalize(v))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// normalize turns JSON's float64 integers into integers, as the CLI does.
func normalize(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}

// Inputs and outputs travel under their json names, so JSON from outside Go
// maps onto the same fields; and a run recorded before (fields by their Go
// names) still decodes.
func TestPayloadsUseJSONNames(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{ship}, []steps.Handler{countUnits})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)

	in := fromJSON(t, `{"order_id": "o-1", "items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 3}]}`)
	if err := c.StartRaw(ctx, ship.Name(), "ship-json", in); err != nil {
		t.Fatal(err)
	}
	got, err := workflow.Attach(c, ship, "ship-json").Result(ctx)
	if err != nil || got != (shipOutput{OrderID: "o-1", Units: 5}) {
		t.Fatalf("JSON input: got %+v, %v; want o-1 with 5 units", got, err)
	}
	rec, err := c.Record(ctx, "ship-json")
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := kv.UnmarshalPayload(rec.Output, &out); err != nil || out["order_id"] != "o-1" || out["units"] == nil {
		t.Fatalf("the output as stored: got %v, %v; want it under its json names", out, err)
	}

	old, err := kv.Marshal(shipInput{OrderID: "o-2", Items: []shipItem{{SKU: "A", Qty: 4}}}) // Go names, as before
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartRaw(ctx, ship.Name(), "ship-old", old); err != nil {
		t.Fatal(err)
	}
	if got, err := workflow.Attach(c, ship, "ship-old").Result(ctx); err != nil || got != (shipOutput{OrderID: "o-2", Units: 4}) {
		t.Fatalf("an input recorded with Go names: got %+v, %v", got, err)
	}
}

// An input with a field the workflow's type does not have, or a value of
// the wrong type, fails the run at once with a BadInput error naming it,
// instead of running the code on zero values.
func TestRunInputThatDoesNotDecodeFailsTheRun(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{ship}, []steps.Handler{countUnits})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	for name, doc := range map[string]string{
		"unknown-field": `{"order_id": "o-1", "colour": "red"}`,
		"wrong-type":    `{"order_id": "o-1", "items": [{"sku": "A", "qty": "two"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := c.StartRaw(ctx, ship.Name(), name, fromJSON(t, doc)); err != nil {
				t.Fatal(err)
			}
			_, err := workflow.Attach(c, ship, name).Result(ctx)
			var re *workflow.RunError
			var se *steps.Error
			if !errors.As(err, &re) || re.Status != "failed" || !errors.As(err, &se) || se.Type != steps.TypeBadInput || !se.NonRetryable {
				t.Fatalf("got %v, want the run failed with a non-retryable BadInput", err)
			}
			h, err := c.History(ctx, name)
			if err != nil || len(h) != 0 {
				t.Fatalf("history: got %d entries, %v; want none (the code never ran)", len(h), err)
			}
		})
	}
}

type otherOutput struct {
	Count int `json:"count"`
}

type otherInput struct {
	Ref string `json:"ref"`
}

// A step declared with another process's types (steps.Ref) that do not
// match: an input that does not decode fails the step once, as BadInput; an
// output that does not decode is a *PayloadDecodeError from Get.
func TestStepPayloadsThatDoNotDecode(t *testing.T) {
	var called atomic.Int32
	impl := steps.New("Mismatched", func(ctx context.Context, in shipInput) (shipOutput, error) {
		called.Add(1)
		return shipOutput{OrderID: in.OrderID, Units: 1}, nil
	})
	badOut := steps.Ref[shipInput, otherOutput]("Mismatched")
	badIn := steps.Ref[otherInput, shipOutput]("Mismatched")
	type report struct {
		InType       string `json:"in_type"`
		InAttempts   int    `json:"in_attempts"`
		OutDecode    bool   `json:"out_decode"`
		OutField     string `json:"out_field"`
		OutUnknown   bool   `json:"out_unknown"`
		OutWhat      string `json:"out_what"`
		OutTypeOfRef string `json:"out_type"`
	}
	wf := workflow.New("MismatchedCaller", func(ctx workflow.Context, _ struct{}) (report, error) {
		var r report
		_, err := workflow.ExecuteStep(ctx, badOut, shipInput{OrderID: "o"}).Get(ctx)
		var pde *workflow.PayloadDecodeError
		r.OutDecode = errors.Is(err, workflow.ErrPayloadDecode)
		if errors.As(err, &pde) {
			r.OutField, r.OutUnknown, r.OutWhat, r.OutTypeOfRef = pde.Field, pde.Unknown, pde.What, pde.Type
		}
		_, err = workflow.ExecuteStep(ctx, badIn, otherInput{Ref: "x"}).Get(ctx)
		var se *workflow.StepError
		if errors.As(err, &se) {
			r.InType, r.InAttempts = se.Err.Type, se.Attempts
		}
		return r, nil
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{impl})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, wf, "mismatch-1", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := run.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := report{InType: steps.TypeBadInput, InAttempts: 1, OutDecode: true, OutField: "order_id", OutUnknown: true,
		OutWhat: "the output of step Mismatched", OutTypeOfRef: "workflow_test.otherOutput"}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	if n := called.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want once (not for the input that does not decode)", n)
	}
}

type approval struct {
	ApprovedBy string `json:"approved_by"`
}

var approved = workflow.NewSignal[approval]("approved")

var awaitApproval = workflow.New("AwaitApproval", func(ctx workflow.Context, _ struct{}) (string, error) {
	a, err := approved.Receive(ctx)
	if err != nil {
		var pde *workflow.PayloadDecodeError
		if errors.Is(err, workflow.ErrPayloadDecode) && errors.As(err, &pde) {
			return "refused " + pde.Field, nil
		}
		return "", err
	}
	return "approved by " + a.ApprovedBy, nil
})

// A signal sent as JSON (SignalRaw, as `jetflow signal` does) is received
// under its json names; one with a field the type lacks is a
// *PayloadDecodeError from Receive.
func TestSignalPayloadsUseJSONNames(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{awaitApproval}, nil)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	for id, doc := range map[string]string{
		"approve-1": `{"approved_by": "ana"}`,
		"approve-2": `{"approver": "ana"}`,
	} {
		if _, err := workflow.Start(ctx, c, awaitApproval, id, struct{}{}); err != nil {
			t.Fatal(err)
		}
		if err := c.SignalRaw(ctx, id, approved.Name(), fromJSON(t, doc)); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]string{"approve-1": "approved by ana", "approve-2": "refused approver"} {
		if got, err := workflow.Attach(c, awaitApproval, id).Result(ctx); err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", id, got, err, want)
		}
	}
}

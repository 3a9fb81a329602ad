package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

type UserNotFound struct{ id string }

func (e *UserNotFound) Error() string { return "no user " + e.id }

// A step error without a jetflow type is named "Error" (errors.New,
// fmt.Errorf) or after its Go type (UserNotFound, not *workflow_test.UserNotFound),
// and every record and event of it says the type once and the message once.
func TestPlainStepErrorsAreNamedOnce(t *testing.T) {
	plain := steps.New("Plain", func(ctx context.Context, _ struct{}) (int, error) {
		return 0, errors.New("boom")
	})
	named := steps.New("Named", func(ctx context.Context, _ struct{}) (int, error) {
		return 0, fmt.Errorf("lookup: %w", &UserNotFound{id: "7"})
	})
	wf := workflow.New("PlainErrors", func(ctx workflow.Context, _ struct{}) (int, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{RetryPolicy: &steps.RetryPolicy{MaxAttempts: 2, InitialInterval: time.Millisecond}})
		if _, err := workflow.ExecuteStep(ctx, named, struct{}{}).Get(ctx); err == nil {
			return 0, errors.New("the named error did not fail the step")
		}
		return workflow.ExecuteStep(ctx, plain, struct{}{}).Get(ctx)
	})
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	events := make(chan wire.Event, 64)
	sub, err := nc.Subscribe("jetflow.status.PlainErrors.>", func(m *nats.Msg) {
		var ev wire.Event
		if json.Unmarshal(m.Data, &ev) == nil && ev.ErrorType != "" {
			events <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{plain, named})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, wf, "plain-1", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = run.Result(ctx)
	var se *steps.Error
	if !errors.As(err, &se) || se.Type != steps.TypeError {
		t.Fatalf("got %v, want the run failed with type %s", err, steps.TypeError)
	}
	h, err := c.History(ctx, "plain-1")
	if err != nil || len(h) != 2 || h[0].Error == nil || h[1].Error == nil {
		t.Fatalf("history: got %+v, %v", h, err)
	}
	if got := *h[0].Error; got.Type != "UserNotFound" || got.Message != "lookup: no user 7" {
		t.Errorf("named error: got %+v", got)
	}
	if got := *h[1].Error; got.Type != steps.TypeError || got.Message != "boom" {
		t.Errorf("plain error: got %+v", got)
	}
	d, err := c.Describe(ctx, "plain-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "jetflow: step Plain failed after 2 attempt(s) (attempts exhausted): boom"; d.Error.Type != steps.TypeError || d.Error.Message != want {
		t.Errorf("the run's error: got %s / %s, want %s / %s", d.Error.Type, d.Error.Message, steps.TypeError, want)
	}
	want := map[string]wire.Event{
		"Named step_retrying": {ErrorType: "UserNotFound", Error: "lookup: no user 7"},
		"Named step_failed":   {ErrorType: "UserNotFound", Error: "lookup: no user 7"},
		"Plain step_retrying": {ErrorType: steps.TypeError, Error: "boom"},
		"Plain step_failed":   {ErrorType: steps.TypeError, Error: "boom"},
		" failed":             {ErrorType: steps.TypeError, Error: "jetflow: step Plain failed after 2 attempt(s) (attempts exhausted): boom"},
	}
	for len(want) > 0 {
		select {
		case ev := <-events:
			key := ev.Step + " " + ev.Event
			w, ok := want[key]
			if !ok {
				continue
			}
			if ev.ErrorType != w.ErrorType || ev.Error != w.Error {
				t.Errorf("%s: got %q / %q, want %q / %q", key, ev.ErrorType, ev.Error, w.ErrorType, w.Error)
			}
			delete(want, key)
		case <-ctx.Done():
			t.Fatalf("events never seen: %v", want)
		}
	}
}

package workflow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestStartRefusesInvalidIDs(t *testing.T) {
	srv := testenv.Start(t, false)
	c := newClient(t, srv.Conn())
	ctx := testenv.Context(t, 10*time.Second)
	for name, id := range map[string]string{
		"empty":    "",
		"too long": strings.Repeat("a", workflow.MaxIDLength+1),
		"dot":      "order.1",
		"star":     "order*",
		"gt":       "order>",
		"space":    "order 1",
		"tab":      "order\t1",
		"newline":  "order\n1",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := workflow.Start(ctx, c, fiveSteps, id, 1)
			var ie *workflow.InvalidIDError
			if !errors.Is(err, workflow.ErrInvalidID) || !errors.As(err, &ie) {
				t.Fatalf("Start(%q): got %v, want an *InvalidIDError", id, err)
			}
		})
	}
	if _, err := workflow.Start(ctx, c, fiveSteps, strings.Repeat("a", workflow.MaxIDLength), 1); err != nil {
		t.Fatalf("a 256-byte ID is valid, got %v", err)
	}
}

func TestStartRefusesInputOverMaxPayload(t *testing.T) {
	srv, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), DontListen: true, MaxPayload: 64 * 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	echo := workflow.New("Echo", func(ctx workflow.Context, s string) (string, error) { return s, nil })
	startWorker(t, nc, []workflow.Registrable{echo}, nil)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 10*time.Second)
	_, err = workflow.Start(ctx, c, echo, "big-1", strings.Repeat("x", 100*1024))
	var pe *workflow.PayloadTooLargeError
	if !errors.Is(err, workflow.ErrPayloadTooLarge) || !errors.As(err, &pe) || pe.Max != 64*1024 {
		t.Fatalf("got %v, want a *PayloadTooLargeError with max 65536", err)
	}
	if _, err := c.Describe(ctx, "big-1"); !errors.Is(err, workflow.ErrNotFound) {
		t.Fatalf("a refused run must leave no record: got %v", err)
	}
	// The engine still serves normal runs.
	run, err := workflow.Start(ctx, c, echo, "small-1", "ok")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != "ok" {
		t.Fatalf("got %q, %v; want ok", got, err)
	}
}

func TestMalformedTaskIsParkedAndWorkerKeepsServing(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe("jetflow.status.*.*.poison_message", events)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for _, subj := range []string{"jetflow.wf.FiveSteps", "jetflow.step.AddOne"} {
		if _, err := js.Publish(ctx, subj, []byte("\xc1 not msgpack")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		select {
		case <-events:
		case <-ctx.Done():
			t.Fatalf("poison_message event %d not published", i+1)
		}
	}
	dlq, err := js.Stream(ctx, "JETFLOW_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("dead-letter stream: got %d messages, want 2", info.State.Msgs)
	}
	m, err := dlq.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Jetflow-Reason") == "" || string(m.Data) != "\xc1 not msgpack" {
		t.Fatalf("parked message lost its data or reason: %q %q", m.Header.Get("Jetflow-Reason"), m.Data)
	}
	// Nothing is left on the task stream and the worker still serves.
	run, err := workflow.Start(ctx, c, fiveSteps, "after-poison", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 5 {
		t.Fatalf("got %d, %v; want 5", got, err)
	}
}

func TestStartOfAnotherWorkflowsIDIsRefused(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 10*time.Second)
	if _, err := workflow.Start(ctx, c, fiveSteps, "shared-id", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Start(ctx, c, sleeper, "shared-id", time.Second); !errors.Is(err, workflow.ErrAlreadyStarted) {
		t.Fatalf("got %v, want ErrAlreadyStarted", err)
	}
}

func TestUnknownWorkflowAndStepSayWhy(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	events := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe("jetflow.status.*.*.no_worker", events)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	// No worker serves FiveSteps yet: the run waits and says why.
	if _, err := workflow.Start(ctx, c, fiveSteps, "nobody-1", 0); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, events)
	d, err := c.Describe(ctx, "nobody-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "pending" || !strings.Contains(d.Waiting, "FiveSteps") {
		t.Fatalf("got status %q waiting %q; want pending, naming FiveSteps", d.Status, d.Waiting)
	}

	// A worker for the workflow but not its step: the run waits on the step.
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, nil)
	waitEvent(t, ctx, events)
	for {
		if d, err = c.Describe(ctx, "nobody-1"); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(d.Waiting, "AddOne") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run does not say it waits on AddOne: %+v", d)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Once a step worker appears, nothing was lost: the run completes.
	startWorker(t, nc, nil, []steps.Handler{addOne})
	if got, err := workflow.Attach(c, fiveSteps, "nobody-1").Result(ctx); err != nil || got != 5 {
		t.Fatalf("got %d, %v; want 5", got, err)
	}
	if d, _ = c.Describe(ctx, "nobody-1"); d.Waiting != "" {
		t.Fatalf("completed run still waiting: %q", d.Waiting)
	}
}

func waitEvent(t *testing.T, ctx context.Context, ch <-chan *nats.Msg) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("no_worker event not published")
	}
}

// A non-ASCII ID is refused naming the character, not a byte of it.
func TestInvalidIDNamesTheCharacter(t *testing.T) {
	err := workflow.ValidateID("订单-1")
	if err == nil || !strings.Contains(err.Error(), "'订'") || strings.Contains(err.Error(), "Ã") {
		t.Fatalf("got %v; want the error to name '订'", err)
	}
	if err := workflow.ValidateID("a\xffb"); err == nil || !strings.Contains(err.Error(), "not UTF-8") {
		t.Fatalf("got %v; want a UTF-8 error", err)
	}
}

package workflow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

// gateOpen holds the Gated step until the test closes it.
var gateOpen chan struct{}

var gated = steps.New("Gated", func(ctx context.Context, _ string) (string, error) {
	select {
	case <-gateOpen:
		return "step", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
})

var poke = workflow.NewSignal[string]("poke")

// firstOf returns which came first to its selector: the signal or the step.
var firstOf = workflow.New("FirstOf", func(ctx workflow.Context, _ string) (string, error) {
	f := workflow.ExecuteStep(ctx, gated, "")
	first := ""
	workflow.NewSelector(ctx).
		AddSignal(poke, func() { first, _ = poke.Receive(ctx) }).
		AddFuture(f, func() { first, _ = f.Get(ctx) }).
		Select(ctx)
	// A decision that depends on the choice, so a replay that chooses
	// otherwise is caught.
	if first == "signal" {
		return workflow.SideEffect(ctx, func() string { return first }), nil
	}
	return first, workflow.Sleep(ctx, time.Millisecond)
})

// A worker that rebuilds a run and finds a step's result recorded that the
// history does not deliver yet, in the task that also receives a signal,
// delivers them in the order a replay of that task's batch will: the
// selector's choice then replays the same.
func TestRebuiltRunDeliversSignalsAndResultsInReplayOrder(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	gateOpen = make(chan struct{})
	_, stopWorkflows := startWorker(t, nc, []workflow.Registrable{firstOf}, nil)
	startWorker(t, nc, nil, []steps.Handler{gated})
	run, err := workflow.Start(ctx, c, firstOf, "first-of", "")
	if err != nil {
		t.Fatal(err)
	}
	waitPositions(t, ctx, c, "first-of", 1)
	stopWorkflows()
	// The signal is queued, then the step's result is recorded: the next
	// worker rebuilds the run for the signal and finds the result there
	// too, not yet in the history.
	if err := workflow.Signal(ctx, c, "first-of", poke, "signal"); err != nil {
		t.Fatal(err)
	}
	close(gateOpen)
	waitDone(t, ctx, c, "first-of", 1)
	// Its wake-up lost: only the signal brings the next worker to the run.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, "JETFLOW_TASKS", "wf_FirstOf")
	if err != nil {
		t.Fatal(err)
	}
	for {
		ci, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.NumPending == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d tasks queued; want the signal and the wake-up", ci.NumPending)
		case <-time.After(10 * time.Millisecond):
		}
	}
	st, err := js.Stream(ctx, "JETFLOW_TASKS")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject("jetflow.wf.FirstOf")); err != nil {
		t.Fatal(err)
	}
	startWorker(t, nc, []workflow.Registrable{firstOf}, nil)
	if _, err := run.Result(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := c.ExportHistory(ctx, "first-of")
	if err != nil {
		t.Fatal(err)
	}
	if err := workflow.ReplayHistory(firstOf, h); err != nil {
		t.Fatalf("the run does not replay as it ran: %v", err)
	}
}

// waitDone waits until position seq of the run has its result.
func waitDone(t *testing.T, ctx context.Context, c *workflow.Client, id string, seq int) {
	t.Helper()
	for {
		h, err := c.History(ctx, id)
		if err == nil && len(h) >= seq && h[seq-1].Done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("position %d of %s never done", seq, id)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitOrTimeout waits for a word or an hour, whichever comes first.
var waitOrTimeout = workflow.New("WaitOrTimeout", func(ctx workflow.Context, _ string) (string, error) {
	got := "timeout"
	workflow.NewSelector(ctx).
		AddSignal(word, func() { got, _ = word.Receive(ctx) }).
		AddFuture(workflow.NewTimer(ctx, time.Hour), func() {}).
		Select(ctx)
	return got, nil
})

// Describe (and `jetflow status`) names what a selector waits for, not
// just "select".
func TestDescribeNamesWhatASelectorWaitsFor(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	startWorker(t, nc, []workflow.Registrable{waitOrTimeout}, nil)
	run, err := workflow.Start(ctx, c, waitOrTimeout, "wait-or-timeout", "")
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, err := c.Describe(ctx, "wait-or-timeout")
		if err == nil && strings.HasPrefix(d.CurrentStep, "select:") {
			if !strings.Contains(d.CurrentStep, "signal word") || !strings.Contains(d.CurrentStep, "timer ") {
				t.Fatalf("waiting on %q; want the signal and the timer named", d.CurrentStep)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("never waiting in the selector: %+v, %v", d, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := workflow.Signal(ctx, c, "wait-or-timeout", word, "hello"); err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
}

package main

// Acceptance 2 and 4 of issue 10 with real processes: a jetflow server,
// worker processes SIGKILLed by their PID, and the jetflow CLI. The workers
// are the helper of procsworker_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

// A signal sent while every worker is down waits for one: the run, whose
// only worker was SIGKILLed while it waited, receives both signals once
// each, in the order they were sent, after another worker starts. On the
// way, a query to the frozen worker times out, and one to the dead worker
// says that no worker serves the workflow.
func TestProcsSignalWhileEveryWorkerIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	e := connectEngine(t, url)
	ctx := procsContext(t)
	w1 := startProcsWorker(t, url, "parcel-w1")
	if _, err := workflow.Start(ctx, e.client, parcelWorkflow, "parcel-1", parcelInput{Addresses: 2}); err != nil {
		t.Fatal(err)
	}
	// The worker holds the run, waiting for its first signal.
	waitProgress(t, ctx, e.client, "parcel-1", parcelProgress{Stage: "waiting"})

	// A worker that is there but does not answer: the query times out.
	sendSignal(t, w1, syscall.SIGSTOP)
	_, errOut, code := cli(t, 20*time.Second, "query", "parcel-1", "progress", "--timeout", "2s", "--nats", url)
	if code != 1 || !strings.Contains(errOut, "query progress of run parcel-1: no worker answered in time") {
		t.Fatalf("query to a frozen worker: exit %d: %s", code, errOut)
	}
	_ = w1.Kill()
	// No worker at all: the query says so (once the server has seen the
	// connection go).
	waitCLI(t, func() (bool, string) {
		_, errOut, code := cli(t, 20*time.Second, "query", "parcel-1", "progress", "--timeout", "1s", "--nats", url)
		return code == 1 && strings.Contains(errOut, "no worker serves workflow Parcel"), fmt.Sprintf("exit %d: %s", code, errOut)
	})

	for _, in := range []string{`{"street": "1 Main St", "floor": 2}`, `{"street": "2 Side St"}`} {
		if out, errOut, code := cli(t, 20*time.Second, "signal", "parcel-1", "address", "--input", in, "--nats", url); code != 0 || !strings.Contains(out, "signal address sent to run parcel-1") {
			t.Fatalf("signal %s: exit %d: %s%s", in, code, out, errOut)
		}
	}
	if d, err := e.client.Describe(ctx, "parcel-1"); err != nil || d.Status.Closed() {
		t.Fatalf("with no worker the run moved: %+v, %v", d, err)
	}

	startProcsWorker(t, url, "parcel-w2")
	out := waitParcel(t, ctx, e.client, "parcel-1")
	if want := []string{"1 Main St", "2 Side St"}; !slices.Equal(out.Streets, want) || out.Rejected != 0 {
		t.Errorf("output %+v; want streets %q in that order, none rejected", out, want)
	}
	sigs := receivedSignals(t, ctx, e, "parcel-1")
	var got []string
	for _, s := range sigs {
		var a address
		if err := kv.UnmarshalPayload(s.Payload, &a); err != nil {
			t.Fatalf("signal %d in the history: %v", s.Seq, err)
		}
		got = append(got, s.Name+":"+a.Street)
	}
	if want := []string{"address:1 Main St", "address:2 Side St"}; !slices.Equal(got, want) {
		t.Errorf("signals in the history: %q; want %q (each once, in order)", got, want)
	}
	if got, want := procsEffects(t, e.js, "parcel-1"), map[string]int{"deliver": 1}; !maps.Equal(got, want) {
		t.Errorf("effects: %v; want %v", got, want)
	}
}

// A cancel sent while the run's only worker lies SIGKILLed in the middle of
// a step still cancels the run: the next worker rebuilds it, the saga
// undoes both bookings once each, latest first, and the run ends canceled
// with the reason.
func TestProcsCancelWhileTheWorkerIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	e := connectEngine(t, url)
	ctx := procsContext(t)
	started := make(chan *nats.Msg, 64)
	sub, err := e.nc.ChanSubscribe("jetflow.status.Trip.trip-1."+wire.EventStepStarted, started)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	w1 := startProcsWorker(t, url, "trip-w1")
	if _, err := workflow.Start(ctx, e.client, tripWorkflow, "trip-1", tripInput{Traveller: "ada"}); err != nil {
		t.Fatal(err)
	}
	// Kill the worker once the payment step runs there.
	for running := false; !running; {
		select {
		case m := <-started:
			var ev wire.Event
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatalf("step_started event %q: %v", m.Data, err)
			}
			running = ev.Step == awaitPayment.Name() && ev.Worker == "trip-w1"
		case <-ctx.Done():
			t.Fatalf("the payment step never started on trip-w1:\n%s", w1.Output())
		}
	}
	_ = w1.Kill()
	if got := procsEffects(t, e.js, "trip-1"); got["book_flight"] != 1 || got["book_hotel"] != 1 || len(got) != 2 {
		t.Fatalf("effects before the cancel: %v; want both bookings and nothing else", got)
	}

	if out, errOut, code := cli(t, 20*time.Second, "cancel", "trip-1", "--reason", "traveller changed plans", "--nats", url); code != 0 || !strings.Contains(out, "cancel requested for run trip-1") {
		t.Fatalf("cancel: exit %d: %s%s", code, out, errOut)
	}
	startProcsWorker(t, url, "trip-w2")
	rec, err := e.client.Wait(ctx, "trip-1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != workflow.StatusCanceled || rec.Error == nil || !strings.Contains(rec.Error.Message, "traveller changed plans") {
		t.Fatalf("run: status %s, error %s; want canceled with the reason", rec.Status, failureText(rec.Error))
	}
	want := map[string]int{"book_flight": 1, "book_hotel": 1, "cancel_hotel": 1, "cancel_flight": 1}
	if got := procsEffects(t, e.js, "trip-1"); !maps.Equal(got, want) {
		t.Errorf("effects: %v; want %v", got, want)
	}
	hist, err := e.client.History(ctx, "trip-1")
	if err != nil {
		t.Fatal(err)
	}
	var undone []string
	for _, h := range hist {
		if h.Compensation {
			undone = append(undone, fmt.Sprintf("%s done=%v error=%v worker=%s", h.Name, h.Done, h.Error, h.Worker))
		}
	}
	if want := []string{cancelHotel.Name() + " done=true error=<nil> worker=trip-w2", cancelFlight.Name() + " done=true error=<nil> worker=trip-w2"}; !slices.Equal(undone, want) {
		t.Errorf("compensations in the history: %q; want %q", undone, want)
	}
	if _, errOut, code := cli(t, 20*time.Second, "cancel", "trip-1", "--nats", url); code != 1 || !strings.Contains(errOut, "has ended (canceled)") {
		t.Errorf("cancel of the canceled run: exit %d: %s", code, errOut)
	}
}

// Bad input through the CLI, with a worker serving the run: what can be
// refused is refused with its exit status (README, "Exit statuses") and
// leaves the run alone; a payload that does not decode into the signal's
// type is the workflow's to see (it counts it here), and the run goes on to
// complete with the next good signal.
func TestProcsSignalAndQueryBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	e := connectEngine(t, url)
	ctx := procsContext(t)
	startProcsWorker(t, url, "parcel-w1")
	if _, err := workflow.Start(ctx, e.client, parcelWorkflow, "parcel-bad", parcelInput{Addresses: 1}); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, ctx, e.client, "parcel-bad", parcelProgress{Stage: "waiting"})

	for _, c := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"signal name not valid", []string{"signal", "parcel-bad", "no.dots"}, 2, "invalid name"},
		{"query name not valid", []string{"query", "parcel-bad", "no dots"}, 2, "invalid name"},
		{"run ID not valid", []string{"signal", "parcel bad", "address"}, 2, "parcel bad"},
		{"signal to an unknown run", []string{"signal", "parcel-nobody", "address", "--input", `{"street": "x"}`}, 1, `no run with ID "parcel-nobody"`},
		{"query of an unknown run", []string{"query", "parcel-nobody", "progress"}, 1, `no run with ID "parcel-nobody"`},
		{"cancel of an unknown run", []string{"cancel", "parcel-nobody"}, 1, `no run with ID "parcel-nobody"`},
		{"payload not JSON", []string{"signal", "parcel-bad", "address", "--input", `{"street": `}, 2, "invalid JSON"},
		{"query the run has no handler for", []string{"query", "parcel-bad", "weight"}, 1, "no handler for query weight (it has: progress)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := cli(t, 20*time.Second, append(c.args, "--nats", url)...)
			if code != c.code || !strings.Contains(errOut, c.says) {
				t.Errorf("jetflow %s: exit %d: %s; want exit %d saying %q", strings.Join(c.args, " "), code, errOut, c.code, c.says)
			}
		})
	}
	// Accepted (the CLI does not know the signal's type), and taken by the
	// run as a payload error: it counts it and waits on.
	if _, errOut, code := cli(t, 20*time.Second, "signal", "parcel-bad", "address", "--input", `{"street": 42}`, "--nats", url); code != 0 {
		t.Fatalf("signal with a payload of another type: exit %d: %s", code, errOut)
	}
	waitProgress(t, ctx, e.client, "parcel-bad", parcelProgress{Stage: "waiting", Rejected: 1})
	out, errOut, code := cli(t, 20*time.Second, "query", "parcel-bad", "progress", "--nats", url)
	var p parcelProgress
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p != (parcelProgress{Stage: "waiting", Rejected: 1}) {
		t.Fatalf("query progress: exit %d: %s%s", code, out, errOut)
	}

	if _, errOut, code := cli(t, 20*time.Second, "signal", "parcel-bad", "address", "--input", `{"street": "3 Good Rd"}`, "--nats", url); code != 0 {
		t.Fatalf("good signal: exit %d: %s", code, errOut)
	}
	res := waitParcel(t, ctx, e.client, "parcel-bad")
	if !slices.Equal(res.Streets, []string{"3 Good Rd"}) || res.Rejected != 1 {
		t.Errorf("output %+v; want the good street and one rejected payload", res)
	}
	if got := len(receivedSignals(t, ctx, e, "parcel-bad")); got != 2 {
		t.Errorf("%d signals in the history; want 2 (the bad payload and the good one)", got)
	}
	if _, errOut, code := cli(t, 20*time.Second, "signal", "parcel-bad", "address", "--input", `{"street": "late"}`, "--nats", url); code != 1 || !strings.Contains(errOut, "has ended (completed)") {
		t.Errorf("signal to the completed run: exit %d: %s", code, errOut)
	}
	if _, errOut, code := cli(t, 20*time.Second, "query", "parcel-bad", "progress", "--nats", url); code != 1 || !strings.Contains(errOut, "has ended (completed)") {
		t.Errorf("query of the completed run: exit %d: %s", code, errOut)
	}
}

// procsContext bounds a test's waits: the runs take a few seconds at most.
func procsContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitProgress queries the run until its progress is want.
func waitProgress(t *testing.T, ctx context.Context, c *workflow.Client, id string, want parcelProgress) {
	t.Helper()
	for {
		got, err := workflow.Query[parcelProgress](ctx, c, id, "progress")
		if err == nil && got == want {
			return
		}
		if errors.Is(err, workflow.ErrRunClosed) {
			t.Fatalf("query progress of %s: %v; want %+v", id, err, want)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("query progress of %s: got %+v, %v; want %+v", id, got, err, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitCLI runs try until it reports true, for up to 15 seconds.
func waitCLI(t *testing.T, try func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, last := try()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still, after 15s: %s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitParcel waits for the Parcel run id to complete and returns its output.
func waitParcel(t *testing.T, ctx context.Context, c *workflow.Client, id string) parcelOutput {
	t.Helper()
	out, err := workflow.Attach(c, parcelWorkflow, id).Result(ctx)
	if err != nil {
		d, derr := c.Describe(context.Background(), id)
		t.Fatalf("run %s: %v (status %s, waiting on %q, %v)", id, err, d.Status, d.CurrentStep, derr)
	}
	return out
}

// receivedSignals reads the signals the run's history records, in the
// order it received them: what a replay receives again.
func receivedSignals(t *testing.T, ctx context.Context, e *engine, id string) []kv.SignalIn {
	t.Helper()
	runsName, stepsName, _ := kv.BucketNames("jetflow")
	runs, err := e.js.KeyValue(ctx, runsName)
	if err != nil {
		t.Fatal(err)
	}
	stepsKV, err := e.js.KeyValue(ctx, stepsName)
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := kv.Get[kv.Run](ctx, runs, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []kv.SignalIn
	for n := 1; ; n++ {
		b, _, err := kv.Get[kv.Batch](ctx, stepsKV, kv.HistoryKey(kv.ExecKey(id, run.Inc, max(run.Exec, 1)), n))
		if errors.Is(err, kv.ErrNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Signals...)
	}
}

func failureText(f *workflow.Failure) string {
	if f == nil {
		return "none"
	}
	return f.Type + ": " + f.Message
}

// A child whose parent is canceled follows the parent close policy, with
// real processes: cancel (here with the worker SIGKILLed first) cancels the
// child, which undoes its bookings once each; terminate ends it with its
// bookings left as they are; abandon leaves it running.
func TestProcsChildFollowsItsParentsPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	e := connectEngine(t, url)
	ctx := procsContext(t)
	started := make(chan *nats.Msg, 64)
	sub, err := e.nc.ChanSubscribe("jetflow.status.Trip.*."+wire.EventStepStarted, started)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	worker := startProcsWorker(t, url, "journey-w1")
	cases := []struct {
		policy  workflow.ParentClosePolicy
		kill    bool
		status  workflow.Status
		effects map[string]int
	}{
		{workflow.ParentCloseCancel, true, workflow.StatusCanceled, map[string]int{"book_flight": 1, "book_hotel": 1, "cancel_hotel": 1, "cancel_flight": 1}},
		{workflow.ParentCloseTerminate, false, workflow.StatusTerminated, map[string]int{"book_flight": 1, "book_hotel": 1}},
		{workflow.ParentCloseAbandon, false, workflow.StatusRunning, map[string]int{"book_flight": 1, "book_hotel": 1}},
	}
	for i, tc := range cases {
		parent := "journey-" + tc.policy.String()
		child := "trip-of-" + parent
		if _, err := workflow.Start(ctx, e.client, journeyWorkflow, parent, journeyInput{Traveller: "ada", Policy: int(tc.policy)}); err != nil {
			t.Fatal(err)
		}
		for running := false; !running; {
			select {
			case m := <-started:
				var ev wire.Event
				if err := json.Unmarshal(m.Data, &ev); err != nil {
					t.Fatalf("step_started event %q: %v", m.Data, err)
				}
				running = ev.Step == awaitPayment.Name() && ev.WorkflowID == child
			case <-ctx.Done():
				t.Fatalf("%s: the payment step never started:\n%s", child, worker.Output())
			}
		}
		if tc.kill {
			_ = worker.Kill()
		}
		if out, errOut, code := cli(t, 20*time.Second, "cancel", parent, "--reason", "trip called off", "--nats", url); code != 0 {
			t.Fatalf("cancel %s: exit %d: %s%s", parent, code, out, errOut)
		}
		if tc.kill {
			worker = startProcsWorker(t, url, fmt.Sprintf("journey-w%d", i+2))
		}
		rec, err := e.client.Wait(ctx, parent)
		if err != nil || rec.Status != workflow.StatusCanceled {
			t.Fatalf("%s: %s, %v; want canceled", parent, rec.Status, err)
		}
		var crec workflow.Record
		if tc.status == workflow.StatusRunning {
			crec, err = e.client.Record(ctx, child)
		} else {
			crec, err = e.client.Wait(ctx, child)
		}
		if err != nil || crec.Status != tc.status || crec.Parent != parent {
			t.Fatalf("%s under %s: status %s, parent %q, %v; want %s", child, tc.policy, crec.Status, crec.Parent, err, tc.status)
		}
		if got := procsEffects(t, e.js, child); !maps.Equal(got, tc.effects) {
			t.Errorf("%s under %s: effects %v; want %v", child, tc.policy, got, tc.effects)
		}
	}
	// The abandoned child still takes orders of its own.
	if out, errOut, code := cli(t, 20*time.Second, "cancel", "trip-of-journey-abandon", "--nats", url); code != 0 {
		t.Fatalf("cancel the abandoned child: exit %d: %s%s", code, out, errOut)
	}
	if rec, err := e.client.Wait(ctx, "trip-of-journey-abandon"); err != nil || rec.Status != workflow.StatusCanceled {
		t.Fatalf("abandoned child after its own cancel: %s, %v", rec.Status, err)
	}
}

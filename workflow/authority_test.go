package workflow_test

import (
	"context"
	"errors"
	"github.com/jetflow-dev/jetflow/internal/runner"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The tests in this file publish what an attacker with publish rights on the
// task subjects would (issue "Lock it down": a message carries no
// authority) and check that nothing believes it.

// forgeStep publishes a step task as an outsider would.
func forgeStep(t *testing.T, ctx context.Context, js jetstream.JetStream, task runner.Task, msgID string) {
	t.Helper()
	data, err := kv.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := js.Publish(ctx, "jetflow.step."+task.Step, data, opts...); err != nil {
		t.Fatal(err)
	}
}

// dlqCount is the number of messages parked on subject filter.
func dlqCount(t *testing.T, ctx context.Context, js jetstream.JetStream, filter string) uint64 {
	t.Helper()
	st, err := js.Stream(ctx, "JETFLOW_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// waitParked waits until n messages are parked on filter.
func waitParked(t *testing.T, ctx context.Context, js jetstream.JetStream, filter string, n uint64) {
	t.Helper()
	for dlqCount(t, ctx, js, filter) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("parked on %s: %d, want %d", filter, dlqCount(t, ctx, js, filter), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitConsumerEmpty waits until a task consumer holds nothing pending or
// waiting.
func waitConsumerEmpty(t *testing.T, ctx context.Context, js jetstream.JetStream, consumer string) {
	t.Helper()
	cons, err := js.Consumer(ctx, "JETFLOW_TASKS", consumer)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == 0 && info.NumPending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s still holds %d pending and %d waiting", consumer, info.NumAckPending, info.NumPending)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func runRecord(t *testing.T, ctx context.Context, js jetstream.JetStream, id string) kv.Run {
	t.Helper()
	b, err := kv.Open(ctx, js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := kv.Get[kv.Run](ctx, b.Runs, id)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// A workflow task with an inline "payment succeeded" result, published while
// the real payment is running, must not be believed: the run follows the
// bucket, and the order does not ship unpaid.
func TestForgedInlineResultIsIgnored(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	charge := steps.New("ForgeCharge", func(ctx context.Context, amount int) (string, error) {
		started <- struct{}{}
		<-release
		return "", steps.NonRetryable("Declined", "card declined")
	})
	var shipped atomic.Int32
	ship := steps.New("ForgeShip", func(ctx context.Context, id string) (string, error) {
		shipped.Add(1)
		return "shipped", nil
	})
	order := workflow.New("ForgeOrder", func(ctx workflow.Context, amount int) (string, error) {
		if _, err := workflow.ExecuteStep(ctx, charge, amount).Get(ctx); err != nil {
			return "", err
		}
		return workflow.ExecuteStep(ctx, ship, "order").Get(ctx)
	})
	startWorker(t, nc, []workflow.Registrable{order}, []steps.Handler{charge, ship})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, order, "forge-inline-1", 100)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	paid, _ := kv.Marshal("paid")
	forged, _ := kv.Marshal(wire.WorkflowTask{WorkflowID: "forge-inline-1", Workflow: "ForgeOrder", Reason: wire.ReasonResult, Seq: 1,
		Result: &kv.Result{Kind: kv.KindStep, Name: "ForgeCharge", Output: paid, Attempts: 1, CompletedAt: time.Now()}})
	if _, err := js.Publish(ctx, "jetflow.wf.ForgeOrder", forged); err != nil {
		t.Fatal(err)
	}
	// Give the forged task every chance to be taken, then let the real
	// payment fail.
	time.Sleep(300 * time.Millisecond)
	close(release)
	if _, err = run.Result(ctx); err == nil || !strings.Contains(err.Error(), "card declined") {
		t.Fatalf("got %v, want the charge's failure", err)
	}
	if n := shipped.Load(); n != 0 {
		t.Fatalf("shipped %d times without payment", n)
	}
}

// A forged copy of a step task with a zero backoff and a nanosecond deadline
// runs under the policy the workflow recorded; a forged retry beyond what
// was scheduled, or with a date of its own, is not run.
func TestForgedStepTaskRunsUnderRecordedPolicy(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	var calls atomic.Int32
	flaky := steps.New("ForgeFlaky", func(ctx context.Context, n int) (int, error) {
		calls.Add(1)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		return 0, steps.NewError("Down", "service down")
	})
	wf := workflow.New("ForgePolicy", func(ctx workflow.Context, n int) (int, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: 10 * time.Second,
			RetryPolicy: &steps.RetryPolicy{InitialInterval: time.Hour, MaxAttempts: 3}})
		return workflow.ExecuteStep(ctx, flaky, n).Get(ctx)
	})
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{flaky})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	retrying := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe("jetflow.status.ForgePolicy.*.step_retrying", retrying)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if _, err := workflow.Start(ctx, c, wf, "forge-policy-1", 7); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, retrying) // attempt 1 failed; attempt 2 is due in an hour
	rec := runRecord(t, ctx, js, "forge-policy-1")
	in, _ := kv.Marshal(7)
	base := runner.Task{WorkflowID: "forge-policy-1", Workflow: "ForgePolicy", Step: "ForgeFlaky", Seq: 1, Attempt: 1, Input: in,
		Inc: rec.Inc, Batch: 1, StartToClose: time.Nanosecond, Retry: steps.RetryPolicy{InitialInterval: time.Nanosecond, MaxInterval: time.Nanosecond, BackoffCoefficient: 1}}
	forgeStep(t, ctx, js, base, "") // a copy of attempt 1 with a tight loop for a policy
	second := base
	second.Attempt = 2 // the scheduled retry, dated now instead of in an hour
	forgeStep(t, ctx, js, second, "")
	third := base
	third.Attempt = 3 // a retry nobody scheduled
	forgeStep(t, ctx, js, third, "")
	waitParked(t, ctx, js, "jetflow.dlq.step.ForgeFlaky", 1)
	// The copy of attempt 1 ran once more, under the recorded policy: its
	// failure is the service's, not a start-to-close timeout, and its
	// retry keeps the hour the first one scheduled.
	var events []string
	deadline := time.After(2 * time.Second)
collect:
	for {
		select {
		case m := <-retrying:
			events = append(events, string(m.Data))
		case <-deadline:
			break collect
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (the real attempt and the forged copy under the recorded policy)", n)
	}
	for _, ev := range events {
		if strings.Contains(ev, "StartToClose") {
			t.Fatalf("the forged deadline was obeyed: %s", ev)
		}
	}
	d, err := c.Describe(ctx, "forge-policy-1")
	if err != nil || d.Status != "running" {
		t.Fatalf("run: %+v, %v; want still running, waiting on its hour", d, err)
	}
	// Describe tells where the step stands: one attempt failed, the next
	// one is due in about an hour.
	if b := d.Backoff; b == nil || b.Step != "ForgeFlaky" || b.Attempts != 1 || b.LastErrorType != "Down" || time.Until(b.NextAttemptAt) < 50*time.Minute {
		t.Fatalf("backoff: %+v; want ForgeFlaky after 1 failed attempt, next in about an hour", d.Backoff)
	}
}

// Future-dated tasks, however many, never hold the step consumer's window:
// a new run behind two thousand of them runs at once, and the forged tasks
// are parked.
func TestFutureDatedTasksDoNotHoldReadyOnes(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	// 4 slots give the step consumer a window (MaxAckPending) of 1,040.
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne}, workflow.WithStepConcurrency(4))
	c := newClient(t, nc)
	ctx := testenv.Context(t, 60*time.Second)
	in, _ := kv.Marshal(1)
	const forged = 2000
	for i := 0; i < forged; i++ {
		data, _ := kv.Marshal(runner.Task{WorkflowID: "ghost-" + string(rune('a'+i%26)) + strings.Repeat("x", i%7), Workflow: "FiveSteps", Step: "AddOne",
			Seq: 1 + i, Attempt: 2, Input: in, Batch: 1, NotBefore: time.Now().Add(24 * time.Hour)})
		if _, err := js.PublishAsync("jetflow.step.AddOne", data); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishing the forged tasks")
	}
	run, err := workflow.Start(ctx, c, fiveSteps, "behind-ghosts", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 5 {
		t.Fatalf("got %d, %v; want 5", got, err)
	}
	waitParked(t, ctx, js, "jetflow.dlq.step.AddOne", forged)
	// The last parked message's termination may still be on its way.
	waitConsumerEmpty(t, ctx, js, "step_AddOne")
}

// Tasks that are impossible on their face are parked, and their handler
// never runs.
func TestImpossibleStepTasksAreParked(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	var calls atomic.Int32
	counted := steps.New("ForgeCounted", func(ctx context.Context, n int) (int, error) {
		calls.Add(1)
		return n, nil
	})
	startWorker(t, nc, nil, []steps.Handler{counted})
	ctx := testenv.Context(t, 20*time.Second)
	in, _ := kv.Marshal(1)
	bad := []runner.Task{
		{WorkflowID: "a b", Workflow: "W", Step: "ForgeCounted", Seq: 1, Attempt: 1, Input: in},
		{WorkflowID: "x*", Workflow: "W", Step: "ForgeCounted", Seq: 1, Attempt: 1, Input: in},
		{WorkflowID: "x>", Workflow: "W", Step: "ForgeCounted", Seq: 1, Attempt: 1, Input: in},
		{WorkflowID: "ok", Workflow: "", Step: "ForgeCounted", Seq: 1, Attempt: 1, Input: in},
		{WorkflowID: "ok", Workflow: "W", Step: "ForgeCounted", Seq: 0, Attempt: 1, Input: in},
		{WorkflowID: "ok", Workflow: "W", Step: "ForgeCounted", Seq: 1, Attempt: -1, Input: in},
		{WorkflowID: "ok", Workflow: "W", Step: "ForgeCounted", Seq: 1, Attempt: 1, Input: in, Exec: -2},
		{WorkflowID: "ok", Workflow: "W", Step: "ForgeCounted", Seq: 1, Attempt: 1, Input: in, Batch: 1}, // no such run
	}
	for _, task := range bad {
		forgeStep(t, ctx, js, task, "")
	}
	// A task naming another step than its subject's.
	other := bad[len(bad)-1]
	other.Step = "SomethingElse"
	data, _ := kv.Marshal(other)
	if _, err := js.Publish(ctx, "jetflow.step.ForgeCounted", data); err != nil {
		t.Fatal(err)
	}
	waitParked(t, ctx, js, "jetflow.dlq.step.ForgeCounted", uint64(len(bad)+1))
	if n := calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times for impossible tasks", n)
	}
}

// Junk published ahead of a run under the deduplication ID its first step
// task used to have does not stop the run: deduplication IDs carry the
// run's incarnation, which nobody can guess.
func TestDedupeIDsCannotBeTaken(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	for _, id := range []string{"victim-1.1.1.step", "victim-1.2.1.step", "victim-1.0.0.start"} {
		if _, err := js.Publish(ctx, "jetflow.step.AddOne", []byte("junk"), jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	run, err := workflow.Start(ctx, c, fiveSteps, "victim-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 5 {
		t.Fatalf("got %d, %v; want 5", got, err)
	}
}

// An operator deletes a finished run's record and starts the same ID again:
// what the old run left behind (results, history, deduplication IDs) does
// not stand in the way of the new one.
func TestIDReusedAfterItsRecordWasDeleted(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, fiveSteps, "reused-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 5 {
		t.Fatalf("first run: got %d, %v; want 5", got, err)
	}
	runs, err := js.KeyValue(ctx, "jetflow_runs")
	if err != nil {
		t.Fatal(err)
	}
	if err := runs.Delete(ctx, "reused-1"); err != nil {
		t.Fatal(err)
	}
	run, err = workflow.Start(ctx, c, fiveSteps, "reused-1", 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 105 {
		t.Fatalf("second run: got %d, %v; want 105", got, err)
	}
}

// A workflow task naming a result that never appears (here: an execution
// the run never reached) is parked after a few deliveries, not put back for
// ever.
func TestHintWithNothingBehindItIsParked(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	block := make(chan struct{})
	stuck := steps.New("ForgeStuck", func(ctx context.Context, n int) (int, error) {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return n, nil
	})
	wf := workflow.New("ForgeHint", func(ctx workflow.Context, n int) (int, error) {
		return workflow.ExecuteStep(ctx, stuck, n).Get(ctx)
	})
	w, _ := startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{stuck})
	t.Cleanup(func() { close(block) }) // before the worker stops
	workflow.SetNotYetLimit(w, 2)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	if _, err := workflow.Start(ctx, c, wf, "hint-1", 1); err != nil {
		t.Fatal(err)
	}
	data, _ := kv.Marshal(wire.WorkflowTask{WorkflowID: "hint-1", Workflow: "ForgeHint", Reason: wire.ReasonResult, Seq: 1, Exec: 5})
	if _, err := js.Publish(ctx, "jetflow.wf.ForgeHint", data); err != nil {
		t.Fatal(err)
	}
	waitParked(t, ctx, js, "jetflow.dlq.wf.ForgeHint", 1)
}

// A poison message just under max_payload is parked (cut to fit with the
// headers parking adds), once, instead of being put back in a loop.
func TestPoisonNearMaxPayloadIsParkedOnce(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne})
	ctx := testenv.Context(t, 20*time.Second)
	junk := make([]byte, nc.MaxPayload()-200)
	for i := range junk {
		junk[i] = 0xc1 // never valid msgpack
	}
	if _, err := js.Publish(ctx, "jetflow.step.AddOne", junk); err != nil {
		t.Fatal(err)
	}
	waitParked(t, ctx, js, "jetflow.dlq.step.AddOne", 1)
	st, err := js.Stream(ctx, "JETFLOW_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, "jetflow.dlq.step.AddOne")
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Jetflow-Truncated") == "" || m.Header.Get("Jetflow-Stream-Seq") == "" {
		t.Fatalf("parked copy does not say it was cut or where the original was: %v", m.Header)
	}
	cons, err := js.Consumer(ctx, "JETFLOW_TASKS", "step_AddOne")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 || info.NumAckPending != 0 {
		t.Fatalf("poison message delivered again: %d redelivered, %d pending", info.NumRedelivered, info.NumAckPending)
	}
}

// Nothing too large to record makes a run unclosable: a step whose output
// cannot be recorded fails once, typed, and a run whose record would not fit
// its input and output fails, typed, and closes.
func TestOutputsTooLargeToRecordCloseTheRun(t *testing.T) {
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
	var calls atomic.Int32
	big := steps.New("BigOutput", func(ctx context.Context, n int) (string, error) {
		calls.Add(1)
		return strings.Repeat("x", n), nil
	})
	stepTooBig := workflow.New("StepTooBig", func(ctx workflow.Context, n int) (string, error) {
		return workflow.ExecuteStep(ctx, big, n).Get(ctx)
	})
	echoTwice := workflow.New("EchoTwice", func(ctx workflow.Context, s string) (string, error) { return s + s, nil })
	startWorker(t, nc, []workflow.Registrable{stepTooBig, echoTwice}, []steps.Handler{big})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)

	run, err := workflow.Start(ctx, c, stepTooBig, "big-step-1", 70*1024)
	if err != nil {
		t.Fatal(err)
	}
	_, err = run.Result(ctx)
	if !errors.Is(err, workflow.ErrPayloadTooLarge) && (err == nil || !strings.Contains(err.Error(), "PayloadTooLarge")) {
		t.Fatalf("got %v, want the step's PayloadTooLarge failure", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("step ran %d times, want once", n)
	}

	run2, err := workflow.Start(ctx, c, echoTwice, "big-record-1", strings.Repeat("y", 40*1024))
	if err != nil {
		t.Fatal(err)
	}
	_, err = run2.Result(ctx)
	if err == nil || !strings.Contains(err.Error(), "PayloadTooLarge") {
		t.Fatalf("got %v, want a PayloadTooLarge failure", err)
	}
	d, err := c.Describe(ctx, "big-record-1")
	if err != nil || d.Status != "failed" || d.Error == nil || d.Error.Type != workflow.TypePayloadTooLarge {
		t.Fatalf("run: %+v, %v; want failed with PayloadTooLarge", d, err)
	}
}

// Timer tasks published ahead of their timer's recorded time neither fire
// it nor wait in the workflow consumer's window: they go back into the
// server's schedule.
func TestEarlyTimerTasksDoNotFireOrWait(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	napper := workflow.New("ForgeNap", func(ctx workflow.Context, n int) (int, error) {
		if err := workflow.Sleep(ctx, time.Hour); err != nil {
			return 0, err
		}
		return n, nil
	})
	startWorker(t, nc, []workflow.Registrable{napper}, nil, workflow.WithWorkflowConcurrency(2))
	c := newClient(t, nc)
	ctx := testenv.Context(t, 60*time.Second)
	timers := make(chan *nats.Msg, 4)
	sub, err := nc.ChanSubscribe("jetflow.status.ForgeNap.*.timer_scheduled", timers)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if _, err := workflow.Start(ctx, c, napper, "napper-1", 1); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, timers)
	const forged = 1100 // over the consumer's window of 1,020
	for i := 0; i < forged; i++ {
		data, _ := kv.Marshal(wire.WorkflowTask{WorkflowID: "napper-1", Workflow: "ForgeNap", Reason: wire.ReasonTimer, Seq: 1, FireAt: time.Now()})
		if _, err := js.PublishAsync("jetflow.wf.ForgeNap", data); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishing the forged tasks")
	}
	// A new run behind them starts and reaches its timer.
	if _, err := workflow.Start(ctx, c, napper, "napper-2", 2); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, timers)
	waitConsumerEmpty(t, ctx, js, "wf_ForgeNap")
	d, err := c.Describe(ctx, "napper-1")
	if err != nil || d.Status != "running" {
		t.Fatalf("run: %+v, %v; want still asleep", d, err)
	}
}

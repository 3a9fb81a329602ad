package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

type payIn struct {
	On       string // "A" or "B": which worker's step to call
	Attempts int
}

// payment is a primary payment channel behind a breaker. Each of two
// workers serves its own step (ChargeA, ChargeB), both guarded by the same
// breaker name, so a test knows which worker ran which attempt.
type payment struct {
	failing    atomic.Bool
	gate       chan struct{}
	callsA     atomic.Int32
	callsB     atomic.Int32
	chargeA    *steps.Definition[string, string]
	chargeB    *steps.Definition[string, string]
	workflow   *workflow.Definition[payIn, string]
	breakerCfg *steps.BreakerPolicy
}

func newPayment(breaker *steps.BreakerPolicy) *payment {
	p := &payment{gate: make(chan struct{}), breakerCfg: breaker}
	handler := func(calls *atomic.Int32) func(context.Context, string) (string, error) {
		return func(ctx context.Context, on string) (string, error) {
			calls.Add(1)
			if p.failing.Load() {
				return "", steps.NewError("Unavailable", "primary channel down")
			}
			select {
			case <-p.gate:
				return "charged on " + on, nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}
	p.chargeA = steps.New("ChargeA", handler(&p.callsA))
	p.chargeB = steps.New("ChargeB", handler(&p.callsB))
	// The seed's PaymentWithFallback: an open breaker means "use the other
	// channel now", not "wait and retry".
	p.workflow = workflow.New("PayWithBreaker", func(ctx workflow.Context, in payIn) (string, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{
			Breaker:     p.breakerCfg,
			RetryPolicy: &steps.RetryPolicy{MaxAttempts: in.Attempts, InitialInterval: 20 * time.Millisecond},
		})
		step := p.chargeA
		if in.On == "B" {
			step = p.chargeB
		}
		out, err := workflow.ExecuteStep(ctx, step, in.On).Get(ctx)
		var se *workflow.StepError
		if errors.Is(err, steps.ErrBreakerOpen) && errors.As(err, &se) {
			return fmt.Sprintf("fallback@%d", se.Attempts), nil
		}
		return out, err
	})
	return p
}

func (p *payment) calls() int32 { return p.callsA.Load() + p.callsB.Load() }

func pay(t *testing.T, ctx context.Context, c *workflow.Client, p *payment, id string, in payIn) string {
	t.Helper()
	run, err := workflow.Start(ctx, c, p.workflow, id, in)
	if err != nil {
		t.Fatalf("Start %s: %v", id, err)
	}
	out, err := run.Result(ctx)
	if err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	return out
}

func breakerState(t *testing.T, ctx context.Context, c *workflow.Client, name string) workflow.BreakerState {
	t.Helper()
	all, err := c.Breakers(ctx)
	if err != nil {
		t.Fatalf("Breakers: %v", err)
	}
	for _, b := range all {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("breaker %s not listed in %+v", name, all)
	return workflow.BreakerState{}
}

// TestBreakerSharedAcrossWorkers is acceptance 3 of issue 3: failures seen on
// worker A open the breaker, worker B then fails fast without calling its
// handler, and after ResetTimeout exactly one probe runs cluster-wide.
func TestBreakerSharedAcrossWorkers(t *testing.T) {
	srv := testenv.Start(t, false)
	ncA, ncB, ncObs := srv.Conn(), srv.Conn(), srv.Conn()
	events, err := ncObs.SubscribeSync("jetflow.breaker.primary-payments.*")
	if err != nil {
		t.Fatal(err)
	}
	_ = ncObs.Flush()

	p := newPayment(&steps.BreakerPolicy{Name: "primary-payments", FailureThreshold: 3, ResetTimeout: time.Second})
	startWorker(t, ncA, []workflow.Registrable{p.workflow}, []steps.Handler{p.chargeA}, workflow.WithName("worker-A"))
	startWorker(t, ncB, nil, []steps.Handler{p.chargeB}, workflow.WithName("worker-B"))
	c := newClient(t, ncObs)
	ctx := testenv.Context(t, 60*time.Second)

	// Worker A: three failures open the breaker; the fourth attempt is
	// refused without the handler, and the step ends at once although the
	// retry policy allowed ten attempts.
	p.failing.Store(true)
	if got := pay(t, ctx, c, p, "pay-a", payIn{On: "A", Attempts: 10}); got != "fallback@4" {
		t.Fatalf("run on A: got %q, want fallback@4", got)
	}
	if got := p.callsA.Load(); got != 3 {
		t.Fatalf("handler calls on A: got %d, want 3", got)
	}
	st := breakerState(t, ctx, c, "primary-payments")
	if st.State != "open" || st.Failures != 3 || st.UpdatedBy != "worker-A" {
		t.Fatalf("breaker: got %s, %d failures, by %s; want open, 3, worker-A", st.State, st.Failures, st.UpdatedBy)
	}

	// Worker B has never seen a failure, yet fails fast.
	if got := pay(t, ctx, c, p, "pay-b", payIn{On: "B", Attempts: 10}); got != "fallback@1" {
		t.Fatalf("run on B: got %q, want fallback@1", got)
	}
	if got := p.callsB.Load(); got != 0 {
		t.Fatalf("handler calls on B: got %d, want 0", got)
	}

	// After ResetTimeout, many concurrent calls on both workers: one probe.
	time.Sleep(time.Until(st.OpenUntil))
	p.failing.Store(false)
	p.callsA.Store(0)
	const n = 12
	var fallbacks atomic.Int32
	results := make(chan string, n)
	for i := range n {
		in := payIn{On: []string{"A", "B"}[i%2], Attempts: 1}
		go func() {
			run, err := workflow.Start(ctx, c, p.workflow, fmt.Sprintf("probe-%d", i), in)
			if err != nil {
				results <- "start: " + err.Error()
				return
			}
			out, err := run.Result(ctx)
			if err != nil {
				out = "error: " + err.Error()
			}
			if strings.HasPrefix(out, "fallback@") {
				fallbacks.Add(1)
			}
			results <- out
		}()
	}
	// Wait until every run has either been refused or is in a handler; the
	// handlers block on the gate, so none can close the breaker meanwhile.
	for fallbacks.Load()+p.calls() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for the runs: %d refused, %d in handlers", fallbacks.Load(), p.calls())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got := p.calls(); got != 1 {
		t.Fatalf("probes running cluster-wide: got %d, want 1", got)
	}
	close(p.gate)
	var charged int
	for range n {
		out := <-results
		switch {
		case strings.HasPrefix(out, "charged on "):
			charged++
		case out != "fallback@1":
			t.Errorf("run result: got %q, want charged or fallback@1", out)
		}
	}
	if charged != 1 {
		t.Fatalf("charged runs: got %d, want 1", charged)
	}
	if st := breakerState(t, ctx, c, "primary-payments"); st.State != "closed" || st.Failures != 0 {
		t.Fatalf("breaker after the probe: got %s/%d, want closed/0", st.State, st.Failures)
	}
	// Closed again: B's handler runs.
	if got := pay(t, ctx, c, p, "pay-b-2", payIn{On: "B", Attempts: 1}); got != "charged on B" {
		t.Fatalf("run on B after closing: got %q, want charged on B", got)
	}

	var got []string
	for len(got) < 3 {
		m, err := events.NextMsgWithContext(ctx)
		if err != nil {
			t.Fatalf("breaker events so far %v: %v", got, err)
		}
		var ev steps.BreakerEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(m.Subject, "."+ev.To) || ev.Time.IsZero() || ev.Worker == "" {
			t.Errorf("event on %s: %+v", m.Subject, ev)
		}
		got = append(got, ev.From+">"+ev.To)
	}
	if want := "[closed>open open>half_open half_open>closed]"; fmt.Sprint(got) != want {
		t.Fatalf("transitions: got %v, want %s", got, want)
	}
}

// TestBreakerCorruptRecordIsClosed: a record that does not decode neither
// stops the step nor crashes the worker; it is overwritten.
func TestBreakerCorruptRecordIsClosed(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	p := newPayment(&steps.BreakerPolicy{Name: "garbled", FailureThreshold: 3})
	close(p.gate)
	startWorker(t, nc, []workflow.Registrable{p.workflow}, []steps.Handler{p.chargeA})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := js.KeyValue(ctx, "jetflow_breakers")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bucket.Put(ctx, "garbled", []byte("\xc1not msgpack")); err != nil {
		t.Fatal(err)
	}
	if st := breakerState(t, ctx, c, "garbled"); !st.Corrupt || st.State != "closed" {
		t.Fatalf("listed: got %+v, want corrupt and closed", st)
	}
	sub, err := nc.SubscribeSync("jetflow.breaker.garbled.closed")
	if err != nil {
		t.Fatal(err)
	}
	if got := pay(t, ctx, c, p, "garbled-1", payIn{On: "A", Attempts: 1}); got != "charged on A" {
		t.Fatalf("run: got %q, want charged on A", got)
	}
	if st := breakerState(t, ctx, c, "garbled"); st.Corrupt || st.State != "closed" {
		t.Fatalf("after a run: got %+v, want a decodable closed record", st)
	}
	m, err := sub.NextMsgWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ev steps.BreakerEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.From != "corrupt" {
		t.Fatalf("event: got %s (%v), want one from corrupt", m.Data, err)
	}
}

func TestResetBreaker(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	p := newPayment(&steps.BreakerPolicy{Name: "manual", FailureThreshold: 1, ResetTimeout: time.Hour})
	p.failing.Store(true)
	startWorker(t, nc, []workflow.Registrable{p.workflow}, []steps.Handler{p.chargeA})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)

	if err := c.ResetBreaker(ctx, "manual"); !errors.Is(err, workflow.ErrBreakerNotFound) {
		t.Fatalf("reset before any run: got %v, want ErrBreakerNotFound", err)
	}
	if all, err := c.Breakers(ctx); err != nil || len(all) != 0 {
		t.Fatalf("Breakers on an empty bucket: got %v, %v; want none", all, err)
	}
	if got := pay(t, ctx, c, p, "manual-1", payIn{On: "A", Attempts: 5}); got != "fallback@2" {
		t.Fatalf("run: got %q, want fallback@2", got)
	}
	st := breakerState(t, ctx, c, "manual")
	if st.State != "open" || st.Opens != 1 || st.Policy.FailureThreshold != 1 || st.Policy.ResetTimeout != time.Hour {
		t.Fatalf("before reset: got %+v", st)
	}
	sub, err := nc.SubscribeSync("jetflow.breaker.manual.closed")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ResetBreaker(ctx, "manual"); err != nil {
		t.Fatalf("ResetBreaker: %v", err)
	}
	if st := breakerState(t, ctx, c, "manual"); st.State != "closed" || st.Failures != 0 || st.Opens != 0 {
		t.Fatalf("after reset: got %+v, want closed with no failures", st)
	}
	m, err := sub.NextMsgWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ev steps.BreakerEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.From != "open" || ev.Reason != "reset" {
		t.Fatalf("event: got %s (%v), want open>closed for reset", m.Data, err)
	}
	if err := c.ResetBreaker(ctx, "bad.name"); !errors.Is(err, workflow.ErrInvalidName) {
		t.Fatalf("reset of an invalid name: got %v, want ErrInvalidName", err)
	}
}

// TestBreakerDuplicateDeliveryFollowsFirst: a second delivery of an attempt
// that is already calling the service (here a copy of the task message, as a
// server restart can hand out with its delivery count lost) must not be
// refused by a breaker that opened meanwhile: the refusal would fail the step
// for a charge that happens anyway, and the workflow would pay through its
// fallback too. The copy follows the first delivery's claim and calls the
// handler with the same idempotency key.
func TestBreakerDuplicateDeliveryFollowsFirst(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	p := newPayment(&steps.BreakerPolicy{Name: "dup", FailureThreshold: 1, ResetTimeout: time.Hour})
	startWorker(t, nc, []workflow.Registrable{p.workflow}, []steps.Handler{p.chargeA})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	run, err := workflow.Start(ctx, c, p.workflow, "dup-1", payIn{On: "A", Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for p.callsA.Load() < 1 {
		if ctx.Err() != nil {
			t.Fatal("the first delivery never reached the handler")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The first delivery is in the handler. Open the breaker under it...
	breakers, err := js.KeyValue(ctx, "jetflow_breakers")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	open, err := kv.Marshal(kv.Breaker{Name: "dup", State: kv.BreakerOpen, Failures: 1, OpenedAt: now, OpenUntil: now.Add(time.Hour), Opens: 1, UpdatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := breakers.Put(ctx, "dup", open); err != nil {
		t.Fatal(err)
	}
	// ...and deliver a copy of its task message.
	names := wire.NewNames("jetflow")
	st, err := js.Stream(ctx, names.TaskStream())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(ctx, names.StepSubject("ChargeA"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, msg.Subject, msg.Data); err != nil {
		t.Fatal(err)
	}
	// Either the copy calls the handler too, or (the bug) it records a
	// refusal and the run ends through the fallback.
	ended := make(chan string, 1)
	go func() {
		out, err := run.Result(ctx)
		if err != nil {
			out = "error: " + err.Error()
		}
		ended <- out
	}()
	for p.callsA.Load() < 2 {
		select {
		case out := <-ended:
			t.Fatalf("run ended with %q while its first delivery was still charging; want the copy to follow it", out)
		case <-ctx.Done():
			t.Fatal("the copy never reached the handler")
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(p.gate)
	if out := <-ended; out != "charged on A" {
		t.Fatalf("run: got %q, want charged on A", out)
	}
	if st := breakerState(t, ctx, c, "dup"); st.State != "open" {
		t.Fatalf("breaker: got %s, want still open (nobody probed)", st.State)
	}
}

// TestBreakerOverlappingAttempts: four attempts of a breaker-guarded step
// run at once on two workers, each admitted while the breaker counts no
// failures; their handlers are released one at a time so that they complete
// F, F, S, F. The success came after the first two failures, so only the
// last failure is consecutive: a threshold of 3 must not open the breaker.
func TestBreakerOverlappingAttempts(t *testing.T) {
	srv := testenv.Start(t, false)
	ncA, ncB := srv.Conn(), srv.Conn()
	order := []bool{true, true, false, true} // fail?
	gates := make([]chan bool, len(order))
	for i := range gates {
		gates[i] = make(chan bool)
	}
	var entered atomic.Int32
	step := steps.New("OverlapCharge", func(ctx context.Context, i int) (string, error) {
		entered.Add(1)
		select {
		case fail := <-gates[i]:
			if fail {
				return "", steps.NewError("Unavailable", "primary channel down")
			}
			return "charged", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	wf := workflow.New("OverlapPay", func(ctx workflow.Context, i int) (string, error) {
		ctx = workflow.WithStepOptions(ctx, steps.Options{
			Breaker:     &steps.BreakerPolicy{Name: "overlap", FailureThreshold: 3, ResetTimeout: time.Hour},
			RetryPolicy: &steps.RetryPolicy{MaxAttempts: 1},
		})
		return workflow.ExecuteStep(ctx, step, i).Get(ctx)
	})
	startWorker(t, ncA, []workflow.Registrable{wf}, []steps.Handler{step}, workflow.WithName("worker-A"))
	startWorker(t, ncB, nil, []steps.Handler{step}, workflow.WithName("worker-B"))
	c := newClient(t, ncA)
	ctx := testenv.Context(t, 60*time.Second)

	runs := make([]*workflow.Run[string], len(order))
	for i := range order {
		run, err := workflow.Start(ctx, c, wf, fmt.Sprintf("overlap-%d", i), i)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		runs[i] = run
	}
	for entered.Load() < int32(len(order)) {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of %d attempts reached their handler", entered.Load(), len(order))
		case <-time.After(5 * time.Millisecond):
		}
	}
	// Each run ends after its attempt's outcome reached the breaker.
	for i, fail := range order {
		gates[i] <- fail
		if _, err := runs[i].Result(ctx); (err != nil) != fail {
			t.Fatalf("run %d: got error %v, want failed %v", i, err, fail)
		}
	}
	st := breakerState(t, ctx, c, "overlap")
	if st.State != "closed" || st.Failures != 1 || st.Opens != 0 {
		t.Fatalf("breaker after F, F, S, F: got %s, %d consecutive failures, %d opens; want closed, 1, 0", st.State, st.Failures, st.Opens)
	}
}

package workflow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/tracing/tracingtest"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// One order's trace, worker and client in one process with the SDK's
// span recorder: the client's span is the one root; Start's span under it;
// the run, its workflow tasks, its timer and every step attempt under
// that, each attempt with its attributes; the span the payment handler
// makes from its context under the attempt that ran it. The run's record
// names the trace (Describe), for the web page and `history --json`.
func TestTraceOfOneOrder(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(testenv.Context(t, 5*time.Second)) })
	startWorker(t, nc, []workflow.Registrable{tracingtest.OrderWorkflow}, tracingtest.Steps(), workflow.WithTracerProvider(tp))
	c, err := workflow.NewClient(t.Context(), nc, workflow.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 30*time.Second)

	rctx, root := tp.Tracer("shop").Start(ctx, tracingtest.ClientSpan)
	run, err := workflow.Start(rctx, c, tracingtest.OrderWorkflow, "order-1", tracingtest.Order{ID: "1"})
	root.End()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got, err := run.Result(ctx); err != nil || got != "shipment_failed" {
		t.Fatalf("Result: got %q, %v; want shipment_failed", got, err)
	}
	spans := tracingtest.Wait(t, func() []tracingtest.Span { return tracingtest.FromSDK(rec.Ended(), "test") }, "order-1")
	var client tracingtest.Span
	for _, s := range spans {
		if s.Name == tracingtest.ClientSpan {
			client = s
		}
	}
	tracingtest.Check(t, spans, client, "order-1")
	d, err := c.Describe(ctx, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.TraceID != client.TraceID {
		t.Errorf("Describe: TraceID %q, want %q", d.TraceID, client.TraceID)
	}
	r, err := c.Record(ctx, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.TraceID != client.TraceID {
		t.Errorf("Record (history --json): TraceID %q, want %q", r.TraceID, client.TraceID)
	}
}

// With the default (global, no-op) provider and no span around Start, a
// run records no trace context, and its tasks carry none.
func TestNoTraceWithoutSpans(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, fiveSteps, "untraced-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Result(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := c.Describe(ctx, "untraced-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.TraceID != "" {
		t.Errorf("TraceID %q, want none", d.TraceID)
	}
}

// A run started outside any trace (the CLI, a schedule, an untraced
// client) gets a trace of its own from the worker that starts it, when that
// worker traces: a root span for its start, and its steps under it.
func TestWorkerStartsATraceForAnUntracedRun(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(testenv.Context(t, 5*time.Second)) })
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne}, workflow.WithTracerProvider(tp))
	c := newClient(t, nc) // no tracer: the global no-op one
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, fiveSteps, "rooted-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Result(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := c.Describe(ctx, "rooted-1")
	if err != nil || d.TraceID == "" {
		t.Fatalf("TraceID %q, %v; want the trace the worker started", d.TraceID, err)
	}
	var root, steps int
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() != d.TraceID {
			continue
		}
		switch {
		case s.Name() == "start FiveSteps" && !s.Parent().IsValid():
			root++
		case strings.Contains(s.Name(), "AddOne"):
			steps++
		}
	}
	if root != 1 || steps != 5 {
		t.Fatalf("trace %s: %d root start spans, %d step spans; want 1 and 5", d.TraceID, root, steps)
	}
}

package workerapp_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/tracing/tracingtest"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/workerapp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// traceWorkerEnv holds "<role> <spans file> <NATS URL>" in the environment
// of a worker process of TestTraceCrossesWorkerProcesses; the helper test
// skips without it.
const traceWorkerEnv = "JETFLOW_TEST_TRACE_WORKER"

// One order's trace across three processes: the test's client, a worker
// process that runs only the workflow, and one that runs only its steps.
// Each worker writes its spans to a file; the trace is whole, under the
// client's one root span, with the workflow's spans from the one process
// and the attempts' (and the payment handler's own span) from the other:
// the trace context crossed the JetStream hop both ways.
func TestTraceCrossesWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	srv := testenv.Start(t, true)
	dir := t.TempDir()
	files := map[string]string{"workflows": filepath.Join(dir, "workflows.jsonl"), "steps": filepath.Join(dir, "steps.jsonl")}
	for _, role := range []string{"workflows", "steps"} {
		p := testenv.StartHelper(t, "TestHelperTraceWorker", traceWorkerEnv+"="+role+" "+files[role]+" "+srv.ClientURL())
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(p.Output(), `msg="worker running"`) {
			select {
			case <-p.Done():
				t.Fatalf("the %s worker (pid %d) exited:\n%s", role, p.PID(), p.Output())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s worker (pid %d) did not start:\n%s", role, p.PID(), p.Output())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c, err := workflow.NewClient(t.Context(), srv.Conn(), workflow.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 60*time.Second)
	rctx, root := tp.Tracer("shop").Start(ctx, tracingtest.ClientSpan)
	run, err := workflow.Start(rctx, c, tracingtest.OrderWorkflow, "order-procs-1", tracingtest.Order{ID: "p1"})
	root.End()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got, err := run.Result(ctx); err != nil || got != "shipment_failed" {
		t.Fatalf("Result: got %q, %v; want shipment_failed", got, err)
	}
	read := func() []tracingtest.Span {
		spans := tracingtest.FromSDK(rec.Ended(), "client")
		for _, role := range []string{"workflows", "steps"} {
			s, err := tracingtest.ReadFile(files[role])
			if err != nil {
				t.Fatal(err)
			}
			spans = append(spans, s...)
		}
		return spans
	}
	spans := tracingtest.Wait(t, read, "order-procs-1")
	var client tracingtest.Span
	for _, s := range spans {
		if s.Name == tracingtest.ClientSpan {
			client = s
		}
	}
	tracingtest.Check(t, spans, client, "order-procs-1")
	for _, s := range spans {
		want := "workflows"
		switch {
		case s.Name == tracingtest.ClientSpan || strings.HasPrefix(s.Name, "start "):
			want = "client"
		case strings.HasPrefix(s.Name, "step ") || strings.HasPrefix(s.Name, "compensate ") || s.Name == tracingtest.HandlerSpan:
			want = "steps"
		}
		if s.Process != want {
			t.Errorf("span %q came from the %s process, want %s", s.Name, s.Process, want)
		}
	}
}

// TestHelperTraceWorker is a worker process of
// TestTraceCrossesWorkerProcesses: a worker binary made with package
// workerapp that runs the order's workflow or its steps, and writes its
// spans to a file, one line of JSON each.
func TestHelperTraceWorker(t *testing.T) {
	spec := strings.Fields(os.Getenv(traceWorkerEnv))
	if len(spec) != 3 {
		t.Skip("a worker process of TestTraceCrossesWorkerProcesses")
	}
	role, file, url := spec[0], spec[1], spec[2]
	ctx, cancel := testenv.HelperDone(context.Background())
	defer cancel()
	exp, err := tracingtest.NewFileExporter(file, role)
	if err != nil {
		t.Fatal(err)
	}
	// Synchronous: a span is in the file once it has ended.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	app := workerapp.New("trace-" + role)
	switch role {
	case "workflows":
		app.Register(tracingtest.OrderWorkflow)
	case "steps":
		app.RegisterSteps(tracingtest.Steps()...)
	}
	app.WorkerOptions(workflow.WithTracerProvider(tp))
	if err := app.Run(ctx, []string{"--nats", url, "--name", "trace-" + role}); err != nil {
		t.Fatal(err)
	}
}

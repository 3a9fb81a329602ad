package workflow

import (
	"context"
	"time"

	"github.com/jetflow-dev/jetflow/internal/tracing"
	"github.com/jetflow-dev/jetflow/kv"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Tracing: a client's Start makes a span ("start <Workflow>") under the
// caller's, and records its context in the run record; every span of the
// run hangs under it, whichever worker makes it: one per workflow task, per
// step attempt (package runner), per timer that fires, and one for the run
// when it closes. Workflow code's replay makes none: only live work is
// traced.

// WithTracerProvider sets the OpenTelemetry tracer provider of a worker's or
// a client's spans (default: the global one, otel.GetTracerProvider, which
// makes nothing until a provider is set with otel.SetTracerProvider). The
// trace context travels in W3C form (traceparent, tracestate) in the run
// record and the task messages' headers, whatever the global propagator.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return invalid("nil tracer provider")
		}
		c.tracerProvider = tp
		return nil
	}
}

// startSpan opens the span of a Start under the caller's span in ctx. With
// the no-op provider it is the caller's span context itself (recorded in
// the run, so a worker that traces still joins the caller's trace).
func (c *Client) startSpan(ctx context.Context, workflow, id string) (context.Context, trace.Span) {
	tr := c.tracer
	if tr == nil {
		tr = tracing.Tracer(c.cfg.tracerProvider)
	}
	ctx, span := tr.Start(ctx, "start "+workflow, trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() {
		span.SetAttributes(tracing.AttrWorkflow.String(workflow), tracing.AttrWorkflowID.String(id))
	}
	return ctx, span
}

// endSpan ends span, marking it failed when err is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// taskTrace is what the span of a workflow task needs of its run.
type taskTrace struct {
	parent, state, workflow string
	exec                    int
}

// traceTask records a workflow task of the run ent holds that ran from
// start, for the wake-up reasons of items (nothing when the run has no
// trace context).
func (w *Worker) traceTask(ent *runEntry, items []*wakeup, start time.Time, err error) {
	tt := ent.trace
	if tt.parent == "" {
		return
	}
	fail := ""
	if err != nil {
		fail = err.Error()
	}
	tracing.Past(w.tracer, tt.parent, tt.state, "workflow task "+tt.workflow, trace.SpanKindConsumer, start, time.Now(), fail, func() []attribute.KeyValue {
		reasons := make([]string, 0, len(items))
		for _, it := range items {
			reasons = append(reasons, it.reason)
		}
		return []attribute.KeyValue{tracing.AttrWorkflow.String(tt.workflow), tracing.AttrWorkflowID.String(ent.id),
			tracing.AttrExec.Int(tt.exec), tracing.AttrReasons.StringSlice(reasons), tracing.AttrWorker.String(w.cfg.name)}
	})
}

// traceTimer records the timer at s of run, which fired now, from when it
// was set (when the run was rebuilt since, that is not known here: the
// span then starts at its fire time).
func (w *Worker) traceTimer(run *kv.Run, s *slot) {
	if run.TraceParent == "" {
		return
	}
	set := s.set
	if set.IsZero() {
		set = s.at
	}
	tracing.Past(w.tracer, run.TraceParent, run.TraceState, "timer "+s.name, trace.SpanKindInternal, set, time.Now(), "", func() []attribute.KeyValue {
		return []attribute.KeyValue{tracing.AttrWorkflow.String(run.Workflow), tracing.AttrWorkflowID.String(run.ID),
			tracing.AttrSeq.Int(s.seq), tracing.AttrFireAt.String(s.at.UTC().Format(time.RFC3339Nano)), tracing.AttrWorker.String(w.cfg.name)}
	})
}

// traceRun records an execution of a run that started at start and closed
// as closed says.
func (w *Worker) traceRun(closed *kv.Run, exec int, start, end time.Time, cl *kv.Closing) {
	if closed.TraceParent == "" {
		return
	}
	fail := ""
	if cl.Error != nil {
		fail = cl.Error.Type + ": " + cl.Error.Message
	}
	tracing.Past(w.tracer, closed.TraceParent, closed.TraceState, "run "+closed.Workflow, trace.SpanKindInternal, start, end, fail, func() []attribute.KeyValue {
		kvs := []attribute.KeyValue{tracing.AttrWorkflow.String(closed.Workflow), tracing.AttrWorkflowID.String(closed.ID),
			tracing.AttrExec.Int(exec), tracing.AttrStatus.String(cl.Status), tracing.AttrWorker.String(w.cfg.name)}
		if cl.Error != nil {
			kvs = append(kvs, tracing.AttrErrorType.String(cl.Error.Type))
		}
		return kvs
	})
}

// rootTrace starts the trace of a run that came with none: a root span for
// its start, ended at once, whose context the run records. It returns ""
// when this worker's tracer does not record (tracing off).
func (w *Worker) rootTrace(ctx context.Context, run *kv.Run) (parent, state string) {
	_, span := w.tracer.Start(ctx, "start "+run.Workflow, trace.WithNewRoot(), trace.WithTimestamp(run.CreatedAt),
		trace.WithAttributes(attribute.String("jetflow.workflow_id", run.ID)))
	span.End()
	return tracing.Record(span.SpanContext())
}

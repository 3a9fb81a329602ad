package runner

import (
	"context"

	"github.com/jetflow-dev/jetflow/internal/tracing"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Each attempt of a step whose task carries a trace context (the run's, in
// its headers) has a span, "step <Step>" or "compensate <Step>", that the
// handler's context carries: the user's own client instrumentation joins
// the run's trace from there. Its attributes say the attempt, the breaker's
// decision and how the attempt ended.

// noSpan is the span of an attempt whose task carries no trace context.
var noSpan = trace.SpanFromContext(context.Background())

// startAttempt opens the span of the attempt of t that m delivers, under
// the trace context m carries; with none, ctx is returned as it is.
func (r *Runner) startAttempt(ctx context.Context, m jetstream.Msg, t *Task) (context.Context, trace.Span) {
	parent, state := tracing.FromHeader(m.Headers())
	if parent == "" || r.tracer == nil {
		return ctx, noSpan
	}
	ctx = tracing.Context(ctx, parent, state)
	name := "step " + t.Step
	if t.Compensation {
		name = "compensate " + t.Step
	}
	ctx, span := r.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer))
	ctx = context.WithValue(ctx, attemptKey{}, span)
	if span.IsRecording() {
		span.SetAttributes(tracing.AttrWorkflow.String(t.Workflow), tracing.AttrWorkflowID.String(t.WorkflowID),
			tracing.AttrStep.String(t.Step), tracing.AttrSeq.Int(t.Seq), tracing.AttrAttempt.Int(t.Attempt),
			tracing.AttrCompensation.Bool(t.Compensation), tracing.AttrWorker.String(r.worker))
	}
	return ctx, span
}

// attemptKey holds the attempt's span in its context: the span of the
// context may be another's (the worker's caller's) when the task carries
// no trace context, and must then be left alone.
type attemptKey struct{}

// attemptSpan is the span startAttempt opened for the attempt ctx is of.
func attemptSpan(ctx context.Context) trace.Span {
	if span, ok := ctx.Value(attemptKey{}).(trace.Span); ok {
		return span
	}
	return noSpan
}

// endAttempt ends the attempt's span once its outcome is recorded: the
// workflow task the result wakes is not part of it.
func endAttempt(ctx context.Context) { attemptSpan(ctx).End() }

// traceHeader is the trace context of m, to hand on to the next attempt.
func traceHeader(m jetstream.Msg) nats.Header {
	return tracing.Header(tracing.FromHeader(m.Headers()))
}

// traceBreaker records the breaker's decision on the attempt ctx traces.
func traceBreaker(ctx context.Context, breaker, decision string) {
	if span := attemptSpan(ctx); span.IsRecording() {
		span.SetAttributes(tracing.AttrBreaker.String(breaker), tracing.AttrBreakerDec.String(decision))
	}
}

// Outcomes of an attempt (tracing.AttrOutcome).
const (
	outcomeCompleted = "completed"
	outcomeFailed    = "failed"
	outcomeRetrying  = "retrying"
	outcomeAbandoned = "abandoned"
)

// traceSettled records how the attempt ctx traces ended: its result, or
// the error it is retried for.
func traceSettled(ctx context.Context, res *kv.Result, retry *steps.Error) {
	span := attemptSpan(ctx)
	if !span.IsRecording() {
		return
	}
	switch {
	case retry != nil:
		span.SetAttributes(tracing.AttrOutcome.String(outcomeRetrying), tracing.AttrErrorType.String(retry.Type))
		span.SetStatus(codes.Error, retry.Message)
	case res.Error != nil:
		span.SetAttributes(tracing.AttrOutcome.String(outcomeFailed), tracing.AttrErrorType.String(res.Error.Type))
		span.SetStatus(codes.Error, res.Error.Message)
	default:
		span.SetAttributes(tracing.AttrOutcome.String(outcomeCompleted))
	}
}

// traceAbandoned records an attempt given back for redelivery (a drain
// that timed out).
func traceAbandoned(ctx context.Context) {
	if span := attemptSpan(ctx); span.IsRecording() {
		span.SetAttributes(tracing.AttrOutcome.String(outcomeAbandoned))
	}
}

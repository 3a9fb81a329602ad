package tracing

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of jetflow's spans.
const Scope = "github.com/jetflow-dev/jetflow"

// Header names of the W3C trace context on task messages.
const (
	HeaderParent = "traceparent"
	HeaderState  = "tracestate"
)

// Attribute keys of jetflow's spans.
const (
	AttrWorkflow     = attribute.Key("jetflow.workflow")
	AttrWorkflowID   = attribute.Key("jetflow.workflow_id")
	AttrStep         = attribute.Key("jetflow.step")
	AttrSeq          = attribute.Key("jetflow.seq")
	AttrAttempt      = attribute.Key("jetflow.attempt")
	AttrCompensation = attribute.Key("jetflow.compensation")
	AttrBreaker      = attribute.Key("jetflow.breaker")
	AttrBreakerDec   = attribute.Key("jetflow.breaker.decision")
	AttrOutcome      = attribute.Key("jetflow.outcome")
	AttrReasons      = attribute.Key("jetflow.task.reasons")
	AttrStatus       = attribute.Key("jetflow.status")
	AttrExec         = attribute.Key("jetflow.exec")
	AttrWorker       = attribute.Key("jetflow.worker")
	AttrFireAt       = attribute.Key("jetflow.timer.fire_at")
	// AttrErrorType is OpenTelemetry's own error.type: the step error's Type.
	AttrErrorType = attribute.Key("error.type")
)

// Breaker decisions (AttrBreakerDec).
const (
	BreakerAllowed = "allowed"
	BreakerProbe   = "probe"
	BreakerRefused = "refused"
)

// Tracer returns jetflow's tracer from tp, or from the global provider when
// tp is nil (which follows a provider set later with otel.SetTracerProvider).
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(Scope)
}

// Record is the W3C form of sc: traceparent and tracestate. Both are empty
// for an invalid span context (no trace).
func Record(sc trace.SpanContext) (parent, state string) {
	if !sc.IsValid() {
		return "", ""
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	flags := sc.TraceFlags()
	parent = "00-" + tid.String() + "-" + sid.String() + "-" + flags.String()
	return parent, sc.TraceState().String()
}

// Parse is the span context a traceparent and tracestate name, marked
// remote; invalid (and so ignored by tracers) when parent is not a version
// 00 traceparent.
func Parse(parent, state string) trace.SpanContext {
	// 00-<32 hex>-<16 hex>-<2 hex>
	if len(parent) != 55 || parent[:3] != "00-" || parent[35] != '-' || parent[52] != '-' {
		return trace.SpanContext{}
	}
	tid, err := trace.TraceIDFromHex(parent[3:35])
	if err != nil {
		return trace.SpanContext{}
	}
	sid, err := trace.SpanIDFromHex(parent[36:52])
	if err != nil {
		return trace.SpanContext{}
	}
	var flags trace.TraceFlags
	switch parent[53:] {
	case "01":
		flags = trace.FlagsSampled
	case "00":
	default:
		return trace.SpanContext{}
	}
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true}
	if state != "" {
		if ts, err := trace.ParseTraceState(state); err == nil {
			cfg.TraceState = ts
		}
	}
	return trace.NewSpanContext(cfg)
}

// TraceID is the trace ID of a recorded traceparent, or "" for none.
func TraceID(parent string) string {
	if sc := Parse(parent, ""); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// Context is ctx with the recorded trace context as its remote parent; ctx
// itself when none is recorded.
func Context(ctx context.Context, parent, state string) context.Context {
	if parent == "" {
		return ctx
	}
	sc := Parse(parent, state)
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// Header is a message header carrying the recorded trace context, or nil
// when none is recorded (the message then goes without headers, as before).
func Header(parent, state string) nats.Header {
	if parent == "" {
		return nil
	}
	h := nats.Header{HeaderParent: []string{parent}}
	if state != "" {
		h[HeaderState] = []string{state}
	}
	return h
}

// FromHeader is the trace context a message's header carries.
func FromHeader(h nats.Header) (parent, state string) {
	if len(h) == 0 {
		return "", ""
	}
	return first(h[HeaderParent]), first(h[HeaderState])
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// Past records a span of work that is over, from start to end, under the
// recorded trace context: for what no one process saw begin and end (a
// run, a timer) and for work whose parent is known only at its end. attrs
// is called only when the span records, so it costs nothing otherwise; a
// failure, when not empty, marks the span as an error.
// Nothing is made when no trace context is recorded.
func Past(t trace.Tracer, parent, state, name string, kind trace.SpanKind, start, end time.Time, failure string, attrs func() []attribute.KeyValue) {
	if parent == "" || t == nil {
		return
	}
	ctx := Context(context.Background(), parent, state)
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	_, sp := t.Start(ctx, name, trace.WithTimestamp(start), trace.WithSpanKind(kind))
	if sp.IsRecording() {
		sp.SetAttributes(attrs()...)
		if failure != "" {
			sp.SetStatus(codes.Error, failure)
		}
	}
	sp.End(trace.WithTimestamp(end))
}

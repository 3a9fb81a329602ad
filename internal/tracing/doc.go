// Package tracing carries OpenTelemetry trace context through the engine.
//
// A run's trace context is the span context of the caller of Start (or of
// the client's own start span), kept in the run record in W3C form
// (traceparent and tracestate), so that a run rebuilt by another worker
// after a crash stays in the same trace. Step and timer tasks carry the same
// two values as NATS message headers. Spans are made only for live work:
// a workflow task, a step attempt, a timer firing, a run closing; never
// while workflow code replays its history. A run without a trace context
// costs nothing but an empty-string check.
//
// jetflow writes and reads these carriers itself, in W3C form, whatever
// propagator the process set globally: they are its own wire format, and
// two workers with different propagators must still agree on it.
package tracing

// Package tracingtest is what the tracing tests share: an order workflow
// that goes through every kind of span (steps, a retry behind a breaker, a
// timer, a compensation, a span of the step handler's own), the spans as
// the tests see them, a JSON-lines exporter for worker processes, and the
// checks of one order's trace.
package tracingtest

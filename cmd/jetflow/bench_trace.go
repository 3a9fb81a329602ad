package main

import (
	"context"
	"sync/atomic"

	"github.com/jetflow-dev/jetflow/workflow"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// benchTracing is `jetflow bench --trace`: the SDK's tracer provider with
// a batch processor, as a worker exporting to a collector has, into an
// exporter that counts spans and drops them, so what is measured is what
// tracing costs the engine, not a collector. Each saga's Start runs under
// a root span of its own, as a traced caller's would.
type benchTracing struct {
	tp    *sdktrace.TracerProvider
	spans atomic.Int64
}

func newBenchTracing() *benchTracing {
	b := &benchTracing{}
	b.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(countingExporter{&b.spans}))
	return b
}

// options make the worker and the client trace with the bench's provider.
func (b *benchTracing) options() []workflow.Option {
	return []workflow.Option{workflow.WithTracerProvider(b.tp)}
}

// flush exports what is still buffered, so the span count is whole.
func (b *benchTracing) flush(ctx context.Context) { _ = b.tp.ForceFlush(ctx) }

type benchTracingKey struct{}

// withBenchTracing makes the sagas started under ctx start under a root
// span of b's.
func withBenchTracing(ctx context.Context, b *benchTracing) context.Context {
	return context.WithValue(ctx, benchTracingKey{}, b)
}

// benchRoot opens a saga's root span when the bench traces; ctx as it is,
// and a no-op span, otherwise.
func benchRoot(ctx context.Context) (context.Context, trace.Span) {
	if b, ok := ctx.Value(benchTracingKey{}).(*benchTracing); ok {
		return b.tp.Tracer("jetflow-bench").Start(ctx, "bench order")
	}
	return ctx, trace.SpanFromContext(context.Background())
}

// countingExporter counts the spans it is given and keeps none.
type countingExporter struct{ n *atomic.Int64 }

func (e countingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.n.Add(int64(len(spans)))
	return nil
}

func (countingExporter) Shutdown(context.Context) error { return nil }

package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Environment variables of OpenTelemetry that turn OTLP export on.
var endpointEnv = []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"}

// Configured reports whether spans are to be exported: an endpoint given
// (a flag), or one of OpenTelemetry's endpoint variables set.
func Configured(endpoint string) bool {
	if endpoint != "" {
		return true
	}
	for _, k := range endpointEnv {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}

// Export sends spans over OTLP/HTTP to endpoint (a collector's base URL,
// such as http://127.0.0.1:4318, to which /v1/traces is added unless it has
// a path; host:port means plain http) or, when it is empty,
// where OpenTelemetry's variables say (OTEL_EXPORTER_OTLP_ENDPOINT and the
// rest of the exporter's variables, OTEL_TRACES_SAMPLER too). It makes the
// exporting provider the global one, and W3C trace context and baggage the
// global propagator when none is set, so that the worker's spans and those
// of its step handlers' own instrumentation reach the same collector.
// service names the process's spans unless OTEL_SERVICE_NAME does. With
// nothing configured it does nothing (and tracing costs nothing). The
// returned function flushes and stops the export.
func Export(ctx context.Context, endpoint, service string) (shutdown func(context.Context) error, err error) {
	if !Configured(endpoint) {
		return func(context.Context) error { return nil }, nil
	}
	var opts []otlptracehttp.Option
	switch {
	case endpoint == "":
	default:
		if !strings.Contains(endpoint, "://") {
			endpoint = "http://" + endpoint
		}
		u, err := url.Parse(endpoint)
		if err != nil || u.Hostname() == "" || u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("jetflow: exporting traces: %q is not a collector URL (http://HOST:4318)", endpoint)
		}
		if u.Path == "" || u.Path == "/" {
			// A collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is.
			u.Path = "/v1/traces"
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("jetflow: exporting traces to %s: %w", endpoint, err)
	}
	res := resource.Default()
	if os.Getenv("OTEL_SERVICE_NAME") == "" && service != "" {
		if merged, err := resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", service))); err == nil {
			res = merged
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	// A collector that cannot be reached is worth a warning, not OTel's
	// default info line; spans are dropped, runs go on.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		slog.Warn("jetflow: exporting traces", "err", err)
	}))
	if len(otel.GetTextMapPropagator().Fields()) == 0 {
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	}
	return tp.Shutdown, nil
}

package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/tracing"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

func TestRecordParseRoundTrip(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("vendor=abc")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
	parent, state := tracing.Record(sc)
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; parent != want || state != "vendor=abc" {
		t.Fatalf("Record: got %q %q, want %q vendor=abc", parent, state, want)
	}
	got := tracing.Parse(parent, state)
	if got.TraceID() != tid || got.SpanID() != sid || !got.IsSampled() || !got.IsRemote() || got.TraceState().Get("vendor") != "abc" {
		t.Fatalf("Parse: got %v", got)
	}
	if h := tracing.Header(parent, state); h.Get(tracing.HeaderParent) != parent || h.Get(tracing.HeaderState) != state {
		t.Fatalf("Header: got %v", h)
	}
}

func TestParseRefusesWhatIsNotATraceparent(t *testing.T) {
	for _, in := range []string{"", "garbage", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01<script>"} {
		if sc := tracing.Parse(in, ""); sc.IsValid() {
			t.Errorf("Parse(%q) is valid, want invalid", in)
		}
		if ctx := tracing.Context(context.Background(), in, ""); trace.SpanContextFromContext(ctx).IsValid() {
			t.Errorf("Context(%q) has a span context", in)
		}
	}
	if p, s := tracing.Record(trace.SpanContext{}); p != "" || s != "" || tracing.Header(p, s) != nil {
		t.Errorf("no span context: got %q %q, want nothing recorded and no header", p, s)
	}
}

// Export with an endpoint sends spans over OTLP/HTTP to it; with none (and
// no OTEL_ variable) it does nothing.
func TestExportSendsOTLP(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	if tracing.Configured("") {
		t.Fatal("Configured with no endpoint and no variable")
	}
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			posts.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	prev := otel.GetTracerProvider()
	defer otel.SetTracerProvider(prev)
	shutdown, err := tracing.Export(context.Background(), srv.URL, "tracing-test")
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(context.Background(), "exported")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if posts.Load() == 0 {
		t.Fatal("no OTLP request reached the collector")
	}
}

// An endpoint that is not an http(s) URL with a host is refused before
// anything is set up.
func TestExportRefusesWhatIsNotACollectorURL(t *testing.T) {
	for _, endpoint := range []string{"ftp://collector:4318", "http://", "https://:4318"} {
		if shutdown, err := tracing.Export(t.Context(), endpoint, "test"); err == nil {
			_ = shutdown(t.Context())
			t.Errorf("%q: accepted", endpoint)
		}
	}
}

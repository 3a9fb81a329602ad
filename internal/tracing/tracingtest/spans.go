package tracingtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Span is a finished span as the checks see it.
type Span struct {
	Name    string            `json:"name"`
	TraceID string            `json:"trace_id"`
	SpanID  string            `json:"span_id"`
	Parent  string            `json:"parent,omitempty"`
	Kind    string            `json:"kind"`
	Status  string            `json:"status"`
	Attrs   map[string]string `json:"attrs,omitempty"`
	// Process is the process that made the span (FileExporter's name).
	Process string `json:"process,omitempty"`
}

// FromSDK turns the SDK's spans into Spans.
func FromSDK(spans []sdktrace.ReadOnlySpan, process string) []Span {
	out := make([]Span, 0, len(spans))
	for _, s := range spans {
		sp := Span{Name: s.Name(), TraceID: s.SpanContext().TraceID().String(), SpanID: s.SpanContext().SpanID().String(),
			Kind: s.SpanKind().String(), Status: s.Status().Code.String(), Attrs: map[string]string{}, Process: process}
		if s.Parent().IsValid() {
			sp.Parent = s.Parent().SpanID().String()
		}
		for _, a := range s.Attributes() {
			sp.Attrs[string(a.Key)] = a.Value.String()
		}
		out = append(out, sp)
	}
	return out
}

// FileExporter writes each span it exports as a line of JSON to a file: a
// worker process's spans, for the test that started it to read.
type FileExporter struct {
	mu      sync.Mutex
	f       *os.File
	process string
}

var _ sdktrace.SpanExporter = (*FileExporter)(nil)

// NewFileExporter appends to the file at path, naming the spans' process.
func NewFileExporter(path, process string) (*FileExporter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &FileExporter{f: f, process: process}, nil
}

// ExportSpans writes spans, one line each.
func (e *FileExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range FromSDK(spans, e.process) {
		line, err := json.Marshal(s)
		if err != nil {
			return err
		}
		if _, err := e.f.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// Shutdown closes the file.
func (e *FileExporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.f.Close()
}

// ReadFile reads the spans a FileExporter wrote to path (none when the
// file does not exist yet). A last line still being written is skipped.
func ReadFile(path string) ([]Span, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Span
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var s Span
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			continue
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading spans from %s: %w", path, err)
	}
	return out, nil
}

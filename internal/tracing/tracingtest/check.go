package tracingtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// attempt is a step attempt the order's trace must have, with its
// attributes.
type attempt struct {
	name  string
	attrs map[string]string
}

// attempts are the order's step attempts, as OrderWorkflow runs them.
var attempts = []attempt{
	{"step TraceValidate", map[string]string{"jetflow.attempt": "1", "jetflow.outcome": "completed", "jetflow.compensation": "false"}},
	{"step TraceReserve", map[string]string{"jetflow.attempt": "1", "jetflow.outcome": "completed"}},
	{"step TracePay", map[string]string{"jetflow.attempt": "1", "jetflow.outcome": "retrying", "error.type": "Declined",
		"jetflow.breaker": "trace-bank", "jetflow.breaker.decision": "allowed"}},
	{"step TracePay", map[string]string{"jetflow.attempt": "2", "jetflow.outcome": "completed",
		"jetflow.breaker": "trace-bank", "jetflow.breaker.decision": "allowed"}},
	{"step TraceShip", map[string]string{"jetflow.attempt": "1", "jetflow.outcome": "failed", "error.type": "NoTrucks"}},
	{"compensate TraceRelease", map[string]string{"jetflow.attempt": "1", "jetflow.outcome": "completed", "jetflow.compensation": "true"}},
}

// Missing says which of the spans of order id's trace are not among spans
// yet (they end on their own time: the run's when it closes, a step's
// after its result is recorded); none once the trace is whole.
func Missing(spans []Span, id string) []string {
	var missing []string
	for _, a := range attempts {
		if find(spans, a.name, id, a.attrs["jetflow.attempt"]) == nil {
			missing = append(missing, a.name+" attempt "+a.attrs["jetflow.attempt"])
		}
	}
	for _, name := range []string{"start " + Workflow, "run " + Workflow, "timer Sleep", "workflow task " + Workflow} {
		if find(spans, name, id, "") == nil {
			missing = append(missing, name)
		}
	}
	if n := len(named(spans, HandlerSpan)); n < 2 {
		missing = append(missing, fmt.Sprintf("%s (%d of 2)", HandlerSpan, n))
	}
	return missing
}

// Check checks the trace of order id under the client's span root: every
// span in root's trace; the client's start span under root; the run's,
// workflow tasks', timer's and step attempts' spans under the start span,
// each attempt with its attributes; the span of Pay's handler under the
// attempt that ran it.
func Check(t testing.TB, spans []Span, root Span, id string) {
	t.Helper()
	for _, s := range spans {
		if s.TraceID != root.TraceID {
			t.Errorf("span %q is in trace %s, want %s (the client's)", s.Name, s.TraceID, root.TraceID)
		}
	}
	roots := 0
	for _, s := range spans {
		if s.Parent == "" {
			roots++
			if s.SpanID != root.SpanID {
				t.Errorf("span %q has no parent: only the client's span %q should be a root", s.Name, root.Name)
			}
		}
	}
	if roots != 1 {
		t.Errorf("got %d root spans, want 1 (the client's)", roots)
	}
	start := find(spans, "start "+Workflow, id, "")
	if start == nil {
		t.Fatalf("no span %q of run %s among %s", "start "+Workflow, id, names(spans))
	}
	if start.Parent != root.SpanID || start.Kind != "producer" {
		t.Errorf("start span: parent %s kind %s, want parent %s (the client's) kind producer", start.Parent, start.Kind, root.SpanID)
	}
	under := func(name string) []Span {
		var out []Span
		for _, s := range named(spans, name) {
			if s.Attrs["jetflow.workflow_id"] == id {
				out = append(out, s)
			}
		}
		return out
	}
	for _, name := range []string{"run " + Workflow, "timer Sleep", "workflow task " + Workflow, "step TraceValidate", "step TraceReserve",
		"step TracePay", "step TraceShip", "compensate TraceRelease"} {
		got := under(name)
		if len(got) == 0 {
			t.Errorf("no span %q", name)
		}
		for _, s := range got {
			if s.Parent != start.SpanID {
				t.Errorf("span %q (attempt %s) has parent %s, want the start span %s", name, s.Attrs["jetflow.attempt"], s.Parent, start.SpanID)
			}
		}
	}
	if got := under("run " + Workflow); len(got) != 1 || got[0].Attrs["jetflow.status"] != "completed" {
		t.Errorf("run spans: got %v, want one with jetflow.status completed", got)
	}
	if got := under("timer Sleep"); len(got) != 1 {
		t.Errorf("timer spans: got %d, want 1", len(got))
	}
	steps := 0
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "step ") || strings.HasPrefix(s.Name, "compensate ") {
			steps++
			if s.Kind != "consumer" {
				t.Errorf("span %q: kind %s, want consumer", s.Name, s.Kind)
			}
		}
	}
	if steps != len(attempts) {
		t.Errorf("got %d step attempt spans, want %d: %s", steps, len(attempts), names(spans))
	}
	for _, a := range attempts {
		s := find(spans, a.name, id, a.attrs["jetflow.attempt"])
		if s == nil {
			t.Errorf("no span %q attempt %s", a.name, a.attrs["jetflow.attempt"])
			continue
		}
		for k, want := range a.attrs {
			if got := s.Attrs[k]; got != want {
				t.Errorf("span %q attempt %s: %s = %q, want %q", a.name, a.attrs["jetflow.attempt"], k, got, want)
			}
		}
		failed := a.attrs["error.type"] != ""
		if got := s.Status == "Error"; got != failed {
			t.Errorf("span %q attempt %s: status %s, want an error status %v", a.name, a.attrs["jetflow.attempt"], s.Status, failed)
		}
	}
	// The handler's own span joins the trace under the attempt that ran it.
	var payIDs []string
	for _, s := range under("step TracePay") {
		payIDs = append(payIDs, s.SpanID)
	}
	hs := named(spans, HandlerSpan)
	if len(hs) != 2 {
		t.Errorf("got %d %q spans, want 2 (one per attempt of TracePay)", len(hs), HandlerSpan)
	}
	for _, h := range hs {
		if !slices.Contains(payIDs, h.Parent) {
			t.Errorf("%q has parent %s, want one of TracePay's attempts %v", HandlerSpan, h.Parent, payIDs)
		}
	}
	if len(hs) == 2 && hs[0].Parent == hs[1].Parent {
		t.Errorf("both %q spans are under the same attempt %s", HandlerSpan, hs[0].Parent)
	}
}

// find is the span named name of run id (and of attempt n unless empty).
func find(spans []Span, name, id, n string) *Span {
	for i, s := range spans {
		if s.Name == name && (s.Attrs["jetflow.workflow_id"] == id || name == HandlerSpan) && (n == "" || s.Attrs["jetflow.attempt"] == n) {
			return &spans[i]
		}
	}
	return nil
}

func named(spans []Span, name string) []Span {
	var out []Span
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func names(spans []Span) string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name+"@"+s.Process)
	}
	return strings.Join(n, ", ")
}

// Wait reads the spans until order id's trace is whole (spans end on their
// own time, in processes of their own), or fails the test after a while
// saying what is missing.
func Wait(t testing.TB, read func() []Span, id string) []Span {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans := read()
		missing := Missing(spans, id)
		if len(missing) == 0 {
			// Let whatever else is about to end (the span of the
			// workflow task that closed the run) end.
			time.Sleep(200 * time.Millisecond)
			return read()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trace of %s is missing %v; it has %s", id, missing, names(spans))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

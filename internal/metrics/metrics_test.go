package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value reads a counter's or gauge's current value.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	t.Fatalf("%v is neither a counter nor a gauge", m.Desc())
	return 0
}

func TestHooksCount(t *testing.T) {
	m := New("w1")
	h := m.Hooks()
	h.StepAttempt("Pay", 10*time.Millisecond, nil)
	h.StepAttempt("Pay", 20*time.Millisecond, &steps.Error{Type: "Declined", Message: "no"})
	h.WorkflowTaskStarted("Order")
	if got := value(t, m.wfInFlight.WithLabelValues("Order")); got != 1 {
		t.Errorf("workflow tasks in flight while one runs: got %v, want 1", got)
	}
	h.WorkflowTask("Order", time.Millisecond, nil)
	h.WorkflowTaskStarted("Order")
	h.WorkflowTask("Order", time.Millisecond, fmt.Errorf("task: %w", workflow.ErrHandedOver))
	h.RunClosed("Order", "completed", time.Second)

	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"ok attempts", value(t, m.stepAttempts.WithLabelValues("Pay", OutcomeOK)), 1},
		{"failed attempts", value(t, m.stepAttempts.WithLabelValues("Pay", OutcomeError)), 1},
		{"errors by type", value(t, m.stepErrors.WithLabelValues("Pay", "Declined")), 1},
		{"workflow tasks", value(t, m.wfTasks.WithLabelValues("Order", OutcomeOK)), 1},
		{"workflow tasks handed over", value(t, m.wfTasks.WithLabelValues("Order", OutcomeHandedOver)), 1},
		{"workflow tasks in flight after", value(t, m.wfInFlight.WithLabelValues("Order")), 0},
		{"runs closed", value(t, m.runsClosed.WithLabelValues("Order", "completed")), 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestStepInFlight(t *testing.T) {
	m := New("w1")
	release := make(chan struct{})
	started := make(chan struct{})
	def := steps.New("Slow", func(ctx context.Context, in int) (int, error) {
		close(started)
		<-release
		return in, nil
	})
	h := m.Step(def)
	if h.Name() != "Slow" || !h.Implemented() {
		t.Fatalf("wrapped handler lost its identity: %q %v", h.Name(), h.Implemented())
	}
	done := make(chan error)
	go func() {
		_, err := h.Invoke(context.Background(), []byte{0x01})
		done <- err
	}()
	<-started
	if got := value(t, m.stepsInFlight.WithLabelValues("Slow")); got != 1 {
		t.Errorf("in flight while running: got %v, want 1", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := value(t, m.stepsInFlight.WithLabelValues("Slow")); got != 0 {
		t.Errorf("in flight after: got %v, want 0", got)
	}
}

func TestServe(t *testing.T) {
	m := New("w1")
	m.Hooks().RunClosed("Order", "failed", time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `jetflow_runs_closed_total{status="failed",worker="w1",workflow="Order"} 1`
	if !strings.Contains(string(body), want) {
		t.Errorf("scrape lacks %q:\n%s", want, body)
	}
	if _, err := m.Serve(ctx, addr.String()); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("second listen on %s: got %v, want an error", addr, err)
	}
}

package main

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Acceptance 5: the workers' metrics endpoints, scraped, count exactly the
// runs and step attempts the engine recorded.
func TestAcceptanceMetricsMatchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	addrs := []string{fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	for i, addr := range addrs {
		startWorker(t, url, fmt.Sprintf("w-%d", i+1), "--latency", "2ms", "--metrics-addr", addr)
	}
	e := connectEngine(t, url)
	ords := orders("a5", 60)
	e.startAll(t, ords)
	e.waitDone(t, ords, 30*time.Second)

	// What the engine recorded: attempts per step, from the runs' histories.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	attempts := map[string]int{}
	total := 0
	for _, o := range ords {
		hist, err := e.client.History(ctx, o.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist {
			attempts[h.Name] += h.Attempts
			total += h.Attempts
		}
	}
	sum := func(metric string, match ...string) float64 {
		var s float64
		for _, addr := range addrs {
			s += scrape(t, addr, metric, match...)
		}
		return s
	}
	// A run's closing is counted by the worker that closed it, once.
	if got := sum("jetflow_runs_closed_total", `workflow="OrderOrchestration"`, `status="completed"`); got != float64(len(ords)) {
		t.Errorf("jetflow_runs_closed_total: got %v, want %d", got, len(ords))
	}
	if got := sum("jetflow_run_duration_seconds_count"); got != float64(len(ords)) {
		t.Errorf("jetflow_run_duration_seconds_count: got %v, want %d", got, len(ords))
	}
	if got := sum("jetflow_step_attempts_total"); got != float64(total) {
		t.Errorf("jetflow_step_attempts_total: got %v, want %d (the histories' attempts)", got, total)
	}
	for step, n := range attempts {
		if got := sum("jetflow_step_attempts_total", fmt.Sprintf(`step=%q`, step)); got != float64(n) {
			t.Errorf("jetflow_step_attempts_total{step=%q}: got %v, want %d", step, got, n)
		}
	}
	if got := sum("jetflow_step_attempt_duration_seconds_count"); got != float64(total) {
		t.Errorf("jetflow_step_attempt_duration_seconds_count: got %v, want %d", got, total)
	}
	if got := sum("jetflow_steps_in_flight"); got != 0 {
		t.Errorf("jetflow_steps_in_flight after the runs: got %v, want 0", got)
	}
	if got := sum("jetflow_workflow_tasks_in_flight"); got != 0 {
		t.Errorf("jetflow_workflow_tasks_in_flight after the runs: got %v, want 0", got)
	}
	if got := sum("jetflow_workflow_tasks_total", `outcome="ok"`); got < float64(len(ords)) {
		t.Errorf("jetflow_workflow_tasks_total: got %v, want at least one per run (%d)", got, len(ords))
	}
	for _, addr := range addrs {
		if scrape(t, addr, "jetflow_step_attempts_total") == 0 {
			t.Errorf("worker at %s ran no step", addr)
		}
	}
	t.Logf("%d runs, %d step attempts: %v", len(ords), total, attempts)
}

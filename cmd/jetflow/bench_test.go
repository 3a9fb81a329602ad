package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBenchJSON runs a small `jetflow bench --json` on the embedded server:
// every figure of the report is there and plausible, nothing failed. (The
// figures themselves are measured by `make bench`, never asserted here.)
func TestBenchJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	stdout, stderr, code := cli(t, 2*time.Minute, "bench", "--workflows", "40", "--concurrency", "8", "--warmup", "10", "--json")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	for _, k := range []string{"workflows_per_sec", "steps_per_sec", "p50_ms", "p95_ms", "p99_ms", "cpu_ms_per_workflow",
		"peak_rss_mib", "nats_ops_per_workflow", "ceiling_steps_per_sec", "efficiency"} {
		v, ok := r[k].(float64)
		if !ok || v <= 0 {
			t.Errorf("%s: got %v, want a positive number", k, r[k])
		}
	}
	if r["workflows"] != 40.0 || r["failed"] != 0.0 || r["warmup_runs"] != 10.0 || r["server"] != "embedded" {
		t.Errorf("report %v: want 40 workflows, 10 warm-up runs, none failed, embedded server", r)
	}
	if p50, p99 := r["p50_ms"].(float64), r["p99_ms"].(float64); p50 > p99 {
		t.Errorf("p50 %v ms above p99 %v ms", p50, p99)
	}
}

// TestBenchScheduleJSON runs `jetflow bench --shape schedule` over three
// ticks: every tick started its run, and the delays are there (measured by
// the README's command, never asserted here).
func TestBenchScheduleJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	stdout, stderr, code := cli(t, time.Minute, "bench", "--shape", "schedule", "--ticks", "3", "--json")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	for _, k := range []string{"fired_p50_ms", "fired_p99_ms", "started_p50_ms", "started_p99_ms", "closed_p50_ms"} {
		if v, ok := r[k].(float64); !ok || v <= 0 {
			t.Errorf("%s: got %v, want a positive number", k, r[k])
		}
	}
	if r["ticks"] != 3.0 || r["missed"] != 0.0 || r["skipped"] != 0.0 || r["runs"].(float64) < 3 {
		t.Errorf("report %v: want 3 ticks, at least 3 runs, none missed or skipped", r)
	}
}

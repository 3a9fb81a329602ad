package main

import (
	"strings"
	"testing"
	"time"
)

// What a person reads from jetflow schedule: times in the schedule's own
// zone, the flag at fault named, and a trigger the limit refuses told as
// such (exit 1) rather than answered with a run that never starts.
func TestCLIScheduleOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	startWorker(t, url, "w-1")
	run := func(args ...string) (string, string, int) {
		t.Helper()
		return cli(t, 20*time.Second, append(args, "--nats", url)...)
	}
	if out, errOut, code := run("schedule", "list"); code != 0 || !strings.Contains(out, "no schedules") {
		t.Fatalf("list: exit %d: %s%s", code, out, errOut)
	}
	create := []string{"schedule", "create", "nightly-reconcile", "--workflow", "ReconcilePayments", "--cron", "0 30 2 * * *", "--tz", "Europe/Berlin", "--input", `{"min_age": "1h"}`}
	// The worker may not serve the type yet: create refuses until it does.
	var out, errOut string
	var code int
	for range 100 {
		if out, errOut, code = run(create...); code != 2 || !strings.Contains(errOut, "--workflow") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(out, "0 30 2 * * * (Europe/Berlin)") || !strings.Contains(out, "02:30:00 CE") {
		t.Fatalf("create: exit %d: %s%s; want the next tick at 02:30 Berlin time", code, out, errOut)
	}
	if out, errOut, code := run("schedule", "describe", "nightly-reconcile"); code != 0 || strings.Count(out, "02:30:00 CE") != 5 ||
		!strings.Contains(out, `input       {"min_age":"1h"}`) {
		t.Fatalf("describe: exit %d: %s%s; want 5 next fires at 02:30 Berlin time and the input", code, out, errOut)
	}
	if _, errOut, code := run("schedule", "create", "bad", "--workflow", "ReconcilePayments", "--cron", "0 61 * * * *"); code != 2 || !strings.Contains(errOut, `--cron "0 61 * * * *": minute: 61`) {
		t.Fatalf("bad cron: exit %d: %s", code, errOut)
	}
	if _, errOut, code := run("schedule", "create", "bad", "--workflow", "ReconcilePayments", "--cron", "@daily", "--tz", "Mars/Base"); code != 2 || !strings.Contains(errOut, "--tz") {
		t.Fatalf("bad zone: exit %d: %s", code, errOut)
	}
	if out, errOut, code := run("schedule", "create", "once", "--workflow", "ReconcilePayments", "--cron", "@daily", "--limit", "1"); code != 0 {
		t.Fatalf("create once: exit %d: %s%s", code, out, errOut)
	}
	if out, errOut, code := run("schedule", "trigger", "once"); code != 0 || !strings.Contains(out, "once-") {
		t.Fatalf("trigger: exit %d: %s%s", code, out, errOut)
	}
	for range 100 {
		if out, _, _ = run("schedule", "describe", "once"); strings.Contains(out, "1 started") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, errOut, code := run("schedule", "trigger", "once"); code != 1 || !strings.Contains(errOut, "limit of 1 runs") {
		t.Fatalf("trigger past the limit: exit %d: %s", code, errOut)
	}
}

package main

// Issue 11's schedule tests with real processes: a `jetflow server`,
// `jetflow worker --exercise` processes SIGKILLed by their PID, the server
// SIGKILLed and restarted on its store, and schedules made and paused with
// the CLI. Each tick starts a LongChain of the exercise workflows
// (internal/demo): one Tally step, or one slower than the interval.
//
// The assertions are on counts and run IDs, never on how long something
// took: a tick's run ID is <schedule>-<nominal time>, so the IDs say which
// ticks ran, and the schedule's record counts the others (missed,
// skipped).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
)

// scheduleSecondsEnv sets how many seconds of ticks the crash test checks:
// 6 in `make test`, 20 in `make chaos` (issue 11's form).
const scheduleSecondsEnv = "JETFLOW_SCHEDULE_SECONDS"

// Three workers and an @every 1s schedule while one worker is SIGKILLed
// and the server is SIGKILLed and restarted on the same store: every tick
// of the window started exactly one run, under its own ID, and each run's
// record names the schedule. The overlap policy is allow_all: under the
// default (skip), the ticks the server was down for, handled together on
// its return, would rightly skip while the first of them runs; this test
// is about ticks, not overlap (TestProcsScheduleOverlapSkip is). The
// catch-up window is the default minute, longer than the outage, so no
// tick may be missed: the runs' ticks are consecutive seconds, no gap.
func TestProcsScheduleThroughCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Parallel()
	secs := 6
	if s := os.Getenv(scheduleSecondsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 3 {
			t.Fatalf("%s=%q: want a number of seconds, at least 3", scheduleSecondsEnv, s)
		}
		secs = n
	}
	window := time.Duration(secs) * time.Second
	ctx := scheduleContext(t, window+90*time.Second)
	store, listen := t.TempDir(), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	server := jetflow(t, "server", "--listen", listen, "--data", store, "--quiet")
	url := waitOutput(t, server, readyRE, 20*time.Second)[1]
	e := connectEngine(t, url)
	// Started together, then waited for: three process starts cost one.
	workers := map[string]*testenv.Process{}
	for i := range 3 {
		name := fmt.Sprintf("sched-w%d", i+1)
		workers[name] = jetflow(t, "worker", "--nats", url, "--name", name, "--ack-wait", "2s", "--exercise")
	}
	for _, w := range workers {
		waitOutput(t, w, regexp.MustCompile(`msg="worker running"`), 20*time.Second)
	}
	const id = "every-second"
	scheduleCLI(t, url, "create", id, "--workflow", "LongChain", "--cron", "@every 1s", "--input", `{"steps": 1}`, "--overlap", "allow_all")

	first := waitTicks(t, ctx, e, id, 1).Recent[0].Nominal
	t.Logf("first tick %s", first.Format(time.RFC3339))
	waitLast(t, ctx, e, id, first.Add(window/3))
	// The worker that handled the last tick: the next wake-up may be its.
	evs := scheduleEventLog(t, ctx, e, id)
	victim := evs[len(evs)-1].Worker
	if workers[victim] == nil {
		t.Fatalf("last event %+v names no worker of the test", evs[len(evs)-1])
	}
	sendSignal(t, workers[victim], syscall.SIGKILL)
	waitExit(t, workers[victim], 10*time.Second)
	t.Logf("SIGKILLed worker %s, which handled the last tick, after tick %s", victim, lastTick(t, ctx, e, id).Format(time.RFC3339))

	waitLast(t, ctx, e, id, first.Add(2*window/3))
	sendSignal(t, server, syscall.SIGKILL)
	waitExit(t, server, 10*time.Second)
	down := time.Now()
	// Down long enough that ticks come due while nothing can run them.
	time.Sleep(1500 * time.Millisecond)
	server = jetflow(t, "server", "--listen", listen, "--data", store, "--quiet")
	waitOutput(t, server, readyRE, 20*time.Second)
	t.Logf("SIGKILLed the server and restarted it on its store after %s", time.Since(down).Round(time.Millisecond))

	// One tick past the window, so that the window's last tick is handled.
	waitLast(t, ctx, e, id, first.Add(window))
	scheduleCLI(t, url, "pause", id, "--note", "test over")
	rec := waitSettled(t, ctx, e, id)
	runs := scheduleRuns(t, ctx, e, id)

	ticks := checkConsecutive(t, id, runs, first, rec.Last)
	inWindow := 0
	for _, at := range ticks {
		if at.Before(first.Add(window)) {
			inWindow++
		}
	}
	if inWindow != secs {
		t.Errorf("%d runs in the %d s from the first tick; want %d", inWindow, secs, secs)
	}
	if rec.Started != len(runs) || rec.Missed != 0 || rec.Skipped != 0 {
		t.Errorf("record: started %d, missed %d, skipped %d; want %d started (its runs), none missed or skipped", rec.Started, rec.Missed, rec.Skipped, len(runs))
	}
	for _, r := range runs {
		if r.Schedule != id {
			t.Errorf("run %s: record names schedule %q; want %q", r.ID, r.Schedule, id)
		}
		if r.Status != string(workflow.StatusCompleted) {
			t.Errorf("run %s: %s; want completed", r.ID, r.Status)
		}
	}
	evs = scheduleEventLog(t, ctx, e, id)
	fired, twice := firedTicks(t, evs, runs)
	t.Logf("schedule %s: %d ticks from %s to %s, %d runs, %d in the first %d s, %d twice, %d missed; %d fired events kept (by worker %v)",
		id, len(ticks), first.Format(time.TimeOnly), rec.Last.Format(time.TimeOnly), len(runs), inWindow, secs, twice, rec.Missed, len(fired), byWorker(evs, wire.EventScheduleFired))
}

// Overlap skip with a run slower than the interval: a tick while the last
// run is open starts nothing and is counted skipped; never are two runs
// open at once; every tick either started a run or was skipped.
func TestProcsScheduleOverlapSkip(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Parallel()
	ctx := scheduleContext(t, 90*time.Second)
	_, url := startServer(t)
	e := connectEngine(t, url)
	startWorker(t, url, "skip-w1", "--exercise")
	startWorker(t, url, "skip-w2", "--exercise")
	const id = "slow"
	// One Tally of 2.5 s: each run spans two to three ticks.
	in := fmt.Sprintf(`{"steps": 1, "delay": %d}`, 2500*time.Millisecond)
	scheduleCLI(t, url, "create", id, "--workflow", "LongChain", "--cron", "@every 1s", "--input", in)
	first := waitTicks(t, ctx, e, id, 1).Recent[0].Nominal
	waitLast(t, ctx, e, id, first.Add(7*time.Second))
	scheduleCLI(t, url, "pause", id)
	rec := waitSettled(t, ctx, e, id)
	runs := scheduleRuns(t, ctx, e, id)

	ticks := int(rec.Last.Sub(first)/time.Second) + 1
	if rec.Started != len(runs) || len(runs) < 2 || rec.Skipped == 0 || rec.Missed != 0 || rec.Started+rec.Skipped != ticks {
		t.Errorf("%d ticks from %s to %s: %d runs, record started %d, skipped %d, missed %d; want at least 2 runs, some skipped, none missed, every tick started or skipped",
			ticks, first.Format(time.TimeOnly), rec.Last.Format(time.TimeOnly), len(runs), rec.Started, rec.Skipped, rec.Missed)
	}
	ran := map[string]bool{}
	for i, r := range runs {
		ran[r.ID] = true
		if r.Status != string(workflow.StatusCompleted) || r.Schedule != id {
			t.Errorf("run %s: %s, schedule %q; want completed, from %s", r.ID, r.Status, r.Schedule, id)
		}
		if i > 0 && r.CreatedAt.Before(runs[i-1].ClosedAt) {
			t.Errorf("run %s started at %s, before run %s closed at %s: two runs open at once",
				r.ID, r.CreatedAt.Format(time.StampMilli), runs[i-1].ID, runs[i-1].ClosedAt.Format(time.StampMilli))
		}
	}
	skipped := 0
	for _, ev := range scheduleEventLog(t, ctx, e, id) {
		if ev.Event != wire.EventScheduleSkipped {
			continue
		}
		skipped++
		if ran[ev.WorkflowID] {
			t.Errorf("tick %s was skipped and ran", ev.WorkflowID)
		}
	}
	if skipped != rec.Skipped {
		t.Errorf("%d skipped_overlap events; the record counts %d", skipped, rec.Skipped)
	}
	t.Logf("schedule %s: %d ticks, %d runs of 2.5 s, %d skipped", id, ticks, len(runs), rec.Skipped)
}

// Catch-up after 10 s with no worker, under a window of 5 s: the ticks of
// the outage older than the window when a worker is back are missed and
// counted, the younger ones run. The ticks that did not run are one
// stretch, right after the last one handled before the outage.
func TestProcsScheduleCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Parallel()
	ctx := scheduleContext(t, 90*time.Second)
	_, url := startServer(t)
	e := connectEngine(t, url)
	w1 := startWorker(t, url, "catchup-w1", "--exercise")
	const id = "catchup"
	const window = 5 * time.Second
	// allow_all, so that the ticks caught up all start (under skip the
	// first would, and the others would skip while it runs).
	scheduleCLI(t, url, "create", id, "--workflow", "LongChain", "--cron", "@every 1s", "--input", `{"steps": 1}`,
		"--catchup", window.String(), "--overlap", "allow_all")
	first := waitTicks(t, ctx, e, id, 2).Recent[0].Nominal
	sendSignal(t, w1, syscall.SIGKILL)
	waitExit(t, w1, 10*time.Second)
	before := lastTick(t, ctx, e, id)
	time.Sleep(10 * time.Second)
	startWorker(t, url, "catchup-w2", "--exercise")
	rec := waitRecord(t, ctx, e, id, "a tick handled after the outage", func(s kv.Schedule) bool { return s.Missed > 0 })
	waitLast(t, ctx, e, id, rec.Last.Add(time.Second))
	scheduleCLI(t, url, "pause", id)
	rec = waitSettled(t, ctx, e, id)
	runs := scheduleRuns(t, ctx, e, id)

	// By Unix second: the record's times and the IDs' differ in location.
	ran := map[int64]bool{}
	for _, r := range runs {
		ran[nominalOf(t, id, r.ID).Unix()] = true
		if r.Status != string(workflow.StatusCompleted) || r.Schedule != id {
			t.Errorf("run %s: %s, schedule %q; want completed, from %s", r.ID, r.Status, r.Schedule, id)
		}
	}
	// Every tick from the first to the last ran, but a stretch right after
	// the last one handled before the outage.
	var gap []time.Time
	for at := first; !at.After(rec.Last); at = at.Add(time.Second) {
		switch {
		case ran[at.Unix()]:
		case at.After(before) && (len(gap) == 0 || gap[len(gap)-1].Equal(at.Add(-time.Second))):
			gap = append(gap, at)
		default:
			t.Errorf("tick %s did not run, and is not in the stretch missed right after %s (%d ticks)", at.Format(time.TimeOnly), before.Format(time.TimeOnly), len(gap))
		}
	}
	if len(gap) != rec.Missed {
		t.Errorf("%d ticks did not run; the record counts %d missed", len(gap), rec.Missed)
	}
	// 10 s down and a window of 5: about 5 ticks each side.
	if len(gap) < 3 || len(gap) > 10 {
		t.Errorf("%d ticks missed after 10 s with no worker and a 5 s window; want about 5", len(gap))
	}
	var missed []wire.ScheduleEvent
	caughtUp := time.Time{}
	for _, ev := range scheduleEventLog(t, ctx, e, id) {
		if ev.Event != wire.EventScheduleMissed {
			continue
		}
		missed = append(missed, ev)
		if late := ev.Time.Sub(ev.Nominal); late <= window || !slices.ContainsFunc(gap, ev.Nominal.Equal) {
			t.Errorf("missed event %+v: %s late, want more than %s, for a tick of the stretch that did not run", ev, late, window)
		}
		caughtUp = ev.Time
	}
	if len(missed) != len(gap) {
		t.Errorf("%d missed events; want %d", len(missed), len(gap))
	}
	// The younger ticks of the outage ran: those after the stretch, up to
	// the pass that counted it missed.
	young := 0
	for at := before.Add(time.Duration(len(gap)+1) * time.Second); !at.After(caughtUp); at = at.Add(time.Second) {
		if ran[at.Unix()] {
			young++
		}
	}
	if young < 3 {
		t.Errorf("%d ticks of the outage younger than the window ran; want about 5", young)
	}
	t.Logf("schedule %s: last tick before the outage %s; %d missed (%s to %s), %d younger ones run on the worker's return; %d runs in all",
		id, before.Format(time.TimeOnly), len(gap), gap[0].Format(time.TimeOnly), gap[len(gap)-1].Format(time.TimeOnly), young, len(runs))
}

// scheduleContext bounds a schedule test.
func scheduleContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// scheduleCLI runs `jetflow schedule verb id args...` against url; it must
// succeed.
func scheduleCLI(t *testing.T, url, verb, id string, args ...string) {
	t.Helper()
	all := append([]string{"schedule", verb, id, "--nats", url}, args...)
	out, errOut, code := cli(t, 30*time.Second, all...)
	if code != 0 {
		t.Fatalf("jetflow %s: exit %d\n%s%s", strings.Join(all, " "), code, out, errOut)
	}
}

// scheduleRecord reads the schedule's record from the runs bucket: the
// engine's own state (its last tick handled, the runs decided and not yet
// started), which Describe does not show.
func scheduleRecord(ctx context.Context, e *engine, id string) (kv.Schedule, error) {
	runsName, _, _ := kv.BucketNames("jetflow")
	b, err := e.js.KeyValue(ctx, runsName)
	if err != nil {
		return kv.Schedule{}, err
	}
	s, _, err := kv.Get[kv.Schedule](ctx, b, kv.ScheduleKey(id))
	return s, err
}

// waitRecord polls the schedule's record until ok says so; reads that fail
// (the server is down) are tried again.
func waitRecord(t *testing.T, ctx context.Context, e *engine, id, what string, ok func(kv.Schedule) bool) kv.Schedule {
	t.Helper()
	var last kv.Schedule
	var lastErr error
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := scheduleRecord(rctx, e, id)
		cancel()
		if err == nil && ok(s) {
			return s
		}
		if err == nil {
			last = s
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("schedule %s: no %s; last record: last tick %s, started %d, missed %d, skipped %d, pending %d (%v)",
				id, what, last.Last.Format(time.TimeOnly), last.Started, last.Missed, last.Skipped, len(last.Pending), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitTicks waits until the schedule started n runs.
func waitTicks(t *testing.T, ctx context.Context, e *engine, id string, n int) kv.Schedule {
	t.Helper()
	return waitRecord(t, ctx, e, id, fmt.Sprintf("%d runs started", n), func(s kv.Schedule) bool { return s.Started >= n && len(s.Recent) > 0 })
}

// waitLast waits until the schedule handled its tick at (or after) at.
func waitLast(t *testing.T, ctx context.Context, e *engine, id string, at time.Time) {
	t.Helper()
	waitRecord(t, ctx, e, id, "tick handled at "+at.Format(time.TimeOnly), func(s kv.Schedule) bool { return !s.Last.Before(at) })
}

// lastTick is the last tick the schedule handled.
func lastTick(t *testing.T, ctx context.Context, e *engine, id string) time.Time {
	t.Helper()
	return waitRecord(t, ctx, e, id, "record", func(kv.Schedule) bool { return true }).Last
}

// waitSettled waits until the paused schedule has started every run it
// decided and all of them have ended, and returns its record.
func waitSettled(t *testing.T, ctx context.Context, e *engine, id string) kv.Schedule {
	t.Helper()
	rec := waitRecord(t, ctx, e, id, "paused record with every run started", func(s kv.Schedule) bool { return s.Paused && len(s.Pending) == 0 })
	for _, r := range scheduleRuns(t, ctx, e, id) {
		if _, err := e.client.Wait(ctx, r.ID); err != nil {
			t.Fatalf("waiting for run %s: %v", r.ID, err)
		}
	}
	return rec
}

// scheduleRuns reads the records of the schedule's runs (IDs starting with
// "<id>-"), in tick order (the IDs' time format sorts as it runs).
func scheduleRuns(t *testing.T, ctx context.Context, e *engine, id string) []kv.Run {
	t.Helper()
	res, err := e.client.List(ctx, workflow.ListFilter{IDPrefix: id + "-"})
	if err != nil {
		t.Fatal(err)
	}
	runsName, _, _ := kv.BucketNames("jetflow")
	b, err := e.js.KeyValue(ctx, runsName)
	if err != nil {
		t.Fatal(err)
	}
	var out []kv.Run
	for _, r := range res.Runs {
		run, _, err := kv.Get[kv.Run](ctx, b, r.ID)
		if err != nil {
			t.Fatalf("run %s: %v", r.ID, err)
		}
		out = append(out, run)
	}
	slices.SortFunc(out, func(a, b kv.Run) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// nominalOf reads a tick's time from its run's ID.
func nominalOf(t *testing.T, id, runID string) time.Time {
	t.Helper()
	at, err := time.Parse("20060102T150405Z", strings.TrimPrefix(runID, id+"-"))
	if err != nil {
		t.Fatalf("run %s: not a tick's ID of schedule %s: %v", runID, id, err)
	}
	return at
}

// checkConsecutive checks that the runs are one per second from first to
// last, no more, no gap, and returns their ticks.
func checkConsecutive(t *testing.T, id string, runs []kv.Run, first, last time.Time) []time.Time {
	t.Helper()
	var ticks []time.Time
	for _, r := range runs {
		ticks = append(ticks, nominalOf(t, id, r.ID))
	}
	want := first
	for _, at := range ticks {
		if !at.Equal(want) {
			t.Errorf("run of tick %s where the tick %s was due: ticks %s", at.Format(time.TimeOnly), want.Format(time.TimeOnly), timesOnly(ticks))
			return ticks
		}
		want = want.Add(time.Second)
	}
	if !want.Equal(last.Add(time.Second)) {
		t.Errorf("runs up to %s, the last tick handled was %s: ticks %s", want.Add(-time.Second).Format(time.TimeOnly), last.Format(time.TimeOnly), timesOnly(ticks))
	}
	return ticks
}

func timesOnly(ts []time.Time) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Format(time.TimeOnly))
	}
	return strings.Join(s, " ")
}

// scheduleEventLog reads the schedule's events from the events stream.
// Events are published fire-and-forget: those of a moment the server was
// down are not there.
func scheduleEventLog(t *testing.T, ctx context.Context, e *engine, id string) []wire.ScheduleEvent {
	t.Helper()
	names := wire.NewNames("jetflow")
	var out []wire.ScheduleEvent
	for _, d := range testenv.StreamData(t, ctx, e.js, names.EventStream(), names.ScheduleEventSubject(id, "*")) {
		var ev wire.ScheduleEvent
		if err := json.Unmarshal(d, &ev); err != nil {
			t.Fatalf("schedule event %q: %v", d, err)
		}
		out = append(out, ev)
	}
	return out
}

// firedTicks checks the fired events against the runs: no tick fired twice,
// each fired run exists. It returns the ticks fired and how many fired
// twice.
func firedTicks(t *testing.T, evs []wire.ScheduleEvent, runs []kv.Run) (map[time.Time]string, int) {
	t.Helper()
	exists := map[string]bool{}
	for _, r := range runs {
		exists[r.ID] = true
	}
	fired, twice := map[time.Time]string{}, 0
	for _, ev := range evs {
		if ev.Event != wire.EventScheduleFired {
			continue
		}
		if prev, ok := fired[ev.Nominal]; ok {
			twice++
			t.Errorf("tick %s fired twice: %s, then %s (by %s)", ev.Nominal.Format(time.TimeOnly), prev, ev.WorkflowID, ev.Worker)
		}
		fired[ev.Nominal] = ev.WorkflowID
		if !exists[ev.WorkflowID] {
			t.Errorf("tick %s fired run %s, which does not exist", ev.Nominal.Format(time.TimeOnly), ev.WorkflowID)
		}
	}
	return fired, twice
}

// byWorker counts the events of a kind by the worker that published them.
func byWorker(evs []wire.ScheduleEvent, event string) map[string]int {
	out := map[string]int{}
	for _, ev := range evs {
		if ev.Event == event {
			out[ev.Worker]++
		}
	}
	return out
}

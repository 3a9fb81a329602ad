package workflow_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var reconciled atomic.Int64

var reconcileStep = steps.New("ReconcileStep", func(ctx context.Context, n int) (int, error) {
	reconciled.Add(1)
	return n, nil
})

// reconcile runs one step; with hold set it first waits for a "release"
// signal, so a test can keep a run open across ticks.
var release = workflow.NewSignal[int]("release")

type reconcileIn struct {
	Hold bool `json:"hold"`
}

var reconcile = workflow.New("Reconcile", func(ctx workflow.Context, in reconcileIn) (int, error) {
	if in.Hold {
		if _, err := release.Receive(ctx); err != nil {
			return 0, err
		}
	}
	return workflow.ExecuteStep(ctx, reconcileStep, 1).Get(ctx)
})

func scheduleSetup(t *testing.T, workers int) (*nats.Conn, *workflow.Client, context.Context) {
	t.Helper()
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	for range workers {
		startWorker(t, nc, []workflow.Registrable{reconcile}, []steps.Handler{reconcileStep})
	}
	ctx := testenv.Context(t, 60*time.Second)
	waitServed(t, ctx, nc, "Reconcile")
	return nc, newClient(t, nc), ctx
}

// waitServed waits until a worker serves the workflow type (its consumer
// exists): CreateSchedule refuses a type no worker ever served.
func waitServed(t *testing.T, ctx context.Context, nc *nats.Conn, workflowName string) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := js.Consumer(ctx, "JETFLOW_TASKS", "wf_"+workflowName); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no worker serves %s", workflowName)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// events collects a schedule's events by name.
func scheduleEvents(t *testing.T, nc *nats.Conn, id string) (func(event string) int, func(event string, n int, ctx context.Context)) {
	t.Helper()
	var mu = make(chan struct{}, 1)
	counts := map[string]int{}
	sub, err := nc.Subscribe("jetflow.schedule."+id+".*", func(m *nats.Msg) {
		mu <- struct{}{}
		counts[m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]]++
		<-mu
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	count := func(event string) int {
		mu <- struct{}{}
		defer func() { <-mu }()
		return counts[event]
	}
	wait := func(event string, n int, ctx context.Context) {
		t.Helper()
		for count(event) < n {
			select {
			case <-ctx.Done():
				t.Fatalf("%d %s events of schedule %s; want %d", count(event), event, id, n)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return count, wait
}

func newAction(t *testing.T, in reconcileIn) workflow.ScheduleAction {
	t.Helper()
	a, err := workflow.NewScheduleAction(reconcile, in)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// An @every 1s schedule served by three workers starts one run per tick,
// each under the tick's ID; paused, it starts nothing more; describe shows
// its runs and its next fire times.
func TestScheduleStartsOneRunPerTick(t *testing.T) {
	nc, c, ctx := scheduleSetup(t, 3)
	count, wait := scheduleEvents(t, nc, "every-second")
	if err := c.CreateSchedule(ctx, "every-second", workflow.ScheduleSpec{Cron: []string{"@every 1s"}}, newAction(t, reconcileIn{}), workflow.SchedulePolicies{}); err != nil {
		t.Fatal(err)
	}
	wait("fired", 3, ctx)
	if err := c.PauseSchedule(ctx, "every-second", "maintenance"); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeSchedule(ctx, "every-second")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Paused || d.Note != "maintenance" || d.Started < 3 || len(d.Recent) != d.Started {
		t.Fatalf("described %+v; want paused with its runs", d)
	}
	seen := map[string]bool{}
	for _, r := range d.Recent {
		if seen[r.WorkflowID] || !strings.HasPrefix(r.WorkflowID, "every-second-") || r.Nominal.Nanosecond() != 0 {
			t.Fatalf("runs %+v; want one per tick, named by the tick", d.Recent)
		}
		seen[r.WorkflowID] = true
		rec, err := waitScheduledRun(ctx, c, r.WorkflowID)
		if err != nil || rec.Status != workflow.StatusCompleted {
			t.Fatalf("run %s: %s, %v", r.WorkflowID, rec.Status, err)
		}
	}
	// Paused: two more seconds start nothing.
	started := d.Started
	time.Sleep(2500 * time.Millisecond)
	if d, _ := c.DescribeSchedule(ctx, "every-second"); d.Started != started || count("fired") != started {
		t.Fatalf("paused, it started %d runs more", d.Started-started)
	}
	// Unpaused, it goes on from now.
	if err := c.UnpauseSchedule(ctx, "every-second", ""); err != nil {
		t.Fatal(err)
	}
	wait("fired", started+1, ctx)
	if err := c.DeleteSchedule(ctx, "every-second"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeSchedule(ctx, "every-second"); !errors.Is(err, workflow.ErrNotFound) {
		t.Fatalf("described after delete: %v", err)
	}
}

// Overlap skip: while a run is open, ticks start nothing and are counted;
// trigger starts a run now; buffer_one starts the waiting tick once the open
// run ends.
func TestScheduleOverlap(t *testing.T) {
	nc, c, ctx := scheduleSetup(t, 1)
	count, wait := scheduleEvents(t, nc, "held")
	if err := c.CreateSchedule(ctx, "held", workflow.ScheduleSpec{Cron: []string{"@every 1s"}}, newAction(t, reconcileIn{Hold: true}), workflow.SchedulePolicies{}); err != nil {
		t.Fatal(err)
	}
	wait("fired", 1, ctx)
	wait("skipped_overlap", 2, ctx)
	if n := count("fired"); n != 1 {
		t.Fatalf("%d runs while the first was open; want 1", n)
	}
	d, _ := c.DescribeSchedule(ctx, "held")
	first := d.Recent[0].WorkflowID
	// buffer_one: the next tick waits for the open run.
	spec := workflow.ScheduleSpec{Cron: []string{"@every 1s"}}
	if err := c.UpdateSchedule(ctx, "held", spec, newAction(t, reconcileIn{}), workflow.SchedulePolicies{Overlap: workflow.OverlapBufferOne}); err != nil {
		t.Fatal(err)
	}
	wait("buffered", 1, ctx)
	if err := workflow.Signal(ctx, c, first, release, 1); err != nil {
		t.Fatal(err)
	}
	wait("fired", 2, ctx)
	run, err := c.TriggerSchedule(ctx, "held")
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := waitScheduledRun(ctx, c, run); err != nil || rec.Status != workflow.StatusCompleted {
		t.Fatalf("triggered run %s: %s, %v", run, rec.Status, err)
	}
}

// Ticks handled later than the catch-up window after their time are missed
// and counted; younger ones start.
func TestScheduleCatchUpWindow(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 60*time.Second)
	_, stop := startWorker(t, nc, []workflow.Registrable{reconcile}, []steps.Handler{reconcileStep})
	waitServed(t, ctx, nc, "Reconcile")
	count, wait := scheduleEvents(t, nc, "catchup")
	if err := c.CreateSchedule(ctx, "catchup", workflow.ScheduleSpec{Cron: []string{"@every 1s"}}, newAction(t, reconcileIn{}),
		workflow.SchedulePolicies{CatchupWindow: 2 * time.Second, Overlap: workflow.OverlapAllowAll}); err != nil {
		t.Fatal(err)
	}
	wait("fired", 1, ctx)
	stop()
	time.Sleep(5 * time.Second) // no worker: five ticks pass unhandled
	before := count("fired")
	startWorker(t, nc, []workflow.Registrable{reconcile}, []steps.Handler{reconcileStep})
	wait("missed", 2, ctx)
	wait("fired", before+2, ctx)
	d, err := c.DescribeSchedule(ctx, "catchup")
	if err != nil {
		t.Fatal(err)
	}
	if d.Missed < 2 || d.Missed > 4 {
		t.Fatalf("%d ticks missed after 5 s down with a 2 s window; want 2 to 4", d.Missed)
	}
}

// Bad input is refused with a typed error naming the field, and creates
// nothing.
func TestScheduleBadInput(t *testing.T) {
	_, c, ctx := scheduleSetup(t, 1)
	action := newAction(t, reconcileIn{})
	cases := []struct {
		name   string
		spec   workflow.ScheduleSpec
		action workflow.ScheduleAction
		pol    workflow.SchedulePolicies
		field  string
	}{
		{"bad-cron", workflow.ScheduleSpec{Cron: []string{"0 0 25 * * *"}}, action, workflow.SchedulePolicies{}, "cron[0] hour"},
		{"fast", workflow.ScheduleSpec{Cron: []string{"@every 500ms"}}, action, workflow.SchedulePolicies{}, "cron[0]"},
		{"no-cron", workflow.ScheduleSpec{}, action, workflow.SchedulePolicies{}, "cron"},
		{"bad-zone", workflow.ScheduleSpec{Cron: []string{"@daily"}, TimeZone: "Mars/Olympus"}, action, workflow.SchedulePolicies{}, "time zone"},
		{"unknown-wf", workflow.ScheduleSpec{Cron: []string{"@daily"}}, workflow.ScheduleAction{Workflow: "NoSuchWorkflow"}, workflow.SchedulePolicies{}, "workflow"},
		{"no-time", workflow.ScheduleSpec{Cron: []string{"@daily"}}, workflow.ScheduleAction{Workflow: "Reconcile", IDTemplate: "fixed"}, workflow.SchedulePolicies{}, "id_template"},
		{"bad-overlap", workflow.ScheduleSpec{Cron: []string{"@daily"}}, action, workflow.SchedulePolicies{Overlap: "sometimes"}, "overlap"},
	}
	for _, tc := range cases {
		err := c.CreateSchedule(ctx, tc.name, tc.spec, tc.action, tc.pol)
		var se *workflow.ScheduleError
		if !errors.As(err, &se) || !strings.HasPrefix(se.Field, tc.field) {
			t.Errorf("%s: %v; want a ScheduleError on %s", tc.name, err, tc.field)
		}
		if _, err := c.DescribeSchedule(ctx, tc.name); !errors.Is(err, workflow.ErrNotFound) {
			t.Errorf("%s: created anyway (%v)", tc.name, err)
		}
	}
	if err := c.CreateSchedule(ctx, "twice", workflow.ScheduleSpec{Cron: []string{"@daily"}}, action, workflow.SchedulePolicies{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateSchedule(ctx, "twice", workflow.ScheduleSpec{Cron: []string{"@daily"}}, action, workflow.SchedulePolicies{}); !errors.Is(err, workflow.ErrScheduleExists) {
		t.Fatalf("created twice: %v", err)
	}
}

// waitScheduledRun waits for a run a schedule decided to start: its record
// exists once the worker that decided it has started it.
func waitScheduledRun(ctx context.Context, c *workflow.Client, id string) (workflow.Record, error) {
	for {
		rec, err := c.Wait(ctx, id)
		if !errors.Is(err, workflow.ErrNotFound) {
			return rec, err
		}
		select {
		case <-ctx.Done():
			return rec, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A schedule that has started its limit of runs refuses a trigger or a
// backfill with an error, rather than returning the ID of a run that its
// next pass would drop.
func TestScheduleTriggerPastLimit(t *testing.T) {
	_, c, ctx := scheduleSetup(t, 1)
	pol := workflow.SchedulePolicies{Limit: 1}
	if err := c.CreateSchedule(ctx, "once", workflow.ScheduleSpec{Cron: []string{"@daily"}}, newAction(t, reconcileIn{}), pol); err != nil {
		t.Fatal(err)
	}
	run, err := c.TriggerSchedule(ctx, "once")
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := waitScheduledRun(ctx, c, run); err != nil || rec.Status != workflow.StatusCompleted {
		t.Fatalf("triggered run %s: %s, %v", run, rec.Status, err)
	}
	var se *workflow.ScheduleError
	if run, err := c.TriggerSchedule(ctx, "once"); !errors.As(err, &se) || se.Field != "limit" {
		t.Fatalf("second trigger: run %q, %v; want a ScheduleError on limit", run, err)
	}
	now := time.Now()
	if n, err := c.BackfillSchedule(ctx, "once", now.Add(-72*time.Hour), now); !errors.As(err, &se) || se.Field != "limit" {
		t.Fatalf("backfill: %d ticks, %v; want a ScheduleError on limit", n, err)
	}
	if d, err := c.DescribeSchedule(ctx, "once"); err != nil || d.Started != 1 {
		t.Fatalf("described %+v, %v; want its one run", d, err)
	}
}

// Ticks a paused schedule did not handle (due before the pause with no
// worker up, or during it) are counted skipped when it is unpaused, not
// lost uncounted and not started late.
func TestScheduleUnpauseCountsTheTicksItSkipped(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 60*time.Second)
	_, stop := startWorker(t, nc, []workflow.Registrable{reconcile}, []steps.Handler{reconcileStep})
	waitServed(t, ctx, nc, "Reconcile")
	_, wait := scheduleEvents(t, nc, "paused")
	if err := c.CreateSchedule(ctx, "paused", workflow.ScheduleSpec{Cron: []string{"@every 1s"}}, newAction(t, reconcileIn{}),
		workflow.SchedulePolicies{Overlap: workflow.OverlapAllowAll}); err != nil {
		t.Fatal(err)
	}
	wait("fired", 1, ctx)
	stop()
	time.Sleep(3500 * time.Millisecond) // ticks due, no worker
	if err := c.PauseSchedule(ctx, "paused", "incident"); err != nil {
		t.Fatal(err)
	}
	startWorker(t, nc, []workflow.Registrable{reconcile}, []steps.Handler{reconcileStep})
	before, err := c.DescribeSchedule(ctx, "paused")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UnpauseSchedule(ctx, "paused", ""); err != nil {
		t.Fatal(err)
	}
	after, err := c.DescribeSchedule(ctx, "paused")
	if err != nil {
		t.Fatal(err)
	}
	if after.Skipped-before.Skipped < 3 || after.Started != before.Started {
		t.Fatalf("unpaused after 3.5 s of unhandled ticks: started %d → %d, skipped %d → %d; want 3 or more skipped, none started for them",
			before.Started, after.Started, before.Skipped, after.Skipped)
	}
}

// cancel_other and terminate_other stop the open run when the next tick
// starts its own; buffer_all keeps every tick waiting its turn.
func TestScheduleOverlapStopsTheOpenRun(t *testing.T) {
	_, c, ctx := scheduleSetup(t, 1)
	for _, tc := range []struct {
		policy workflow.OverlapPolicy
		want   workflow.Status
	}{
		{workflow.OverlapCancelOther, workflow.StatusCanceled},
		{workflow.OverlapTerminateOther, workflow.StatusTerminated},
	} {
		id := "stop-" + strings.ReplaceAll(string(tc.policy), "_", "-")
		if err := c.CreateSchedule(ctx, id, workflow.ScheduleSpec{Cron: []string{"@every 1s"}}, newAction(t, reconcileIn{Hold: true}),
			workflow.SchedulePolicies{Overlap: tc.policy}); err != nil {
			t.Fatal(err)
		}
		var first string
		for first == "" {
			d, err := c.DescribeSchedule(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Recent) >= 2 {
				first = d.Recent[len(d.Recent)-1].WorkflowID // oldest shown last
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: no second run", id)
			case <-time.After(50 * time.Millisecond):
			}
		}
		rec, err := waitScheduledRun(ctx, c, first)
		if err != nil || rec.Status != tc.want {
			t.Fatalf("%s: the first run ended %s, %v; want %s by the next tick", id, rec.Status, err, tc.want)
		}
		if err := c.DeleteSchedule(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// A run the schedule decided (its fired event went out) but no worker
// started yet, as when the worker died between the two, is started by
// DeleteSchedule rather than dropped with the record.
func TestDeleteScheduleStartsTheRunsItFired(t *testing.T) {
	nc, c, ctx := scheduleSetup(t, 1)
	action, err := workflow.NewScheduleAction(reconcile, reconcileIn{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateSchedule(ctx, "nightly-del", workflow.ScheduleSpec{Cron: []string{"@every 1h"}}, action, workflow.SchedulePolicies{}); err != nil {
		t.Fatal(err)
	}
	// What a worker's tick writes before it starts the run.
	js := testenv.JetStream(t, nc)
	runs, err := js.KeyValue(ctx, "jetflow_runs")
	if err != nil {
		t.Fatal(err)
	}
	s, rev, err := kv.Get[kv.Schedule](ctx, runs, kv.ScheduleKey("nightly-del"))
	if err != nil {
		t.Fatal(err)
	}
	s.Pending = append(s.Pending, kv.ScheduleRun{WorkflowID: "nightly-del-1", Nominal: time.Now().UTC(), Decided: time.Now().UTC()})
	if _, err := kv.Update(ctx, runs, kv.ScheduleKey("nightly-del"), s, rev); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSchedule(ctx, "nightly-del"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeSchedule(ctx, "nightly-del"); !errors.Is(err, workflow.ErrNotFound) {
		t.Fatalf("schedule after the delete: %v; want ErrNotFound", err)
	}
	if rec, err := c.Wait(ctx, "nightly-del-1"); err != nil || rec.Status != workflow.StatusCompleted {
		t.Fatalf("the fired run after the delete: %s, %v; want it started and completed", rec.Status, err)
	}
}

package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fastSweeper sweeps every 100 ms and counts a run stuck after 300 ms.
var fastSweeper = workflow.WithSweeper(100*time.Millisecond, 300*time.Millisecond)

// repairs collects the sweeper's "repaired" events.
func repairs(t *testing.T, nc *nats.Conn) <-chan wire.Event {
	t.Helper()
	ch := make(chan wire.Event, 64)
	sub, err := nc.Subscribe("jetflow.status.*.*.repaired", func(m *nats.Msg) {
		var ev wire.Event
		if json.Unmarshal(m.Data, &ev) == nil {
			select {
			case ch <- ev:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

func wantRepair(t *testing.T, ctx context.Context, ch <-chan wire.Event, problem string) {
	t.Helper()
	for {
		select {
		case ev := <-ch:
			if ev.ErrorType == problem {
				return
			}
		case <-ctx.Done():
			t.Fatalf("no repaired event for %s", problem)
		}
	}
}

// purgeSubject loses what waits on subject, once it is there: the events
// the tests wait for are announced just before the publish they announce.
func purgeSubject(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, subject string) {
	t.Helper()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			t.Fatal(err)
		}
		if len(info.State.Subjects) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nothing was ever published on %s", subject)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		t.Fatal(err)
	}
}

// A Start that died between its record and its task left a pending run
// nobody will pick up: the sweeper publishes its start task again.
func TestSweeperStartsARunWhoseStartTaskWasLost(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	repaired := repairs(t, nc)
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne}, fastSweeper)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	b, err := kv.Open(ctx, js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := kv.Marshal(10)
	if _, err := kv.Create(ctx, b.Runs, "orphan-1", kv.Run{ID: "orphan-1", Workflow: "FiveSteps", Status: kv.StatusPending, Input: in,
		CreatedAt: time.Now().UTC(), Format: kv.FormatHistory, Exec: 1, Inc: kv.NewIncarnation()}); err != nil {
		t.Fatal(err)
	}
	wantRepair(t, ctx, repaired, workflow.ProblemNotStarted)
	if got, err := workflow.Attach(c, fiveSteps, "orphan-1").Result(ctx); err != nil || got != 15 {
		t.Fatalf("got %d, %v; want 15", got, err)
	}
}

// A step task lost from the stream (here: purged) with the step's consumer
// idle: the sweeper rebuilds the run, which publishes the step again.
func TestSweeperRepublishesALostStepTask(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	repaired := repairs(t, nc)
	var calls atomic.Int32
	lossy := steps.New("Lossy", func(ctx context.Context, n int) (int, error) {
		calls.Add(1)
		return n * 2, nil
	})
	wf := workflow.New("LosesAStep", func(ctx workflow.Context, n int) (int, error) {
		return workflow.ExecuteStep(ctx, lossy, n).Get(ctx)
	})
	// The step's worker registers its consumer, then stops: the task
	// waits in the stream, where it is lost.
	_, stopSteps := startWorker(t, nc, nil, []steps.Handler{lossy})
	stopSteps()
	startWorker(t, nc, []workflow.Registrable{wf}, nil, fastSweeper)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	scheduled := make(chan *nats.Msg, 1)
	sub, err := nc.ChanSubscribe("jetflow.status.LosesAStep.*.step_scheduled", scheduled)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	run, err := workflow.Start(ctx, c, wf, "lossy-1", 21)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, scheduled)
	purgeSubject(t, ctx, js, "JETFLOW_TASKS", "jetflow.step.Lossy")
	startWorker(t, nc, nil, []steps.Handler{lossy})
	wantRepair(t, ctx, repaired, workflow.ProblemStepLost)
	if got, err := run.Result(ctx); err != nil || got != 42 {
		t.Fatalf("got %d, %v; want 42", got, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("step ran %d times, want once", n)
	}
}

// A retry whose schedule was lost (a full store, a purge) is run by the
// sweeper's repair from its retry record: as attempt 2, not attempt 1 again.
func TestSweeperRunsARetryWhoseScheduleWasLost(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	repaired := repairs(t, nc)
	var calls atomic.Int32
	second := steps.New("SecondTime", func(ctx context.Context, n int) (int, error) {
		if calls.Add(1) == 1 {
			return 0, steps.NewError("Down", "first attempt fails")
		}
		return n, nil
	})
	wf := workflow.New("LosesARetry", func(ctx workflow.Context, n int) (int, error) {
		// Long enough that the test purges the schedule before it fires.
		ctx = workflow.WithStepOptions(ctx, steps.Options{RetryPolicy: &steps.RetryPolicy{InitialInterval: 2 * time.Second}})
		return workflow.ExecuteStep(ctx, second, n).Get(ctx)
	})
	retrying := make(chan *nats.Msg, 1)
	sub, err := nc.ChanSubscribe("jetflow.status.LosesARetry.*.step_retrying", retrying)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{second}, fastSweeper)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, wf, "retry-lost-1", 7)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, retrying)
	purgeSubject(t, ctx, js, "JETFLOW_TASKS", "jetflow.sched.>")
	wantRepair(t, ctx, repaired, workflow.ProblemRetryLost)
	if got, err := run.Result(ctx); err != nil || got != 7 {
		t.Fatalf("got %d, %v; want 7", got, err)
	}
	hist, err := c.History(ctx, "retry-lost-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Attempts != 2 {
		t.Fatalf("history: %+v; want one step done in 2 attempts", hist)
	}
}

// A timer whose schedule was lost fires once it is past due.
func TestSweeperFiresALostTimer(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	repaired := repairs(t, nc)
	nap := workflow.New("LosesATimer", func(ctx workflow.Context, n int) (int, error) {
		// Long enough that the test purges the schedule before it fires.
		if err := workflow.Sleep(ctx, 2*time.Second); err != nil {
			return 0, err
		}
		return n, nil
	})
	timers := make(chan *nats.Msg, 1)
	sub, err := nc.ChanSubscribe("jetflow.status.LosesATimer.*.timer_scheduled", timers)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	startWorker(t, nc, []workflow.Registrable{nap}, nil, fastSweeper)
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, nap, "timer-lost-1", 3)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, timers)
	purgeSubject(t, ctx, js, "JETFLOW_TASKS", "jetflow.sched.>")
	wantRepair(t, ctx, repaired, workflow.ProblemTimerLost)
	if got, err := run.Result(ctx); err != nil || got != 3 {
		t.Fatalf("got %d, %v; want 3", got, err)
	}
}

// A result the run saw, deleted by hand (`nats kv del jetflow_steps ...`):
// the run is rebuilt, the step runs again with the same idempotency key,
// and the run goes on.
func TestSweeperRerunsAStepWhoseResultWasDeleted(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	repaired := repairs(t, nc)
	keys := make(chan string, 4)
	first := steps.New("First", func(ctx context.Context, n int) (int, error) {
		keys <- steps.IdempotencyKey(ctx)
		return n + 1, nil
	})
	release := make(chan struct{})
	then := steps.New("Then", func(ctx context.Context, n int) (int, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return n * 10, nil
	})
	wf := workflow.New("LosesAResult", func(ctx workflow.Context, n int) (int, error) {
		a, err := workflow.ExecuteStep(ctx, first, n).Get(ctx)
		if err != nil {
			return 0, err
		}
		return workflow.ExecuteStep(ctx, then, a).Get(ctx)
	})
	startWorker(t, nc, []workflow.Registrable{wf}, []steps.Handler{first, then}, fastSweeper)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	run, err := workflow.Start(ctx, c, wf, "deleted-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	firstKey := <-keys
	b, err := kv.Open(ctx, js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the run waits on Then, then delete First's result.
	for {
		d, err := c.Describe(ctx, "deleted-1")
		if err != nil {
			t.Fatal(err)
		}
		if d.CurrentStep == "Then" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := b.Steps.Delete(ctx, resultKey(t, ctx, b, "deleted-1", 1)); err != nil {
		t.Fatal(err)
	}
	wantRepair(t, ctx, repaired, workflow.ProblemResultMissing)
	select {
	case again := <-keys:
		if again != firstKey {
			t.Fatalf("the step ran again with idempotency key %q, want %q", again, firstKey)
		}
	case <-ctx.Done():
		t.Fatal("the step whose result was deleted did not run again")
	}
	close(release)
	if got, err := run.Result(ctx); err != nil || got != 20 {
		t.Fatalf("got %d, %v; want 20", got, err)
	}
}

// jetflow doctor: the same checks on demand, reporting without repairing.
func TestDoctorReportsWithoutRepairing(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	js := testenv.JetStream(t, nc)
	// A worker of the type that sweeps nothing: its consumer is idle, so a
	// pending run nobody started is one whose start was lost.
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne}, workflow.WithSweeper(0, 0))
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	b, err := kv.Open(ctx, js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := kv.Marshal(1)
	if _, err := kv.Create(ctx, b.Runs, "orphan-2", kv.Run{ID: "orphan-2", Workflow: "FiveSteps", Status: kv.StatusPending, Input: in,
		CreatedAt: time.Now().Add(-time.Hour).UTC(), Format: kv.FormatHistory, Exec: 1, Inc: kv.NewIncarnation()}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Runs.Put(ctx, "corrupt-1", []byte("\xc1")); err != nil {
		t.Fatal(err)
	}
	found, err := c.Doctor(ctx, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range found {
		if f.Repaired {
			t.Fatalf("doctor without repair repaired %+v", f)
		}
		got[f.WorkflowID] = f.Problem
	}
	if got["orphan-2"] != workflow.ProblemNotStarted || got["corrupt-1"] != workflow.ProblemCorruptRecord || len(got) != 2 {
		t.Fatalf("findings: %+v", found)
	}
	if d, err := c.Describe(ctx, "orphan-2"); err != nil || d.Status != "pending" {
		t.Fatalf("run: %+v, %v; want still pending", d, err)
	}
	// Repaired, it runs.
	if _, err := c.Doctor(ctx, time.Minute, true); err != nil {
		t.Fatal(err)
	}
	if got, err := workflow.Attach(c, fiveSteps, "orphan-2").Result(ctx); err != nil || got != 6 {
		t.Fatalf("after the repair: got %d, %v; want 6", got, err)
	}
}

// A step that ran longer than the grace period has a result that is fresh
// when it is recorded: its wake-up is on its way, not lost. The sweeper
// took the age of the run's last history batch for the age of the result,
// and "repaired" every such run the moment its result landed (seen in the
// chaos harness with a 3 s grace; a step of more than 2 minutes does the
// same with the default grace).
func TestSweeperLeavesAFreshResultAlone(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	const grace = 1500 * time.Millisecond
	slow := steps.New("OutlivesGrace", func(ctx context.Context, n int) (int, error) {
		select {
		case <-time.After(2 * grace):
			return n + 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	wf := workflow.New("WaitsOnASlowStep", func(ctx workflow.Context, n int) (int, error) {
		return workflow.ExecuteStep(ctx, slow, n).Get(ctx)
	})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	events := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe("jetflow.status.WaitsOnASlowStep.*.*", events)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	waitEvent := func(event string) {
		t.Helper()
		for {
			select {
			case m := <-events:
				var ev wire.Event
				if json.Unmarshal(m.Data, &ev) == nil && ev.Event == event {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no %s event", event)
			}
		}
	}
	// The workflow's worker schedules the step and goes away, so the
	// result's wake-up waits in the stream and the run shows the result
	// not yet seen, for as long as the test looks.
	_, stopWorkflows := startWorker(t, nc, []workflow.Registrable{wf}, nil)
	startWorker(t, nc, nil, []steps.Handler{slow})
	run, err := workflow.Start(ctx, c, wf, "fresh-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(wire.EventStepStarted)
	stopWorkflows()
	waitEvent(wire.EventStepCompleted)
	// The run's last history batch is older than grace; its result is not.
	found, err := c.Doctor(ctx, grace, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("doctor found %s in %s (%s) a moment after its result was recorded", f.Problem, f.WorkflowID, f.Detail)
	}
	startWorker(t, nc, []workflow.Registrable{wf}, nil)
	if got, err := run.Result(ctx); err != nil || got != 2 {
		t.Fatalf("got %d, %v; want 2", got, err)
	}
}

// Once a sweeper has read every run record, it reads only what is written
// after, and looks at every open run it knows each sweep, however many
// closed runs the deployment keeps: before, it read the records again
// pass after pass, a page a sweep, so a run owed progress waited one
// sweep per page of retained runs. Here a page is 500 records and 1,500
// closed runs are kept; the open runs are pending runs whose start was
// lost (reported, not repaired), and a record that does not decode.
func TestSweeperLooksAtOpenRunsEverySweepHoweverManyClosedRunsAreKept(t *testing.T) {
	k := keptRuns(t, map[int]string{750: "open-1"})
	// The first pass, a page a sweep.
	var first []string
	for n := 1; ; n++ {
		ids, done := k.sweep()
		first = append(first, ids...)
		if done {
			break
		}
		if n == 10 {
			t.Fatal("the first pass did not end in 10 sweeps")
		}
	}
	if !slices.Equal(first, []string{"open-1"}) {
		t.Fatalf("the first pass found %v, want open-1 once", first)
	}
	for i := range 3 {
		if got, _ := k.sweep(); !slices.Equal(got, []string{"open-1"}) {
			t.Fatalf("sweep %d after the first pass found %v, want open-1 (looked at again every sweep)", i+1, got)
		}
	}
	// A run written after the pass is read in the next sweep, then looked
	// at again with the others.
	k.pending("open-2")
	if _, err := k.b.Runs.Put(k.ctx, "bad-1", []byte("\xc1")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, _ := k.sweep(); !slices.Equal(sorted(got), []string{"bad-1", "open-1", "open-2"}) {
			t.Fatalf("found %v, want bad-1, open-1 and open-2", got)
		}
	}
	// A run that is deleted, or purged (no marker left: retention), is let
	// go.
	if err := k.b.Runs.Delete(k.ctx, "open-1"); err != nil {
		t.Fatal(err)
	}
	st, err := k.js.Stream(k.ctx, "KV_"+k.b.Runs.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(k.ctx, jetstream.WithPurgeSubject("$KV."+k.b.Runs.Bucket()+".open-2")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, _ := k.sweep(); !slices.Equal(got, []string{"bad-1"}) {
			t.Fatalf("found %v after open-1 was deleted and open-2 purged, want bad-1 alone", got)
		}
	}
}

// kept is a deployment of 1,500 closed runs and a reporting sweeper over it.
type kept struct {
	t   *testing.T
	ctx context.Context
	js  jetstream.JetStream
	b   *kv.Buckets
	s   *workflow.Sweeper
}

// keptRuns stores 1,500 closed run records, with pending runs whose start
// was lost at the positions of open. A worker of their type (which sweeps
// nothing) makes its consumer, idle: the sweeper reports them.
func keptRuns(t *testing.T, open map[int]string) *kept {
	t.Helper()
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	k := &kept{t: t, ctx: testenv.Context(t, 30*time.Second), js: testenv.JetStream(t, nc)}
	startWorker(t, nc, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne}, workflow.WithSweeper(0, 0))
	waitServed(t, k.ctx, nc, "FiveSteps")
	var err error
	if k.b, err = kv.Open(k.ctx, k.js, kv.Config{}); err != nil {
		t.Fatal(err)
	}
	k.closed(0, 1500, open)
	k.s = workflow.NewSweeper(newClient(t, nc), time.Hour)
	return k
}

// closed stores closed run records closed-from to closed-to-1, with
// pending runs at the positions of open.
func (k *kept) closed(from, to int, open map[int]string) {
	k.t.Helper()
	rec, err := kv.Marshal(kv.Run{ID: "closed", Workflow: "FiveSteps", Status: kv.StatusCompleted,
		CreatedAt: time.Now().UTC(), ClosedAt: time.Now().UTC(), Format: kv.FormatHistory, Exec: 1, Inc: kv.NewIncarnation()})
	if err != nil {
		k.t.Fatal(err)
	}
	for i := from; i < to; i++ {
		if id, ok := open[i]; ok {
			k.pending(id)
		}
		if _, err := k.js.PublishAsync(fmt.Sprintf("$KV.%s.closed-%d", k.b.Runs.Bucket(), i), rec); err != nil {
			k.t.Fatal(err)
		}
	}
	select {
	case <-k.js.PublishAsyncComplete():
	case <-k.ctx.Done():
		k.t.Fatal("the closed runs were not stored")
	}
}

// pending stores the record of a run started two hours ago whose start
// task was lost.
func (k *kept) pending(id string) {
	k.t.Helper()
	if _, err := kv.Create(k.ctx, k.b.Runs, id, kv.Run{ID: id, Workflow: "FiveSteps", Status: kv.StatusPending,
		CreatedAt: time.Now().Add(-2 * time.Hour).UTC(), Format: kv.FormatHistory, Exec: 1, Inc: kv.NewIncarnation()}); err != nil {
		k.t.Fatal(err)
	}
}

// sweep runs one sweep of 500 records.
func (k *kept) sweep() ([]string, bool) {
	k.t.Helper()
	ids, done, err := k.s.Sweep(k.ctx, 500)
	if err != nil {
		k.t.Fatal(err)
	}
	return ids, done
}

// A sweeper that finds more open runs than it remembers reads every record
// pass after pass, as before, and finds each open run once a pass, on the
// sweep that reads it; the next pass tries to remember them again.
func TestSweeperWithTooManyOpenRunsReadsEveryRecordEachPass(t *testing.T) {
	defer workflow.SetMaxOpen(2)()
	k := keptRuns(t, map[int]string{100: "open-a", 600: "open-b", 1100: "open-c"})
	var got [][]string
	for range 8 {
		ids, _ := k.sweep()
		got = append(got, ids)
	}
	want := [][]string{{"open-a"}, {"open-b"}, {"open-c"}, nil, {"open-a"}, {"open-b"}, {"open-c"}, nil}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("sweeps found %v, want %v", got, want)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// A runs bucket made again (restored, recreated) has fewer records than
// the sweeper had read: it reads it again from the start instead of
// waiting for its sequences to pass the old ones.
func TestSweeperReadsARunsBucketMadeAgainFromTheStart(t *testing.T) {
	k := keptRuns(t, nil)
	for n := 0; ; n++ {
		if _, done := k.sweep(); done {
			break
		}
		if n == 10 {
			t.Fatal("the first pass did not end in 10 sweeps")
		}
	}
	if err := k.js.DeleteKeyValue(k.ctx, k.b.Runs.Bucket()); err != nil {
		t.Fatal(err)
	}
	var err error
	if k.b, err = kv.Open(k.ctx, k.js, kv.Config{}); err != nil {
		t.Fatal(err)
	}
	k.pending("open-9")
	if got, _ := k.sweep(); !slices.Equal(got, []string{"open-9"}) {
		t.Fatalf("found %v in the bucket made again, want open-9", got)
	}
}

// A pass ends at the record that was last when it began, however many runs
// are written meanwhile: before, it ended when it had read up to the
// stream's end, which runs written faster than a page a sweep put off for
// ever (and the open runs it had read were not looked at again).
func TestSweeperPassEndsAtTheRecordLastWhenItBegan(t *testing.T) {
	k := keptRuns(t, map[int]string{1400: "open-1"})
	if _, done := k.sweep(); done {
		t.Fatal("a pass of 1,500 records ended in one sweep of 500")
	}
	k.closed(1500, 3500, nil) // written while the pass goes on
	n := 1
	for {
		n++
		if _, done := k.sweep(); done {
			break
		}
		if n == 20 {
			t.Fatal("the pass did not end in 20 sweeps")
		}
	}
	if n > 4 {
		t.Fatalf("the pass ended on sweep %d, want 4 at the latest (the record last when it began)", n)
	}
	if got, _ := k.sweep(); !slices.Equal(got, []string{"open-1"}) {
		t.Fatalf("the first sweep after the pass found %v, want open-1", got)
	}
}

package workflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/runner"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

var slowOne = steps.New("SlowOne", func(ctx context.Context, n int) (int, error) {
	time.Sleep(3 * runner.StartedAfter)
	return n + 1, nil
})

var quickThenSlow = workflow.New("QuickThenSlow", func(ctx workflow.Context, n int) (int, error) {
	n, err := workflow.ExecuteStep(ctx, addOne, n).Get(ctx)
	if err != nil {
		return 0, err
	}
	return workflow.ExecuteStep(ctx, slowOne, n).Get(ctx)
})

// An attempt still running after runner.StartedAfter is announced by
// step_started, stamped with the time it started and stored between its
// step_scheduled and its outcome; a quicker one by its outcome alone, whose
// duration says when it started.
func TestStepStartedAnnouncesLongAttempts(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	startWorker(t, nc, []workflow.Registrable{quickThenSlow}, []steps.Handler{addOne, slowOne})
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	run, err := workflow.Start(ctx, c, quickThenSlow, "started-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := run.Result(ctx); err != nil || got != 3 {
		t.Fatalf("got %d, %v; want 3", got, err)
	}
	testenv.SyncStream(t, ctx, nc, "jetflow.status.Sync.sync.sync")
	var seen []string
	var started, completed wire.Event
	for _, ev := range testenv.Events(t, ctx, testenv.JetStream(t, nc), "JETFLOW_EVENTS", wire.NewNames("jetflow").StatusStored("QuickThenSlow", "started-1")) {
		if ev.Seq == 0 {
			continue
		}
		seen = append(seen, ev.Step+" "+ev.Event)
		switch {
		case ev.Step == "SlowOne" && ev.Event == wire.EventStepStarted:
			started = ev
		case ev.Step == "SlowOne" && ev.Event == wire.EventStepCompleted:
			completed = ev
		}
	}
	want := []string{"AddOne step_scheduled", "AddOne step_completed", "SlowOne step_scheduled", "SlowOne step_started", "SlowOne step_completed"}
	if len(seen) != len(want) {
		t.Fatalf("got step events %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("got step events %q, want %q", seen, want)
		}
	}
	// Stamped with its start (the outcome's time less its duration), not
	// with when it was announced, StartedAfter later.
	begun := completed.Time.Add(-time.Duration(completed.DurationMS * float64(time.Millisecond)))
	if d := started.Time.Sub(begun); d < -runner.StartedAfter/2 || d > runner.StartedAfter/2 || started.Worker == "" {
		t.Fatalf("step_started at %s by %q; the attempt began at %s", started.Time, started.Worker, begun)
	}
}

package workflow

import (
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
)

// TestAdvanceWaitsForRecordBehindTask: a step's result can wake its run
// before the replay that scheduled the step has recorded the decision (that
// replay publishes first, then updates the record). A replay then would
// decide the step again and announce it twice, so advance reports errBehind
// and announces nothing, until the caller gives up waiting (lateOK), as it
// must after a crash between publish and update: then it decides again.
func TestAdvanceWaitsForRecordBehindTask(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	ctx := testenv.Context(t, 30*time.Second)
	w, err := NewWorker(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RegisterWorkflow(benchChain); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, c, benchChain, "behind-1", 2); err != nil {
		t.Fatal(err)
	}
	// The result of position 1 is recorded, but the run record (still
	// pending, no commands) does not hold position 1 yet.
	out, err := kv.Marshal(1)
	if err != nil {
		t.Fatal(err)
	}
	res := &kv.Result{Kind: kv.KindStep, Name: benchIncr.Name(), Output: out, Attempts: 1, CompletedAt: time.Now()}
	if _, err := kv.Create(ctx, w.env.Buckets.Steps, kv.StepKey("behind-1", 1), *res); err != nil {
		t.Fatal(err)
	}
	task := &wire.WorkflowTask{WorkflowID: "behind-1", Workflow: benchChain.Name(), Reason: wire.ReasonResult, Seq: 1, Result: res}
	announced := map[string]bool{}
	if err := w.advance(ctx, benchChain, task, announced, false); !errors.Is(err, errBehind) {
		t.Fatalf("advance on a record behind the task: got %v, want errBehind", err)
	}
	if len(announced) != 0 {
		t.Fatalf("announced %v while behind; want nothing", announced)
	}
	if rec, err := c.Record(ctx, "behind-1"); err != nil || len(rec.Commands) != 0 {
		t.Fatalf("record after a behind replay: %d commands (%v), want it untouched", len(rec.Commands), err)
	}
	// Given up waiting: the replay decides position 1 again (its publish is
	// deduplicated), takes its recorded result and schedules position 2.
	if err := w.advance(ctx, benchChain, task, announced, true); err != nil {
		t.Fatalf("advance with lateOK: %v", err)
	}
	rec, err := c.Record(ctx, "behind-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Commands) != 2 || rec.Status != kv.StatusRunning {
		t.Fatalf("record after the late replay: %d commands, status %s; want 2, running", len(rec.Commands), rec.Status)
	}
	if !announced[wire.EventStepScheduled+"/2"] {
		t.Fatalf("announced %v, want step 2 scheduled", announced)
	}
}

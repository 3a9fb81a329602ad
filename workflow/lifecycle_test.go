package workflow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// A Worker can be stopped with Close, run again, and says when its drain
// ran out of time and how many tasks it handed back.
func TestWorkerRunsAgainClosesAndReportsADrainTimeout(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 30*time.Second)
	release := make(chan struct{})
	stuck := steps.New("Lingers", func(ctx context.Context, n int) (int, error) {
		<-release // ignores its context
		return n, nil
	})
	lingering := workflow.New("Lingering", func(ctx workflow.Context, n int) (int, error) {
		return workflow.ExecuteStep(ctx, stuck, n).Get(ctx)
	})
	w, err := workflow.NewWorker(ctx, nc, workflow.WithLogger(quiet), workflow.WithDrainTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RegisterWorkflow(fiveSteps); err != nil {
		t.Fatal(err)
	}
	if err := w.RegisterStep(addOne); err != nil {
		t.Fatal(err)
	}
	if err := w.RegisterWorkflow(lingering); err != nil {
		t.Fatal(err)
	}
	if err := w.RegisterStep(stuck); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		done := make(chan error, 1)
		go func() { done <- w.Run(context.Background()) }()
		run, err := workflow.Start(ctx, c, fiveSteps, "again-"+string(rune('0'+round)), round)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := run.Result(ctx); err != nil || got != round+5 {
			t.Fatalf("round %d: got %d, %v", round, got, err)
		}
		if err := w.Run(ctx); !errors.Is(err, workflow.ErrWorkerRunning) {
			t.Fatalf("a second Run while running: got %v, want ErrWorkerRunning", err)
		}
		w.Close()
		if err := <-done; err != nil {
			t.Fatalf("round %d: Run after a clean drain: %v", round, err)
		}
	}
	// A step that outlives the drain: handed back, and said so.
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	if _, err := workflow.Start(ctx, c, lingering, "lingers-1", 1); err != nil {
		t.Fatal(err)
	}
	for {
		d, err := c.Describe(ctx, "lingers-1")
		if err != nil {
			t.Fatal(err)
		}
		if d.CurrentStep == "Lingers" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the attempt has started
	w.Close()
	err = <-done
	close(release)
	var dt *workflow.DrainTimeoutError
	if !errors.As(err, &dt) || dt.HandedBack < 1 {
		t.Fatalf("Run after a drain that timed out: got %v, want a *DrainTimeoutError handing back the step", err)
	}
}

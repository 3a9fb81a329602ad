package workflow_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// Run affinity: with three workers sharing every workflow and step, a step
// finished on one worker wakes its run on the worker that holds it, so runs
// are not rebuilt from their history and no task loses its write.
func TestThreeWorkersKeepRunsWhereTheyLive(t *testing.T) {
	srv := testenv.Start(t, false)
	c := newClient(t, srv.Conn())
	ctx := testenv.Context(t, 60*time.Second)
	var conflicts, rebuilt, tasks atomic.Int64
	for i := 0; i < 3; i++ {
		startHookedWorker(t, srv.Conn(), workflow.Hooks{
			WorkflowTaskConflict: func(string) { conflicts.Add(1) },
			RunRebuilt:           func(string) { rebuilt.Add(1) },
			WorkflowTask:         func(string, time.Duration, error) { tasks.Add(1) },
		}, []workflow.Registrable{fiveSteps}, []steps.Handler{addOne})
	}
	const n = 300
	var runs []*workflow.Run[int]
	for i := 0; i < n; i++ {
		r, err := workflow.Start(ctx, c, fiveSteps, fmt.Sprintf("aff-%d", i), i)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	for i, r := range runs {
		if got, err := r.Result(ctx); err != nil || got != i+5 {
			t.Fatalf("%s: got %d, %v; want %d", r.ID(), got, err, i+5)
		}
	}
	t.Logf("%d workflow tasks, %d conflicts, %d runs rebuilt", tasks.Load(), conflicts.Load(), rebuilt.Load())
	// A worker stalled past its freeze limit on a loaded machine (the
	// race detector and other test binaries on two cores) drops what it
	// holds and rebuilds some; without affinity nearly all 300 are rebuilt.
	if got := rebuilt.Load(); got > n/4 {
		t.Errorf("runs rebuilt from history: got %d, want at most %d", got, n/4)
	}
	if got := conflicts.Load(); got > n/4 {
		t.Errorf("history conflicts: got %d, want at most %d", got, n/4)
	}
}

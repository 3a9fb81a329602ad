package workflow_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// A saved history replays against the code that made it, and against a
// change behind a version; a change without one is the
// NonDeterminismError a deployment would hit.
func TestReplayHistoryFindsABreakingChange(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	c := newClient(t, nc)
	ctx := testenv.Context(t, 20*time.Second)
	old := workflow.New("Ship", shipOld)
	startWorker(t, nc, []workflow.Registrable{old}, []steps.Handler{stepA, stepC})
	run, err := workflow.Start(ctx, c, old, "ship-saved", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Result(ctx); err != nil {
		t.Fatal(err)
	}
	saved, err := c.ExportHistory(ctx, "ship-saved")
	if err != nil {
		t.Fatal(err)
	}
	// As a file would carry it.
	data, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	var h workflow.RunHistory
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	if err := workflow.ReplayHistory(old, &h); err != nil {
		t.Fatalf("the code that made the history: %v", err)
	}
	if err := workflow.ReplayHistory(workflow.New("Ship", shipVersioned), &h); err != nil {
		t.Fatalf("the change behind a version: %v", err)
	}
	err = workflow.ReplayHistory(workflow.New("Ship", shipUnversioned), &h)
	var nd *workflow.NonDeterminismError
	if !errors.As(err, &nd) || nd.Seq != 2 || nd.Expected != "step PathC" || nd.Found != "step PathB" {
		t.Fatalf("the change without a version: %v; want a NonDeterminismError at position 2", err)
	}
	if err := workflow.ReplayHistory(workflow.New("Other", shipOld), &h); !errors.Is(err, workflow.ErrReplayMismatch) {
		t.Fatalf("another workflow: %v; want ErrReplayMismatch", err)
	}
}

package workflowtest

import (
	"os"
	"testing"

	"github.com/jetflow-dev/jetflow/workflow"
)

// Replay re-runs def's current code against each saved history (`jetflow
// history ID --json > FILE`, or a workflow.RunHistory as JSON) and fails the
// test with the *workflow.NonDeterminismError (or *workflow.VersionError) a
// worker would hit when rebuilding that run after a deployment. Keep the
// histories of runs that matter under testdata and replay them in a test:
//
//	func TestOrderReplays(t *testing.T) {
//		workflowtest.Replay(t, OrderOrchestration, "testdata/order-17.json")
//	}
func Replay(t testing.TB, def workflow.Registrable, files ...string) {
	t.Helper()
	if len(files) == 0 {
		t.Fatal("workflowtest.Replay: no history file given")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("workflowtest.Replay: %v", err)
		}
		h, err := workflow.ParseRunHistory(data)
		if err != nil {
			t.Fatalf("workflowtest.Replay %s: %v", file, err)
		}
		if err := workflow.ReplayHistory(def, h); err != nil {
			t.Errorf("workflowtest.Replay %s (run %s): %v", file, h.WorkflowID, err)
		}
	}
}

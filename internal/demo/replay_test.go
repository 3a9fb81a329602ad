package demo_test

import (
	"testing"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/workflow/workflowtest"
)

// Histories of the order saga saved from real runs (`jetflow history ID
// --json`) still replay against its code: a change to the saga that would
// break runs in flight fails here, before it is deployed.
func TestSavedOrderHistoriesReplay(t *testing.T) {
	workflowtest.Replay(t, demo.OrderOrchestration,
		"testdata/order-happy.json", "testdata/order-payment-failed.json")
}

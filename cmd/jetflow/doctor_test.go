package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
)

// jetflow doctor finds a run whose start was lost (a record and no task,
// no worker running), reports it without --repair and repairs it with, and
// a worker then runs it.
func TestCLIDoctorFindsAndRepairsALostStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	e := connectEngine(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := kv.Open(ctx, e.js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	input := `{"order_id":"lost-1","user_id":"u","items":[{"product_id":"SKU-1","quantity":1,"price":10}],"total_amount":10,"shipping_address":"x"}`
	in, err := demo.InputFromJSON("OrderOrchestration", []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	// A Start that died between its two writes: the record, no task.
	if _, err := kv.Create(ctx, b.Runs, "lost-1", kv.Run{ID: "lost-1", Workflow: "OrderOrchestration", Status: kv.StatusPending,
		Input: in, CreatedAt: time.Now().Add(-time.Hour).UTC(), Format: kv.FormatHistory, Exec: 1, Inc: kv.NewIncarnation()}); err != nil {
		t.Fatal(err)
	}
	check := func(args ...string) []workflow.Finding {
		t.Helper()
		out, errOut, code := cli(t, 30*time.Second, append([]string{"doctor", "--json", "--nats", url}, args...)...)
		var found []workflow.Finding
		if err := json.Unmarshal([]byte(out), &found); err != nil || code != 0 {
			t.Fatalf("doctor: exit %d, %v: %s%s", code, err, out, errOut)
		}
		return found
	}
	found := check()
	if len(found) != 1 || found[0].WorkflowID != "lost-1" || found[0].Problem != workflow.ProblemNotStarted || found[0].Repaired {
		t.Fatalf("doctor: %+v; want lost-1 not_started, not repaired", found)
	}
	found = check("--repair")
	if len(found) != 1 || !found[0].Repaired {
		t.Fatalf("doctor --repair: %+v; want lost-1 repaired", found)
	}
	startWorker(t, url, "w-1", "--sweep-interval", "0")
	ords := []order{{id: "lost-1", want: "completed"}}
	e.waitDone(t, ords, 30*time.Second)
}

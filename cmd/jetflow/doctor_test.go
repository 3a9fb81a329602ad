package main

import (
	"context"
	"encoding/json"
	"strings"
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
	// A worker that does not sweep: its consumers are idle, so a pending
	// run nobody started is one whose start was lost.
	startWorker(t, url, "w-1", "--sweep-interval", "0")
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
	check := func(wantCode int, args ...string) []workflow.Finding {
		t.Helper()
		out, errOut, code := cli(t, 30*time.Second, append([]string{"doctor", "--json", "--nats", url}, args...)...)
		var found []workflow.Finding
		if err := json.Unmarshal([]byte(out), &found); err != nil || code != wantCode {
			t.Fatalf("doctor: exit %d (want %d), %v: %s%s", code, wantCode, err, out, errOut)
		}
		return found
	}
	found := check(1)
	if len(found) != 1 || found[0].WorkflowID != "lost-1" || found[0].Problem != workflow.ProblemNotStarted || found[0].Repaired {
		t.Fatalf("doctor: %+v; want lost-1 not_started, not repaired", found)
	}
	found = check(0, "--repair")
	if len(found) != 1 || !found[0].Repaired {
		t.Fatalf("doctor --repair: %+v; want lost-1 repaired", found)
	}
	ords := []order{{id: "lost-1", want: "completed"}}
	e.waitDone(t, ords, 30*time.Second)
}

// jetflow list says why an open run waits, and skips (and names) a record
// that does not decode instead of failing on it.
func TestCLIListSaysWhyAndSkipsCorruptRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	e := connectEngine(t, url)
	e.startAll(t, []order{{id: "waits-1", json: orderJSON("waits-1")}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := kv.Open(ctx, e.js, kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Runs.Put(ctx, "corrupt-1", []byte("\xc1")); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli(t, 20*time.Second, "list", "--nats", url)
	if code != 0 || !strings.Contains(out, "no worker has registered workflow OrderOrchestration") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "1 run records could not be decoded and were skipped: corrupt-1") {
		t.Fatalf("list does not name the corrupt record: %s", errOut)
	}
	// No worker: start --wait gives up when asked to, and says where the run is.
	_, errOut, code = cli(t, 20*time.Second, "start", "OrderOrchestration", "--id", "waits-2", "--input", orderJSON("waits-2"),
		"--wait", "--wait-timeout", "500ms", "--nats", url)
	if code != 3 || !strings.Contains(errOut, "did not end within 500ms (status pending)") {
		t.Fatalf("start --wait --wait-timeout: exit %d: %s", code, errOut)
	}
}

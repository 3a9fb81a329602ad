package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
)

// The client commands against real runs: breakers (list and reset), list,
// status and result with their exit statuses; and the server's clean exit
// on SIGTERM.
func TestCLIBreakersListStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	server, url := startServer(t)
	startWorker(t, url, "w-1")
	e := connectEngine(t, url)

	// The primary channel is down for these orders: its shared breaker opens
	// and the fallback channel takes the payments.
	var ords []order
	for i := range 4 {
		id := fmt.Sprintf("b-%d", i)
		ords = append(ords, order{id: id, want: demo.StatusCompleted, json: fmt.Sprintf(
			`{"order_id":%q,"user_id":"u","items":[{"product_id":"SKU-1","quantity":1,"price":10}],"total_amount":10,"shipping_address":"x","faults":[%q]}`,
			id, demo.FaultPrimaryDown)})
	}
	e.startAll(t, ords)
	e.waitDone(t, ords, 30*time.Second)

	type breaker struct {
		Name  string `json:"name"`
		State string `json:"state"`
		Opens int    `json:"opens"`
	}
	breakers := func() map[string]breaker {
		out, errOut, code := cli(t, 20*time.Second, "breakers", "--json", "--nats", url)
		var bs []breaker
		if err := json.Unmarshal([]byte(out), &bs); err != nil || code != 0 {
			t.Fatalf("breakers --json: exit %d, %v: %s%s", code, err, out, errOut)
		}
		m := map[string]breaker{}
		for _, b := range bs {
			m[b.Name] = b
		}
		return m
	}
	if b := breakers()[demo.PrimaryBreakerName]; b.State != "open" || b.Opens < 1 {
		t.Errorf("breaker %s: %+v, want open", demo.PrimaryBreakerName, b)
	}
	if out, _, _ := cli(t, 20*time.Second, "breakers", "--nats", url); !strings.Contains(out, demo.PrimaryBreakerName) {
		t.Errorf("breakers lacks %s:\n%s", demo.PrimaryBreakerName, out)
	}
	if out, errOut, code := cli(t, 20*time.Second, "breakers", "reset", demo.PrimaryBreakerName, "--nats", url); code != 0 {
		t.Errorf("breakers reset: exit %d: %s%s", code, out, errOut)
	}
	if b := breakers()[demo.PrimaryBreakerName]; b.State != "closed" {
		t.Errorf("breaker after reset: %+v, want closed", b)
	}
	if _, errOut, code := cli(t, 20*time.Second, "breakers", "reset", "no-such-breaker", "--nats", url); code != 1 || !strings.Contains(errOut, "no circuit breaker named") {
		t.Errorf("breakers reset of an unknown name: exit %d, %s; want 1", code, errOut)
	}

	// list --json sees the four runs; filters narrow it.
	out, _, code := cli(t, 20*time.Second, "list", "--json", "--status", "completed", "--nats", url)
	var runs []struct{ ID, Status string }
	if err := json.Unmarshal([]byte(out), &runs); err != nil || code != 0 || len(runs) != len(ords) {
		t.Errorf("list --json --status completed: exit %d, %v, %d runs, want %d:\n%s", code, err, len(runs), len(ords), out)
	}
	if out, _, _ := cli(t, 20*time.Second, "list", "--json", "--status", "failed", "--nats", url); strings.TrimSpace(out) != "[]" {
		t.Errorf("list --status failed: %s, want []", out)
	}

	// status and result of a run, and of one that does not exist.
	out, _, code = cli(t, 20*time.Second, "status", "b-0", "--json", "--nats", url)
	var st struct{ Status, Workflow string }
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || st.Status != "completed" || st.Workflow != "OrderOrchestration" {
		t.Errorf("status --json: exit %d, %v: %s", code, err, out)
	}
	out, _, code = cli(t, 20*time.Second, "result", "b-0", "--nats", url)
	if code != 0 || !strings.Contains(out, `"transaction_id": "TXN-F-`) {
		t.Errorf("result b-0: exit %d, want 0 and a fallback transaction:\n%s", code, out)
	}
	for _, cmd := range []string{"status", "result", "history", "watch"} {
		if _, errOut, code := cli(t, 20*time.Second, cmd, "nope", "--nats", url); code != 1 || !strings.Contains(errOut, `no run with ID "nope"`) {
			t.Errorf("%s of a missing run: exit %d, %q; want 1", cmd, code, errOut)
		}
	}

	sendSignal(t, server, syscall.SIGTERM)
	if code, took := waitExit(t, server, 10*time.Second); code != 0 {
		t.Errorf("server exited %d after %s on SIGTERM, want 0", code, took)
	}
}

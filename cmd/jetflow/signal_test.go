package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// jetflow cancel and terminate against real runs in real processes, and the
// exit statuses of what they refuse.
func TestCLICancelTerminateSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	e := connectEngine(t, url)
	// No worker yet: the runs wait, and so do the requests.
	ords := []order{
		{id: "cli-cancel-1", want: "canceled", json: orderJSON("cli-cancel-1")},
		{id: "cli-term-1", want: "terminated", json: orderJSON("cli-term-1")},
	}
	e.startAll(t, ords)
	if out, errOut, code := cli(t, 20*time.Second, "cancel", "cli-cancel-1", "--reason", "customer asked", "--nats", url); code != 0 || !strings.Contains(out, "cancel requested") {
		t.Fatalf("cancel: exit %d: %s%s", code, out, errOut)
	}
	if out, errOut, code := cli(t, 20*time.Second, "terminate", "cli-term-1", "--json", "--nats", url); code != 0 || !json.Valid([]byte(out)) {
		t.Fatalf("terminate: exit %d: %s%s", code, out, errOut)
	}
	if _, errOut, code := cli(t, 20*time.Second, "signal", "nobody", "go", "--nats", url); code != 1 || !strings.Contains(errOut, "no run") {
		t.Fatalf("signal to an unknown run: exit %d: %s", code, errOut)
	}
	if _, errOut, code := cli(t, 20*time.Second, "signal", "cli-cancel-1", "bad.name", "--nats", url); code != 2 || !strings.Contains(errOut, "invalid") {
		t.Fatalf("signal with a bad name: exit %d: %s", code, errOut)
	}
	if _, errOut, code := cli(t, 20*time.Second, "query", "cli-cancel-1", "progress", "--nats", url); code != 1 || !strings.Contains(errOut, "no worker serves workflow OrderOrchestration") {
		t.Fatalf("query with no worker: exit %d: %s", code, errOut)
	}
	if _, errOut, code := cli(t, 20*time.Second, "signal", "cli-cancel-1", "go", "--input", "{nope", "--nats", url); code != 2 || !strings.Contains(errOut, "invalid JSON") {
		t.Fatalf("signal with bad JSON: exit %d: %s", code, errOut)
	}
	startWorker(t, url, "w-1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, o := range ords {
		run, err := e.client.Wait(ctx, o.id)
		if err != nil || string(run.Status) != o.want {
			t.Fatalf("run %s: %s, %v; want %s", o.id, run.Status, err, o.want)
		}
	}
	d, err := e.client.Describe(ctx, "cli-cancel-1")
	if err != nil || d.Error == nil || !strings.Contains(d.Error.Message, "customer asked") {
		t.Fatalf("canceled run: %+v, %v", d, err)
	}
	if _, errOut, code := cli(t, 20*time.Second, "cancel", "cli-term-1", "--nats", url); code != 1 || !strings.Contains(errOut, "terminated") {
		t.Fatalf("cancel of a terminated run: exit %d: %s", code, errOut)
	}
	out, errOut, code := cli(t, 20*time.Second, "list", "--status", "canceled", "--nats", url)
	if code != 0 || !strings.Contains(out, "cli-cancel-1") {
		t.Fatalf("list --status canceled: exit %d: %s%s", code, out, errOut)
	}
}

func orderJSON(id string) string {
	return `{"order_id":"` + id + `","user_id":"u","items":[{"product_id":"SKU-1","quantity":1,"price":10}],"total_amount":10,"shipping_address":"x"}`
}

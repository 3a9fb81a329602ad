package main

import (
	"strings"
	"testing"
	"time"
)

// `jetflow start` of an ID taken by a run with another input prints the
// typed error and exits 1; with the same input it says the run is there
// and exits 0.
func TestCLIStartRefusesAnotherInputForATakenID(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	in := `{"order_id":"r-1","user_id":"u1","items":[{"product_id":"SKU-1","quantity":1,"price":10}],"total_amount":10,"shipping_address":"1 Test Street"}`
	other := strings.Replace(in, `"quantity":1`, `"quantity":2`, 1)
	if out, errOut, code := cli(t, 20*time.Second, "start", "OrderOrchestration", "--nats", url, "--id", "r-1", "--input", in); code != 0 ||
		!strings.HasPrefix(out, "started OrderOrchestration run r-1") {
		t.Fatalf("first start: exit %d: %s%s", code, out, errOut)
	}
	if out, errOut, code := cli(t, 20*time.Second, "start", "OrderOrchestration", "--nats", url, "--id", "r-1", "--input", in); code != 0 ||
		!strings.HasPrefix(out, "already started OrderOrchestration run r-1") {
		t.Fatalf("same input: exit %d: %s%s; want \"already started\"", code, out, errOut)
	}
	out, errOut, code := cli(t, 20*time.Second, "start", "OrderOrchestration", "--nats", url, "--id", "r-1", "--input", other)
	if want := "jetflow start: jetflow: workflow ID r-1 is taken by a run of OrderOrchestration (pending), started with another input\n"; code != 1 || out != "" || errOut != want {
		t.Fatalf("another input: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
}

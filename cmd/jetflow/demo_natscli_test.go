package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/testenv"
)

// TestDemoBreakerVisibleToNATSCLI runs the demo's breaker scenario against an
// external server (--nats) and reads the breaker with the real nats CLI:
// `nats sub 'jetflow.breaker.>'` shows its transitions and
// `nats kv get jetflow_breakers <name>` its state.
func TestDemoBreakerVisibleToNATSCLI(t *testing.T) {
	cli := testenv.NATSCLI(t)
	srv := testenv.Start(t, true)
	url := srv.ClientURL()
	env := testenv.CleanEnv(t.TempDir())

	sub := testenv.StartCommand(t, env, cli, "--server", url, "sub", "jetflow.breaker.>")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Wait until the subscription is live: the CLI says so before any message.
	for !strings.Contains(sub.Output(), "Subscribing") {
		select {
		case <-ctx.Done():
			t.Fatalf("nats sub did not start: %s", sub.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	var stdout, stderr bytes.Buffer
	if err := runDemo(ctx, []string{"--json", "--nats", url, "--scenarios", "breaker"}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	// The transitions the demo caused, as the CLI printed them.
	for _, state := range []string{"open", "half_open", "closed"} {
		for !strings.Contains(sub.Output(), "jetflow.breaker.payment-primary."+state) {
			select {
			case <-ctx.Done():
				t.Fatalf("nats sub shows no %s transition:\n%s", state, sub.Output())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if !strings.Contains(sub.Output(), `"to":"open"`) && !strings.Contains(sub.Output(), `"to": "open"`) {
		t.Errorf("transitions are not readable JSON:\n%s", sub.Output())
	}

	out, err := exec.CommandContext(ctx, cli, "--server", url, "kv", "get", "jetflow_breakers", "payment-primary").CombinedOutput()
	if err != nil {
		t.Fatalf("nats kv get: %v\n%s", err, out)
	}
	// The record is JSON: the state the breaker ended in (closed, after the
	// probe) reads as it is, with its counts.
	if !bytes.Contains(out, []byte(`"state":"closed"`)) || !bytes.Contains(out, []byte(`"name":"payment-primary"`)) || !bytes.Contains(out, []byte(`"opens":1`)) {
		t.Fatalf("nats kv get does not show the breaker state:\n%s", out)
	}
	cmdOut, err := exec.CommandContext(ctx, cli, "--server", url, "kv", "ls", "jetflow_breakers").CombinedOutput()
	if err != nil || !strings.Contains(string(cmdOut), "payment-primary") {
		t.Fatalf("nats kv ls jetflow_breakers: %v\n%s", err, cmdOut)
	}
}

package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A worker started before its server waits for it (saying so once) instead
// of exiting: systemd and Kubernetes start them in any order, and so does a
// pasted "server &; worker &" block. A client gives up after its shorter
// wait, with the reason.
func TestWorkerWaitsForItsServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	w := jetflow(t, "worker", "--nats", url, "--name", "early", "--connect-wait", "30s")
	waitOutput(t, w, regexp.MustCompile(`waiting up to 30s for NATS at `+regexp.QuoteMeta(url)), 20*time.Second)
	jetflow(t, "server", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", t.TempDir(), "--quiet")
	waitOutput(t, w, regexp.MustCompile(`msg="worker running"`), 30*time.Second)
	if n := strings.Count(w.Output(), "waiting up to"); n != 1 {
		t.Errorf("said it was waiting %d times, want once", n)
	}

	_, errOut, code := cli(t, 20*time.Second, "status", "x", "--nats", fmt.Sprintf("nats://127.0.0.1:%d", freePort(t)), "--connect-wait", "300ms")
	if code != 1 || !strings.Contains(errOut, "waiting up to 300ms") || !strings.Contains(errOut, "no servers available") {
		t.Fatalf("client without a server: exit %d: %s", code, errOut)
	}
}

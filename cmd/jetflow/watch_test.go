package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Acceptance 4: `jetflow watch --workflow OrderOrchestration` in one process
// prints the live events of runs started from another; `jetflow history ID`
// prints a run's full timeline, compensations included; `jetflow watch ID`
// replays a finished run's events and ends.
func TestAcceptanceWatchAndHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, url := startServer(t)
	startWorker(t, url, "w-1", "--latency", "2ms")
	watch := jetflow(t, "watch", "--nats", url, "--workflow", "OrderOrchestration")
	waitOutput(t, watch, regexp.MustCompile(`watching jetflow\.status\.OrderOrchestration\.\*\.\*`), 10*time.Second)

	ok := `{"order_id":"w-ok","user_id":"u1","items":[{"product_id":"SKU-1","quantity":1,"price":10}],"total_amount":10,"shipping_address":"1 Test Street"}`
	broke := `{"order_id":"w-broke","user_id":"BROKE-1","items":[{"product_id":"SKU-1","quantity":1,"price":10}],"total_amount":10,"shipping_address":"1 Test Street"}`
	for id, in := range map[string]string{"w-ok": ok, "w-broke": broke} {
		out, errOut, code := cli(t, 20*time.Second, "start", "OrderOrchestration", "--nats", url, "--id", id, "--input", in)
		if code != 0 || !strings.HasPrefix(out, "started OrderOrchestration run "+id) {
			t.Fatalf("start %s: exit %d: %s%s; want \"started ...\"", id, code, out, errOut)
		}
	}
	waitOutput(t, watch, regexp.MustCompile(`OrderOrchestration w-ok +completed`), 20*time.Second)
	waitOutput(t, watch, regexp.MustCompile(`OrderOrchestration w-broke +completed`), 20*time.Second)
	for _, want := range []string{
		`OrderOrchestration w-ok  started`,
		`OrderOrchestration w-ok  step_completed      SendNotification`,
		`OrderOrchestration w-broke  step_failed         ProcessPayment`,
		`OrderOrchestration w-broke  compensating        ReleaseInventory`,
		`OrderOrchestration w-broke  step_completed      ReleaseInventory #5 attempt 1 (compensation)`,
	} {
		if !strings.Contains(watch.Output(), want) {
			t.Errorf("watch output lacks %q:\n%s", want, watch.Output())
		}
	}
	// Starting the same ID again is idempotent, and says so.
	if out, errOut, code := cli(t, 20*time.Second, "start", "OrderOrchestration", "--nats", url, "--id", "w-ok", "--input", ok); code != 0 ||
		!strings.HasPrefix(out, "already started OrderOrchestration run w-ok (status completed)") {
		t.Errorf("second start of w-ok: exit %d: %s%s; want \"already started ... (status completed)\"", code, out, errOut)
	}
	sendSignal(t, watch, syscall.SIGINT)
	if code, _ := waitExit(t, watch, 10*time.Second); code != 0 {
		t.Errorf("watch exited %d on SIGINT, want 0", code)
	}

	// The timeline of the compensated run, as text and as JSON.
	out, errOut, code := cli(t, 20*time.Second, "history", "w-broke", "--nats", url)
	if code != 0 {
		t.Fatalf("history: exit %d: %s", code, errOut)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^1 +ValidateOrder +1 .* ok +w-1$`),
		regexp.MustCompile(`(?m)^2 +ReserveInventory +1 .* ok +w-1$`),
		regexp.MustCompile(`(?m)^3 +ProcessPayment +1 .* failed: InsufficientFunds: `),
		regexp.MustCompile(`(?m)^4 +FallbackPayment +1 .* failed: InsufficientFunds: `),
		regexp.MustCompile(`(?m)^5 +↩ ReleaseInventory \(compensation\) +1 .* ok +w-1$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("history lacks %s:\n%s", want, out)
		}
	}
	out, _, code = cli(t, 20*time.Second, "history", "w-broke", "--nats", url, "--json")
	var h struct {
		Status   string `json:"status"`
		Timeline []struct {
			Name         string                 `json:"name"`
			Attempts     int                    `json:"attempts"`
			Compensation bool                   `json:"compensation"`
			DurationMS   float64                `json:"duration_ms"`
			Error        *struct{ Type string } `json:"error"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(out), &h); err != nil || code != 0 {
		t.Fatalf("history --json: exit %d, %v:\n%s", code, err, out)
	}
	var got []string
	for _, e := range h.Timeline {
		s := fmt.Sprintf("%s/%d", e.Name, e.Attempts)
		if e.Compensation {
			s += "/compensation"
		}
		if e.Error != nil {
			s += "/" + e.Error.Type
		}
		got = append(got, s)
	}
	want := "ValidateOrder/1 ReserveInventory/1 ProcessPayment/1/InsufficientFunds FallbackPayment/1/InsufficientFunds ReleaseInventory/1/compensation"
	if strings.Join(got, " ") != want || h.Status != "completed" {
		t.Errorf("history --json: status %s, timeline %s; want completed, %s", h.Status, strings.Join(got, " "), want)
	}

	// The saved history replays against the demo's code, offline.
	saved := filepath.Join(t.TempDir(), "w-broke.json")
	if err := os.WriteFile(saved, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := cli(t, 20*time.Second, "replay", saved); code != 0 || !strings.Contains(out, "ok    "+saved) {
		t.Errorf("replay of the saved history: exit %d: %s%s", code, out, errOut)
	}

	// Watching a finished run replays its events and ends by itself.
	out, _, code = cli(t, 20*time.Second, "watch", "w-broke", "--nats", url)
	if code != 0 || !strings.Contains(out, "w-broke  started") || !strings.Contains(out, "w-broke  completed") {
		t.Errorf("watch w-broke: exit %d, want 0 and its events from started to completed:\n%s", code, out)
	}
	out, _, _ = cli(t, 20*time.Second, "result", "w-broke", "--nats", url, "--json")
	if !strings.Contains(out, `"status": "payment_failed"`) {
		t.Errorf("result --json of w-broke lacks the order status payment_failed:\n%s", out)
	}
}

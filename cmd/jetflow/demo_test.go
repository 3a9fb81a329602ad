package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/testenv"
)

// TestDemoJSON runs `jetflow demo --json` in-process and checks the
// scenarios end as the tables of issues 3, 10 and 11 say.
func TestDemoJSON(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := runDemo(ctx, []string{"--json", "--data", t.TempDir()}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	type result struct {
		demo.Result
		// Pointers tell a missing field from an empty one.
		Compensations *[]string       `json:"compensations"`
		Attempts      *map[string]int `json:"attempts"`
	}
	got := map[string]result{}
	var order []string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got[r.Scenario] = r
		order = append(order, r.Scenario)
	}
	if want := demo.ScenarioNames(); !slices.Equal(order, want) {
		t.Fatalf("scenarios %v, want %v", order, want)
	}
	for name, r := range got {
		if !r.OK || r.WorkflowID == "" || r.Compensations == nil || r.Attempts == nil {
			t.Errorf("%s: ok=%v workflow_id=%q compensations=%v attempts=%v problems=%v", name, r.OK, r.WorkflowID, r.Compensations, r.Attempts, r.Problems)
		}
	}
	set := func(s *string) bool { return s != nil && *s != "" }
	for _, tt := range []struct {
		scenario      string
		status        string
		tx, ship      bool
		compensations []string
		attempts      map[string]int
	}{
		{"happy_path", "completed", true, true, []string{}, map[string]int{"ReserveInventory": 1, "ProcessPayment": 1}},
		{"invalid_order", "validation_failed", false, false, []string{}, map[string]int{"ValidateOrder": 1}},
		{"out_of_stock", "out_of_stock", false, false, []string{}, map[string]int{"ReserveInventory": 1}},
		{"flaky_inventory", "completed", true, true, []string{}, map[string]int{"ReserveInventory": 3}},
		{"payment_declined", "payment_failed", false, false, []string{"ReleaseInventory"}, map[string]int{"ReleaseInventory": 1}},
		{"shipment_failed", "shipment_failed", true, false, []string{"RefundPayment", "ReleaseInventory"}, map[string]int{"RefundPayment": 1, "ReleaseInventory": 1}},
		{"payment_fallback", "completed", true, true, []string{}, map[string]int{"ProcessPayment": 2, "FallbackPayment": 1}},
		{"breaker", "completed", true, true, []string{}, map[string]int{"ProcessPayment": 1}},
		{"customer_cancels", "canceled", false, false, []string{"RefundPayment", "ReleaseInventory"}, map[string]int{"ProcessPayment": 1, "RefundPayment": 1, "ReleaseInventory": 1, "CreateShipment": 0}},
		{"await_3ds", "completed", true, true, []string{}, map[string]int{"ProcessPayment": 1}},
		{"child_payment", "completed", true, true, []string{}, map[string]int{"ProcessPayment": 0, "ReserveInventory": 1}},
		{"terminate_stuck", "terminated", false, false, []string{}, map[string]int{"ProcessPayment": 1}},
		// Its row is its first run: the one that found terminate_stuck's
		// charge and refunded it.
		{"scheduled_reconciliation", "completed", false, false, []string{}, map[string]int{"FindUnshippedCharges": 1, "RefundPayment": 1}},
	} {
		r := got[tt.scenario]
		if r.Status != tt.status || set(r.TransactionID) != tt.tx || set(r.ShipmentID) != tt.ship {
			t.Errorf("%s: status %s, transaction %v, shipment %v; want %s, %v, %v", tt.scenario, r.Status, set(r.TransactionID), set(r.ShipmentID), tt.status, tt.tx, tt.ship)
		}
		if r.Compensations != nil && !slices.Equal(*r.Compensations, tt.compensations) {
			t.Errorf("%s: compensations %v, want %v", tt.scenario, *r.Compensations, tt.compensations)
		}
		for step, n := range tt.attempts {
			if r.Attempts != nil && (*r.Attempts)[step] != n {
				t.Errorf("%s: %s attempts %d, want %d", tt.scenario, step, (*r.Attempts)[step], n)
			}
		}
	}
	if len(got["invalid_order"].Steps) != 1 {
		t.Errorf("invalid_order ran %v, want only ValidateOrder", got["invalid_order"].Steps)
	}
	b := got["breaker"].Breaker
	if b == nil || len(b.Transitions) != 3 || b.PrimaryCallsWhileOpen != 0 || b.ProbeCalls != 1 {
		t.Errorf("breaker report %+v: want open, half_open, closed, no primary call while open, one probe", b)
	}
	if o := got["await_3ds"].Orders; len(o) != 2 || o[0].Status != "completed" || o[0].Sent == "" ||
		o[1].Status != "payment_failed" || o[1].Sent != "" || !slices.Equal(o[1].Compensations, []string{"ReleaseInventory"}) || o[1].Effects.Charged != 0 {
		t.Errorf("await_3ds orders %+v: want one confirmed and completed, one never confirmed, payment_failed, released, never charged", o)
	}
	if c := got["child_payment"].Child; c == nil || c.Workflow != "PaymentWithFallback" || c.Status != "completed" || c.Parent != got["child_payment"].WorkflowID ||
		len(c.Steps) == 0 || c.Steps[0].Step != "ProcessPayment" {
		t.Errorf("child_payment child %+v: want PaymentWithFallback completed under the order, ProcessPayment in its own history", c)
	}
	if s := got["terminate_stuck"].Stuck; s == nil || s.AttemptsBefore < 3 || s.LastError != demo.ErrTypeCarrierUnavailable || s.CallsAfter != s.CallsAtEnd || s.CallsAtEnd < s.AttemptsBefore {
		t.Errorf("terminate_stuck report %+v: want 3 or more failed attempts before the terminate and no call after the run ended", s)
	}
	// terminate_stuck's order, charged and never shipped, is the one
	// charge the earlier scenarios leave standing: refunded once, by the
	// schedule's first run, and nothing else.
	stuck := got["terminate_stuck"].WorkflowID
	if s := got["scheduled_reconciliation"].Schedule; s == nil || len(s.Runs) < 3 || s.Statuses["completed"] != len(s.Runs) ||
		len(s.Expected) != 1 || s.Expected[0].OrderID != stuck ||
		len(s.Refunds) != 1 || s.Refunds[0].OrderID != stuck || s.Refunds[0].Run != s.Runs[0].WorkflowID || !slices.Equal(s.Runs[0].Refunded, []string{stuck}) ||
		s.StartedAfter != s.StartedAtPause || s.Events["fired"] != s.StartedAtPause || !s.Deleted {
		t.Errorf("scheduled_reconciliation report %+v: want 3 or more completed runs, %s's charge alone standing and refunded once by the first run, no run after the pause, deleted", s, stuck)
	}
	if !strings.Contains(stderr.String(), "payment-primary: closed → open") {
		t.Errorf("stderr does not show the breaker transitions:\n%s", stderr.String())
	}
}

// TestDemoTableAndOrders: the human-readable table and the random orders on
// an external server (--nats), exit status 0, with the primary channel's
// breaker under the failure-rate policy and how the charges split, and
// cancels and 3-D Secure answers mixed in.
func TestDemoTableAndOrders(t *testing.T) {
	srv := testenv.Start(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"--nats", srv.ClientURL(), "--scenarios", "happy_path,shipment_failed", "--orders", "40", "--seed", "7",
		"--breaker", "rate", "--primary-down", "20", "--cancel", "30", "--3ds", "30"}
	if err := runDemo(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"SCENARIO", "happy_path", "shipment_failed", "RefundPayment → ReleaseInventory", "2 of 2 scenarios ended as expected", "40 random orders (seed 7)",
		"% of charges on the primary", "(20 % of orders had the primary down)", "breaker payment-primary (rate: 50 % failures of at least 20 calls in 10s, open 2s): opened ",
		"every order ended as its recipe says", "every canceled order undid each effect it had made",
		"cancels: ", "sent at a random point (30 % of orders)", "3-D Secure: ", "(30 %)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--orders", "-1"},
		{"--scenarios", "nope"},
		{"--workers", "0"},
		{"--breaker", "sometimes"},
		{"--primary-down", "69"},
		{"--primary-down", "-1"},
		{"--cancel", "101"},
		{"--3ds", "-1"},
		{"--nats", "nats://127.0.0.1:1", "--data", "x"},
		{"extra"},
		{"--no-such-flag"},
	} {
		err := runDemo(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}

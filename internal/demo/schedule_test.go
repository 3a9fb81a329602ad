package demo_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
)

// TestScheduledReconciliation runs terminate_stuck, which leaves its order
// charged and never shipped, and a completed order, then the schedule:
// three ticks start three runs under their ticks' IDs, terminate_stuck's
// charge is refunded once and nothing else is, and the paused schedule
// starts nothing more.
func TestScheduledReconciliation(t *testing.T) {
	env := setup(t)
	ctx := testenv.Context(t, 90*time.Second)
	for _, name := range []string{"happy_path", "terminate_stuck"} {
		if r, err := demo.RunScenario(ctx, env, name); err != nil || !r.OK {
			t.Fatalf("%s: %v %v", name, err, r.Problems)
		}
	}
	stuck := "t-terminate_stuck"
	r, err := demo.RunScenario(ctx, env, "scheduled_reconciliation")
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		t.Fatalf("problems: %v", r.Problems)
	}
	s := r.Schedule
	if s == nil {
		t.Fatal("no schedule report")
	}
	if len(s.Expected) != 1 || s.Expected[0].OrderID != stuck {
		t.Errorf("expected refunds %v, want %s's charge alone", s.Expected, stuck)
	}
	if len(s.Refunds) != 1 || s.Refunds[0].OrderID != stuck || s.Refunds[0].Run != s.Runs[0].WorkflowID {
		t.Errorf("refunds %+v, want one of %s's charge by the first run %s", s.Refunds, stuck, s.Runs[0].WorkflowID)
	}
	if len(s.Runs) < 3 || !slices.Equal(s.Runs[0].Refunded, []string{stuck}) || s.StartedAfter != s.StartedAtPause || !s.Deleted {
		t.Errorf("report %+v: want 3 or more runs, the first refunding %s, none after the pause, deleted", s, stuck)
	}
	if r.WorkflowID != s.Runs[0].WorkflowID || r.Status != "completed" || r.Attempts["FindUnshippedCharges"] != 1 || r.Attempts["RefundPayment"] != 1 {
		t.Errorf("row %s %s %v: want the first run, completed, one FindUnshippedCharges and one RefundPayment", r.WorkflowID, r.Status, r.Attempts)
	}
}

// TestRefundOncePerTransaction: two runs asking for one refund (each with
// its own idempotency key) refund it once.
func TestRefundOncePerTransaction(t *testing.T) {
	svc := demo.NewServices(nil)
	charge := steps.WithInfo(context.Background(), steps.Info{WorkflowID: "order-1", IdempotencyKey: "order-1/3"})
	p, err := svc.ProcessPaymentHandler(charge, demo.PaymentInput{OrderID: "order-1", UserID: "u", Amount: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"reconcile-20261129T023000Z", "reconcile-20261130T023000Z"} {
		ctx := steps.WithInfo(context.Background(), steps.Info{WorkflowID: run, IdempotencyKey: run + "/2"})
		if _, err := svc.RefundPaymentHandler(ctx, p.TransactionID); err != nil {
			t.Fatal(err)
		}
	}
	if got := svc.Ledger.(*demo.MemLedger).Order("order-1"); got.Refunded != 1 || got.RefundedAmount != 30 {
		t.Fatalf("got %+v, want one refund of 30", got)
	}
}

// TestUnshippedCharges: a charge is standing when nothing refunded it and
// its order shipped nothing; the cut-off and the bound apply.
func TestUnshippedCharges(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	effects := []demo.Effect{
		{Key: "a/1", Kind: demo.EffectCharge, OrderID: "a", Ref: "TXN-A", Amount: 10, At: t0},
		{Key: "a/2", Kind: demo.EffectShip, OrderID: "a", Ref: "SHP-A", At: t0.Add(time.Second)},
		{Key: "b/1", Kind: demo.EffectCharge, OrderID: "b", Ref: "TXN-B", Amount: 20, At: t0.Add(2 * time.Second)},
		{Key: "refund/TXN-B", Kind: demo.EffectRefund, Ref: "RFD-B", Undoes: "TXN-B", At: t0.Add(3 * time.Second)},
		{Key: "c/1", Kind: demo.EffectCharge, OrderID: "c", Ref: "TXN-C", Amount: 30, At: t0.Add(4 * time.Second)},
		{Key: "d/1", Kind: demo.EffectCharge, OrderID: "d", Ref: "TXN-D", Amount: 40, At: t0.Add(5 * time.Second)},
	}
	for _, tt := range []struct {
		name string
		q    demo.UnshippedQuery
		want []string
	}{
		{"all", demo.UnshippedQuery{}, []string{"c", "d"}},
		{"before d", demo.UnshippedQuery{ChargedBefore: t0.Add(5 * time.Second)}, []string{"c"}},
		{"at most one", demo.UnshippedQuery{Max: 1}, []string{"c"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range demo.UnshippedCharges(effects, tt.q) {
				got = append(got, c.OrderID)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

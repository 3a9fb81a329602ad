package demo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
)

// TestVoidSettlesPendingStep: a Void compensation and the step it settles
// race for the step's idempotency key; whichever comes first, the effect is
// undone exactly once (the handlers are called as attempts of one run, the
// step at position 2 and its void at position 7).
func TestVoidSettlesPendingStep(t *testing.T) {
	stepCtx := steps.WithInfo(context.Background(), steps.Info{IdempotencyKey: "order-1/2"})
	voidCtx := steps.WithInfo(context.Background(), steps.Info{IdempotencyKey: "order-1/7"})
	pending := demo.PendingStep{OrderID: "order-1", Seq: 2}
	in := demo.NewOrder("order-1", "user-1")

	t.Run("void first", func(t *testing.T) {
		svc := demo.NewServices(nil)
		if _, err := svc.ReserveInventoryHandler(stepCtx, in); err != nil {
			t.Fatal(err)
		}
		// The void's second attempt (same key) must not release twice.
		for range 2 {
			if _, err := svc.VoidReservationHandler(voidCtx, pending); err != nil {
				t.Fatal(err)
			}
		}
		want := demo.Counts{Reserved: 1, Released: 1}
		if got := svc.Ledger.(*demo.MemLedger).Order("order-1"); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("void before the step lands", func(t *testing.T) {
		svc := demo.NewServices(nil)
		if _, err := svc.VoidReservationHandler(voidCtx, pending); err != nil {
			t.Fatal(err)
		}
		_, err := svc.ReserveInventoryHandler(stepCtx, in)
		var se *steps.Error
		if !errors.As(err, &se) || se.Type != demo.ErrTypeVoided || !se.NonRetryable {
			t.Fatalf("late reservation: got %v, want a non-retryable %s", err, demo.ErrTypeVoided)
		}
		want := demo.Counts{Voided: 1}
		if got := svc.Ledger.(*demo.MemLedger).Order("order-1"); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("charge refunded in full", func(t *testing.T) {
		svc := demo.NewServices(nil)
		p := demo.PaymentInput{OrderID: "order-1", UserID: "user-1", Amount: 42.5}
		if _, err := svc.ProcessPaymentHandler(stepCtx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.VoidPaymentHandler(voidCtx, pending); err != nil {
			t.Fatal(err)
		}
		c := svc.Ledger.(*demo.MemLedger).Order("order-1")
		if c.Charged != 1 || c.Refunded != 1 || c.RefundedAmount != 42.5 {
			t.Fatalf("got %+v, want one charge of 42.5 refunded in full", c)
		}
	})
}

// TestThreeDSDurationsValidated: a wait that does not parse fails the
// order's validation instead of being taken for the default.
func TestThreeDSDurationsValidated(t *testing.T) {
	svc := demo.NewServices(nil)
	for _, tt := range []struct {
		name  string
		edit  func(*demo.OrderInput)
		valid bool
	}{
		{"defaults", func(in *demo.OrderInput) { in.Require3DS = true }, true},
		{"2s", func(in *demo.OrderInput) { in.ThreeDSTimeout, in.ShipAfter = "2s", "1h" }, true},
		{"bad timeout", func(in *demo.OrderInput) { in.ThreeDSTimeout = "soon" }, false},
		{"negative hold", func(in *demo.OrderInput) { in.ShipAfter = "-1s" }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := demo.NewOrder("o", "u")
			tt.edit(&in)
			if got, err := svc.ValidateOrderHandler(context.Background(), in); err != nil || got.Valid != tt.valid {
				t.Fatalf("got %+v, %v; want valid=%v", got, err, tt.valid)
			}
		})
	}
}

// TestOrdersMixCancelsAndSignals runs random orders with half of them
// canceled at a random point and a third requiring 3-D Secure: every order
// ends as its recipe and what it was sent allow, and the ledger check
// (each effect once, every canceled order's effects undone) holds.
func TestOrdersMixCancelsAndSignals(t *testing.T) {
	env := setup(t)
	ctx := testenv.Context(t, 120*time.Second)
	cancel, threeDS := 50, 30
	rep, err := env.RunOrders(ctx, 80, demo.OrdersOptions{Seed: 11, Concurrency: 16, CancelPercent: &cancel, ThreeDSPercent: &threeDS})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range rep.Unexpected {
		t.Errorf("unexpected: %s", u)
	}
	tk := rep.Talk
	// The seed draws every case; a mix without them would check nothing.
	if tk.CancelsSent == 0 || tk.Canceled == 0 || tk.Approved == 0 || tk.Declined == 0 || tk.Unanswered == 0 {
		t.Errorf("talk report %+v: want cancels sent and taken, and every 3-D Secure answer", tk)
	}
	if got := rep.ByStatus[demo.StatusCanceled]; got != tk.Canceled {
		t.Errorf("%d orders ended canceled, the talk report says %d", got, tk.Canceled)
	}
	if l := rep.Ledger; l.Refunded > l.Charged || l.Released > l.Reserved || l.ShipmentsCanceled > l.Shipped {
		t.Errorf("ledger %+v: more undone than done", l)
	}
}

func TestOrdersTalkOptionsChecked(t *testing.T) {
	for _, pct := range []int{-1, 101} {
		if _, err := (&demo.Env{}).RunOrders(context.Background(), 1, demo.OrdersOptions{CancelPercent: &pct}); err == nil {
			t.Errorf("CancelPercent %d: no error", pct)
		}
		if _, err := (&demo.Env{}).RunOrders(context.Background(), 1, demo.OrdersOptions{ThreeDSPercent: &pct}); err == nil {
			t.Errorf("ThreeDSPercent %d: no error", pct)
		}
	}
}

package demo_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// setup starts a server and two workers sharing one set of services, as the
// demo does, and returns the scenarios' Env.
func setup(t *testing.T) *demo.Env {
	t.Helper()
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	svc := demo.NewServices(nil)
	for _, name := range []string{"w1", "w2"} {
		w, err := workflow.NewWorker(context.Background(), nc, workflow.WithLogger(quiet), workflow.WithName(name))
		if err != nil {
			t.Fatalf("NewWorker: %v", err)
		}
		if err := demo.Register(w, svc, demo.Selection{}); err != nil {
			t.Fatalf("Register: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	c, err := workflow.NewClient(context.Background(), nc)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return &demo.Env{Client: c, Services: svc, NC: nc, IDPrefix: "t", RunTimeout: 20 * time.Second}
}

// TestOrderOrchestration checks each scenario's semantics on the workflow
// directly: status, IDs, compensations in order, attempts, and effects once.
func TestOrderOrchestration(t *testing.T) {
	env := setup(t)
	ctx := testenv.Context(t, 60*time.Second)
	type want struct {
		status        string
		tx, ship      bool
		compensations []string
		attempts      map[string]int
		steps         []string // when set, exactly these steps ran
		effects       demo.Counts
		channel       string
	}
	order := func(id string, edit func(*demo.OrderInput)) demo.OrderInput {
		in := demo.NewOrder(id, "user-"+id)
		edit(&in)
		return in
	}
	tests := []struct {
		name string
		in   demo.OrderInput
		want want
	}{
		{"happy_path", order("happy", func(*demo.OrderInput) {}), want{
			status: demo.StatusCompleted, tx: true, ship: true, compensations: []string{},
			attempts: map[string]int{"ValidateOrder": 1, "ReserveInventory": 1, "ProcessPayment": 1, "CreateShipment": 1, "SendNotification": 1},
			effects:  demo.Counts{Reserved: 1, Charged: 1, ChargedPrimary: 1, Shipped: 1, Notified: 1, ChargedAmount: 100},
			channel:  demo.ChannelPrimary,
		}},
		{"invalid_order", order("invalid", func(in *demo.OrderInput) { in.Items = nil; in.TotalAmount = 0 }), want{
			status: demo.StatusValidationFailed, compensations: []string{}, steps: []string{"ValidateOrder"},
		}},
		{"out_of_stock", order("soldout", func(in *demo.OrderInput) { in.Items[1].ProductID = demo.SoldOutPrefix + "-1" }), want{
			status: demo.StatusOutOfStock, compensations: []string{}, steps: []string{"ValidateOrder", "ReserveInventory"},
			attempts: map[string]int{"ReserveInventory": 1},
		}},
		{"flaky_inventory", order("flaky", func(in *demo.OrderInput) { in.Faults = []string{demo.FaultInventoryFlaky} }), want{
			status: demo.StatusCompleted, tx: true, ship: true, compensations: []string{},
			attempts: map[string]int{"ReserveInventory": 3},
			effects:  demo.Counts{Reserved: 1, Charged: 1, ChargedPrimary: 1, Shipped: 1, Notified: 1, ChargedAmount: 100},
		}},
		{"payment_declined", order("declined", func(in *demo.OrderInput) { in.UserID = demo.BrokeUserPrefix + "-9" }), want{
			status: demo.StatusPaymentFailed, compensations: []string{"ReleaseInventory"},
			attempts: map[string]int{"ProcessPayment": 1, "FallbackPayment": 1, "ReleaseInventory": 1},
			effects:  demo.Counts{Reserved: 1, Released: 1},
		}},
		{"shipment_failed", order("noship", func(in *demo.OrderInput) { in.Faults = []string{demo.FaultShippingDown} }), want{
			status: demo.StatusShipmentFailed, tx: true, compensations: []string{"RefundPayment", "ReleaseInventory"},
			attempts: map[string]int{"CreateShipment": 3, "RefundPayment": 1, "ReleaseInventory": 1},
			effects:  demo.Counts{Reserved: 1, Released: 1, Charged: 1, ChargedPrimary: 1, Refunded: 1, ChargedAmount: 100, RefundedAmount: 100},
		}},
		{"payment_fallback", order("fallback", func(in *demo.OrderInput) { in.Faults = []string{demo.FaultPrimaryDown} }), want{
			status: demo.StatusCompleted, tx: true, ship: true, compensations: []string{},
			attempts: map[string]int{"ProcessPayment": 2, "FallbackPayment": 1},
			effects:  demo.Counts{Reserved: 1, Charged: 1, ChargedFallback: 1, Shipped: 1, Notified: 1, ChargedAmount: 100},
			channel:  demo.ChannelFallback,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := workflow.Start(ctx, env.Client, demo.OrderOrchestration, tt.in.OrderID, tt.in)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			out, err := run.Result(ctx)
			if err != nil {
				t.Fatalf("Result: %v", err)
			}
			if out.OrderID != tt.in.OrderID || out.Status != tt.want.status {
				t.Errorf("output %s %s, want %s %s", out.OrderID, out.Status, tt.in.OrderID, tt.want.status)
			}
			if got := out.TransactionID != nil; got != tt.want.tx {
				t.Errorf("transaction ID set: got %v, want %v", got, tt.want.tx)
			}
			if got := out.ShipmentID != nil; got != tt.want.ship {
				t.Errorf("shipment ID set: got %v, want %v", got, tt.want.ship)
			}
			if tt.want.channel == demo.ChannelFallback && !strings.HasPrefix(*out.TransactionID, "TXN-F") {
				t.Errorf("transaction %s, want one of the fallback channel", *out.TransactionID)
			}
			hist, err := env.Client.History(ctx, tt.in.OrderID)
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			comps := []string{}
			attempts := map[string]int{}
			var ran []string
			for _, h := range hist {
				if !h.Done {
					t.Errorf("position %d (%s) not done in a closed run", h.Seq, h.Name)
				}
				if h.Compensation {
					comps = append(comps, h.Name)
				}
				attempts[h.Name] += h.Attempts
				ran = append(ran, h.Name)
			}
			if !slices.Equal(comps, tt.want.compensations) {
				t.Errorf("compensations: got %v, want %v", comps, tt.want.compensations)
			}
			for step, n := range tt.want.attempts {
				if attempts[step] != n {
					t.Errorf("%s attempts: got %d, want %d", step, attempts[step], n)
				}
			}
			if tt.want.steps != nil && !slices.Equal(ran, tt.want.steps) {
				t.Errorf("steps: got %v, want %v", ran, tt.want.steps)
			}
			effects, _ := env.Services.Ledger.Effects(ctx)
			got := demo.Count(demo.ForOrder(effects, tt.in.OrderID))
			got.ChargedAmount, got.RefundedAmount = round(got.ChargedAmount), round(got.RefundedAmount)
			if got != tt.want.effects {
				t.Errorf("effects:\n got %+v\nwant %+v", got, tt.want.effects)
			}
		})
	}
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// TestFlakyInventoryBacksOff checks the retries of ReserveInventory wait the
// policy's backoff (100 ms, then 200 ms) and the service saw three calls
// with one idempotency key but reserved once.
func TestFlakyInventoryBacksOff(t *testing.T) {
	env := setup(t)
	ctx := testenv.Context(t, 30*time.Second)
	in := demo.NewOrder("flaky-backoff", "user-1")
	in.Faults = []string{demo.FaultInventoryFlaky}
	run, err := workflow.Start(ctx, env.Client, demo.OrderOrchestration, in.OrderID, in)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run.Result(ctx); err != nil || out.Status != demo.StatusCompleted {
		t.Fatalf("got %+v, %v; want completed", out, err)
	}
	if got := env.Services.Calls("ReserveInventory"); got != 3 {
		t.Errorf("ReserveInventory calls: got %d, want 3", got)
	}
	hist, err := env.Client.History(ctx, in.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		if h.Name == "ReserveInventory" && h.Duration() < 300*time.Millisecond {
			t.Errorf("ReserveInventory took %s over 3 attempts, want at least 300ms of backoff", h.Duration())
		}
	}
	if c := env.Services.Ledger.(*demo.MemLedger).Order(in.OrderID); c.Reserved != 1 {
		t.Errorf("reserved %d times, want 1", c.Reserved)
	}
}

// TestPaymentWithFallbackWorkflow runs the payment workflow on its own.
func TestPaymentWithFallbackWorkflow(t *testing.T) {
	env := setup(t)
	ctx := testenv.Context(t, 30*time.Second)
	for _, tt := range []struct {
		id, user string
		faults   []string
		channel  string
		errType  string
	}{
		{id: "pay-ok", user: "u1", channel: demo.ChannelPrimary},
		{id: "pay-down", user: "u2", faults: []string{demo.FaultPrimaryDown}, channel: demo.ChannelFallback},
		{id: "pay-broke", user: demo.BrokeUserPrefix + "-3", errType: demo.ErrTypeInsufficientFunds},
	} {
		t.Run(tt.id, func(t *testing.T) {
			run, err := workflow.Start(ctx, env.Client, demo.PaymentWithFallback, tt.id, demo.PaymentInput{OrderID: tt.id, UserID: tt.user, Amount: 42, Faults: tt.faults})
			if err != nil {
				t.Fatal(err)
			}
			out, err := run.Result(ctx)
			if tt.errType != "" {
				var se *steps.Error
				if !errors.As(err, &se) || se.Type != tt.errType {
					t.Fatalf("got %+v, %v; want a %s failure", out, err, tt.errType)
				}
				return
			}
			if err != nil || out.Channel != tt.channel || out.TransactionID == "" {
				t.Fatalf("got %+v, %v; want a transaction on %s", out, err, tt.channel)
			}
		})
	}
}

// TestIdempotentServices calls handlers twice with one idempotency key, as a
// redelivered attempt would: one effect, the same IDs.
func TestIdempotentServices(t *testing.T) {
	svc := demo.NewServices(nil)
	ctx := steps.WithInfo(context.Background(), steps.Info{IdempotencyKey: "run-1/2"})
	in := demo.NewOrder("o-1", "u-1")
	a, err := svc.ReserveInventoryHandler(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.ReserveInventoryHandler(ctx, in)
	if err != nil || a != b {
		t.Fatalf("second reservation %q, %v; want %q", b, err, a)
	}
	pctx := steps.WithInfo(context.Background(), steps.Info{IdempotencyKey: "run-1/3"})
	p1, _ := svc.ProcessPaymentHandler(pctx, demo.PaymentInput{OrderID: "o-1", UserID: "u-1", Amount: 10})
	p2, _ := svc.ProcessPaymentHandler(pctx, demo.PaymentInput{OrderID: "o-1", UserID: "u-1", Amount: 10})
	if p1 != p2 || p1.TransactionID == "" {
		t.Fatalf("charges %+v and %+v, want one transaction", p1, p2)
	}
	c := svc.Ledger.(*demo.MemLedger).Counts()
	if c.Reserved != 1 || c.Charged != 1 {
		t.Fatalf("counts %+v, want one reservation and one charge", c)
	}
	if svc.Calls("ReserveInventory") != 2 {
		t.Fatalf("calls: got %d, want 2", svc.Calls("ReserveInventory"))
	}
}

func TestValidateOrder(t *testing.T) {
	svc := demo.NewServices(nil)
	ok := demo.NewOrder("o", "u")
	for _, tt := range []struct {
		name  string
		edit  func(*demo.OrderInput)
		valid bool
	}{
		{"valid", func(*demo.OrderInput) {}, true},
		{"no items", func(in *demo.OrderInput) { in.Items = nil }, false},
		{"zero quantity", func(in *demo.OrderInput) { in.Items[0].Quantity = 0 }, false},
		{"negative price", func(in *demo.OrderInput) { in.Items[0].Price = -1 }, false},
		{"wrong total", func(in *demo.OrderInput) { in.TotalAmount = 99 }, false},
		{"no address", func(in *demo.OrderInput) { in.ShippingAddress = " " }, false},
		{"no user", func(in *demo.OrderInput) { in.UserID = "" }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			in.Items = slices.Clone(ok.Items)
			tt.edit(&in)
			got, err := svc.ValidateOrderHandler(context.Background(), in)
			if err != nil || got.Valid != tt.valid || (!got.Valid && got.Reason == "") {
				t.Fatalf("got %+v, %v; want valid=%v with a reason when invalid", got, err, tt.valid)
			}
		})
	}
}

// TestScenarios runs every scenario as the demo does, each on a fresh
// server, and checks it ended as issue 3's table says.
func TestScenarios(t *testing.T) {
	for _, name := range demo.ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			env := setup(t)
			ctx := testenv.Context(t, 60*time.Second)
			r, err := demo.RunScenario(ctx, env, name)
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK {
				t.Fatalf("%s: status %s, problems:\n  %s", name, r.Status, strings.Join(r.Problems, "\n  "))
			}
			if r.Scenario != name || r.WorkflowID == "" || r.Attempts == nil || r.Compensations == nil {
				t.Fatalf("incomplete result: %+v", r)
			}
		})
	}
}

func TestRunScenarioUnknown(t *testing.T) {
	if _, err := demo.RunScenario(context.Background(), &demo.Env{}, "nope"); !errors.Is(err, demo.ErrUnknownName) {
		t.Fatalf("got %v, want ErrUnknownName", err)
	}
}

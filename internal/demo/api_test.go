package demo_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/testenv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

// The source document's input, as a user would type it.
const seedInput = `{
  "order_id": "ORD-1",
  "user_id": "USER-1",
  "items": [{"product_id": "SKU-1", "quantity": 2, "price": 10.5}],
  "total_amount": 21,
  "shipping_address": "1 Example Road"
}`

func TestStartJSONAndOutputJSON(t *testing.T) {
	env := setup(t)
	ctx := testenv.Context(t, 30*time.Second)
	if err := demo.StartJSON(ctx, env.Client, "OrderOrchestration", "json-1", []byte(seedInput)); err != nil {
		t.Fatalf("StartJSON: %v", err)
	}
	rec, err := env.Client.Wait(ctx, "json-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := demo.OutputJSON(rec.Workflow, rec.Output)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"order_id", "status", "transaction_id", "shipment_id"} {
		if _, ok := got[k]; !ok {
			t.Errorf("output %s has no %q", out, k)
		}
	}
	if got["status"] != "completed" || got["order_id"] != "ORD-1" {
		t.Errorf("output %s, want ORD-1 completed", out)
	}
	in, err := demo.InputJSON(rec.Workflow, rec.Input)
	if err != nil || !strings.Contains(string(in), `"shipping_address":"1 Example Road"`) {
		t.Errorf("input JSON %s, %v", in, err)
	}
}

func TestInputFromJSONErrors(t *testing.T) {
	for _, tt := range []struct {
		name, input string
		line, col   int
	}{
		{"syntax", "{\n  \"order_id\": \"x\",\n  \"user_id\": oops\n}", 3, 14},
		{"unknown field", `{"order_id": "x", "userid": "u"}`, 1, 0},
		{"wrong type", `{"order_id": 7}`, 1, 0},
		{"two values", `{} {}`, 1, 0},
		{"empty", ``, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := demo.InputFromJSON("OrderOrchestration", []byte(tt.input))
			var ie *demo.InputError
			if !errors.Is(err, demo.ErrBadInput) || !errors.As(err, &ie) {
				t.Fatalf("got %v, want an *InputError", err)
			}
			if tt.line > 0 && (ie.Line != tt.line || (tt.col > 0 && ie.Column != tt.col)) {
				t.Errorf("position %d:%d, want %d:%d (%v)", ie.Line, ie.Column, tt.line, tt.col, err)
			}
		})
	}
	if _, err := demo.InputFromJSON("NoSuchWorkflow", []byte(`{}`)); !errors.Is(err, demo.ErrUnknownName) {
		t.Errorf("unknown workflow: got %v, want ErrUnknownName", err)
	}
}

func TestRegisterSelection(t *testing.T) {
	srv := testenv.Start(t, false)
	nc := srv.Conn()
	ctx := testenv.Context(t, 10*time.Second)
	w, err := workflow.NewWorker(ctx, nc, workflow.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Register(w, demo.NewServices(nil), demo.Selection{Steps: []string{"Nope"}}); !errors.Is(err, demo.ErrUnknownName) {
		t.Fatalf("unknown step: got %v, want ErrUnknownName", err)
	}
	if err := demo.Register(w, demo.NewServices(nil), demo.Selection{Workflows: []string{}, Steps: []string{"ProcessPayment", "FallbackPayment"}}); err != nil {
		t.Fatalf("payment-only worker: %v", err)
	}
	if got := demo.ParseList("none"); got == nil || len(got) != 0 {
		t.Errorf("ParseList(none) = %#v, want empty non-nil", got)
	}
	if got := demo.ParseList(" a, b ,"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("ParseList = %v", got)
	}
	if demo.ParseList("all") != nil || demo.ParseList("") != nil {
		t.Errorf("ParseList(all) is not nil")
	}
}

// TestKVLedgerIsIdempotent: two records with one key, one effect, across
// two ledgers on one bucket (two worker processes).
func TestKVLedgerIsIdempotent(t *testing.T) {
	srv := testenv.Start(t, false)
	ctx := testenv.Context(t, 10*time.Second)
	js, err := jetstream.New(srv.Conn())
	if err != nil {
		t.Fatal(err)
	}
	a, err := demo.OpenKVLedger(ctx, js, "ledger_test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := demo.OpenKVLedger(ctx, js, "ledger_test")
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.Record(ctx, demo.Effect{Key: "run-1/3", Kind: demo.EffectCharge, OrderID: "o1", Ref: "TXN-1", Amount: 5})
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.Record(ctx, demo.Effect{Key: "run-1/3", Kind: demo.EffectCharge, OrderID: "o1", Ref: "TXN-2", Amount: 5})
	if err != nil || second.Ref != first.Ref {
		t.Fatalf("second record %+v, %v; want the first (%s)", second, err, first.Ref)
	}
	effects, err := b.Effects(ctx)
	if err != nil || len(effects) != 1 || demo.Count(effects).Charged != 1 {
		t.Fatalf("effects %+v, %v; want one charge", effects, err)
	}
}

// TestBreakerSharedByOrders checks the breaker scenario's semantics on its
// report and on the breakers bucket: opened by the third primary failure,
// no primary call while open, one half-open probe, closed at the end.
func TestBreakerSharedByOrders(t *testing.T) {
	env := setup(t)
	ctx := testenv.Context(t, 60*time.Second)
	r, err := demo.RunScenario(ctx, env, "breaker")
	if err != nil {
		t.Fatal(err)
	}
	b := r.Breaker
	if b == nil {
		t.Fatalf("no breaker report: %+v", r)
	}
	var states []string
	for _, tr := range b.Transitions {
		states = append(states, tr.State)
	}
	if !slices.Equal(states, []string{"open", "half_open", "closed"}) {
		t.Errorf("transitions %v, want open, half_open, closed", states)
	}
	if b.PrimaryFailuresBeforeOpen != demo.BreakerThreshold || b.PrimaryCallsWhileOpen != 0 || b.OrdersWhileOpen != 2 || b.ProbeCalls != 1 {
		t.Errorf("report %+v: want %d failures before open, 0 primary calls in 2 orders while open, 1 probe call", b, demo.BreakerThreshold)
	}
	for _, o := range b.Orders {
		if o.Status != demo.StatusCompleted {
			t.Errorf("order %s (%s) ended %s, want completed", o.WorkflowID, o.Phase, o.Status)
		}
		if o.Phase == "while_open" && (o.Channel != demo.ChannelFallback || o.PrimaryCalls != 0) {
			t.Errorf("order %s while open: paid on %s with %d primary calls, want fallback and 0", o.WorkflowID, o.Channel, o.PrimaryCalls)
		}
	}
	states2, err := env.Client.Breakers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(states2) != 1 || states2[0].Name != demo.PrimaryBreakerName || states2[0].State != "closed" || states2[0].Opens != 1 {
		t.Errorf("breakers %+v, want %s closed after one opening", states2, demo.PrimaryBreakerName)
	}
}

func TestMixWithPrimaryDown(t *testing.T) {
	for _, pct := range []int{0, demo.DefaultPrimaryDown, 30, 68} {
		mix, err := demo.MixWithPrimaryDown(pct)
		if err != nil {
			t.Fatalf("%d %%: %v", pct, err)
		}
		sum, down := 0, 0
		for i, r := range mix {
			sum += r.Weight
			if r.Kind == "primary_down" {
				down = r.Weight
			} else if r.Kind != "healthy" && r.Weight != demo.Mix[i].Weight {
				t.Errorf("%d %%: %s weighs %d, want %d as in Mix", pct, r.Kind, r.Weight, demo.Mix[i].Weight)
			}
		}
		if sum != 100 || down != pct {
			t.Errorf("%d %%: weights sum to %d with %d primary down, want 100 and %d", pct, sum, down, pct)
		}
	}
	for _, pct := range []int{-1, 69} {
		if _, err := demo.MixWithPrimaryDown(pct); err == nil {
			t.Errorf("%d %%: got no error", pct)
		}
	}
}

// TestOrdersUnderRatePolicy: random orders with OrdersOptions.Breaker run
// their primary channel under that policy (its successes are written to the
// breaker's record, which the document's policy never does), and with no primary channel down
// nothing opens it and every charge is on the primary.
func TestOrdersUnderRatePolicy(t *testing.T) {
	env := setup(t)
	ctx := testenv.Context(t, 90*time.Second)
	none := 0
	rep, err := env.RunOrders(ctx, 30, demo.OrdersOptions{Seed: 3, PrimaryDown: &none, Breaker: demo.BreakerRate})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unexpected) > 0 {
		t.Fatalf("orders not as expected: %v", rep.Unexpected)
	}
	p := rep.Payment
	if p.Breaker != demo.BreakerRate || p.PrimaryDownPercent != 0 || p.Opens != 0 || p.FallbackShare != 0 || rep.Ledger.ChargedPrimary == 0 {
		t.Fatalf("payment report %+v with %d primary charges: want the rate policy, no opening, every charge on the primary", p, rep.Ledger.ChargedPrimary)
	}
	all, err := env.Client.Breakers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Under the document's policy successes alone write no record at all.
	if len(all) != 1 || all[0].Policy.FailureRateThreshold != demo.BreakerFailureRate || all[0].State != "closed" || all[0].WindowFailures != 0 {
		t.Fatalf("breakers %+v: want %s written under the rate policy, closed, with no failure in its window", all, demo.PrimaryBreakerName)
	}
	if _, err := env.RunOrders(ctx, 1, demo.OrdersOptions{Breaker: "sometimes"}); err == nil {
		t.Fatal("an unknown breaker policy ran")
	}
}

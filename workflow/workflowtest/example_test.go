package workflowtest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/workflowtest"
)

// A checkout: charge the card, then wait at most 15 minutes for the bank's
// confirmation; without it, refund.
var (
	ChargeCard   = steps.Ref[int, string]("ChargeCard")
	RefundCard   = steps.Ref[string, struct{}]("RefundCard")
	BankApproved = workflow.NewSignal[bool]("bank-approved")

	Checkout = workflow.New("Checkout", func(ctx workflow.Context, cents int) (string, error) {
		tx, err := workflow.ExecuteStep(ctx, ChargeCard, cents).Get(ctx)
		if err != nil {
			return "", err
		}
		approved := false
		workflow.NewSelector(ctx).
			AddSignal(BankApproved, func() { approved, _ = BankApproved.Receive(ctx) }).
			AddFuture(workflow.NewTimer(ctx, 15*time.Minute), func() {}).
			Select(ctx)
		if !approved {
			_, err := workflow.ExecuteStep(ctx, RefundCard, tx).Get(ctx)
			return "refunded", err
		}
		return "paid " + tx, nil
	})
)

// Example tests the checkout twice, each in virtual time: the bank answers
// after 3 minutes, then never (the 15-minute timer fires at once).
func Example() {
	for _, answers := range []bool{true, false} {
		env := workflowtest.NewEnv(exampleT{})
		workflowtest.OnStep(env, ChargeCard, func(ctx context.Context, cents int) (string, error) {
			// A fake sees the attempt's info: a retried call would say so.
			info, _ := steps.InfoFrom(ctx)
			return fmt.Sprintf("TX-%d-attempt-%d", cents, info.Attempt), nil
		})
		workflowtest.OnStep(env, RefundCard, func(ctx context.Context, tx string) (struct{}, error) { return struct{}{}, nil })
		if answers {
			workflowtest.SignalAt(env, 3*time.Minute, BankApproved, true)
		}
		start := env.Now()
		out, err := workflowtest.ExecuteWorkflow(env, Checkout, 1999)
		fmt.Printf("%s after %s (err %v); steps:", out, env.Now().Sub(start), err)
		for _, c := range env.Calls() {
			fmt.Printf(" %s", c.Step)
		}
		fmt.Println()
	}
	// Output:
	// paid TX-1999-attempt-1 after 3m0s (err <nil>); steps: ChargeCard
	// refunded after 15m0s (err <nil>); steps: ChargeCard RefundCard
}

// exampleT stands in for the *testing.T that a test passes to NewEnv and an
// Example does not get.
type exampleT struct{ testing.TB }

func (exampleT) Helper()        {}
func (exampleT) Cleanup(func()) {}
func (exampleT) Log(...any)     {}
func (exampleT) Errorf(format string, args ...any) {
	fmt.Printf("FAIL: "+format+"\n", args...)
}
func (exampleT) Fatal(args ...any) { panic(errors.New(fmt.Sprint(args...))) }
func (exampleT) Fatalf(format string, args ...any) {
	panic(fmt.Errorf(format, args...))
}

// The README's test ("Testing workflows"), as it is there.
func TestCheckoutRefundsWithoutTheBank(t *testing.T) {
	env := workflowtest.NewEnv(t)
	workflowtest.OnStep(env, ChargeCard, func(ctx context.Context, cents int) (string, error) {
		return fmt.Sprintf("TX-%d", cents), nil
	})
	env.RegisterStep(steps.New("RefundCard", func(ctx context.Context, tx string) (struct{}, error) {
		return struct{}{}, nil // a real handler: the one your worker registers
	}))
	// workflowtest.SignalAt(env, 3*time.Minute, BankApproved, true) would have it paid
	start := env.Now()
	out, err := workflowtest.ExecuteWorkflow(env, Checkout, 1999) // 15 virtual minutes, at once
	if err != nil || out != "refunded" {
		t.Fatalf("got %q, %v", out, err)
	}
	if calls := env.CallsOf("RefundCard"); len(calls) != 1 || calls[0].At.Sub(start) != 15*time.Minute {
		t.Errorf("refund calls %v, want one after 15m", calls)
	}
}

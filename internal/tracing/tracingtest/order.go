package tracingtest

import (
	"context"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"go.opentelemetry.io/otel/trace"
)

// Order is the workflow's input.
type Order struct {
	ID string `json:"id"`
}

// Names of the spans and attributes the checks expect.
const (
	Workflow   = "TraceOrder"
	ClientSpan = "order request"
	// HandlerSpan is made by TracePay's handler from its context, as a
	// user's HTTP client instrumentation would.
	HandlerSpan = "charge card"
)

var (
	Validate = steps.New("TraceValidate", func(ctx context.Context, o Order) (string, error) { return "valid-" + o.ID, nil })
	Reserve  = steps.New("TraceReserve", func(ctx context.Context, o Order) (string, error) { return "res-" + o.ID, nil })
	Release  = steps.New("TraceRelease", func(ctx context.Context, res string) (string, error) { return "released-" + res, nil })
	// Pay is declined on its first attempt and goes through on its second,
	// behind a breaker.
	Pay = steps.New("TracePay", func(ctx context.Context, o Order) (string, error) {
		_, span := trace.SpanFromContext(ctx).TracerProvider().Tracer("payment-client").Start(ctx, HandlerSpan)
		defer span.End()
		if info, _ := steps.InfoFrom(ctx); info.Attempt == 1 {
			return "", steps.NewError("Declined", "the bank said try again")
		}
		return "paid-" + o.ID, nil
	})
	Ship = steps.New("TraceShip", func(ctx context.Context, o Order) (string, error) {
		return "", steps.NonRetryable("NoTrucks", "no truck for order %s", o.ID)
	})
)

// Steps are the order's steps, for a worker to register.
func Steps() []steps.Handler { return []steps.Handler{Validate, Reserve, Release, Pay, Ship} }

// OrderWorkflow validates, reserves, sleeps a moment, pays (a retry), and
// fails to ship, so it releases the reservation and ends as
// "shipment_failed".
var OrderWorkflow = workflow.New(Workflow, func(ctx workflow.Context, o Order) (string, error) {
	ctx = workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &steps.RetryPolicy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, BackoffCoefficient: 1}})
	if _, err := workflow.ExecuteStep(ctx, Validate, o).Get(ctx); err != nil {
		return "invalid", nil
	}
	saga := workflow.NewSaga(ctx)
	res, err := workflow.ExecuteStep(ctx, Reserve, o).Get(ctx)
	if err != nil {
		return "out_of_stock", nil
	}
	workflow.AddCompensation(saga, Release, res)
	if err := workflow.Sleep(ctx, 20*time.Millisecond); err != nil {
		return "", err
	}
	payCtx := workflow.WithStepOptions(ctx, steps.Options{StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &steps.RetryPolicy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, BackoffCoefficient: 1},
		Breaker:     &steps.BreakerPolicy{Name: "trace-bank", FailureThreshold: 5}})
	if _, err := workflow.ExecuteStep(payCtx, Pay, o).Get(ctx); err != nil {
		_ = saga.Compensate(ctx)
		return "payment_failed", nil
	}
	if _, err := workflow.ExecuteStep(ctx, Ship, o).Get(ctx); err != nil {
		if err := saga.Compensate(ctx); err != nil {
			return "", err
		}
		return "shipment_failed", nil
	}
	return "shipped", nil
})

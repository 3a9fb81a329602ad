// Package greeting is a workflow of a user's own, outside the jetflow
// module: compose a greeting, then deliver it. Its worker binary is
// cmd/greeting-worker (package workerapp); cmd/greet starts a run from
// another service and prints its result; `jetflow start Greeting --input
// JSON` does the same without any of this package's Go types.
package greeting

import (
	"context"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// Input starts a greeting. The json tags name the fields on the wire: in
// the JSON given to `jetflow start` and in the stored payload alike (the
// msgpack tags say the same to older jetflow releases).
type Input struct {
	Name  string `json:"name" msgpack:"name"`
	Email string `json:"email" msgpack:"email"`
	// Excitement is how many exclamation marks (at least one).
	Excitement int `json:"excitement,omitempty" msgpack:"excitement,omitempty"`
}

// Output is a delivered greeting.
type Output struct {
	Message    string `json:"message" msgpack:"message"`
	DeliveryID string `json:"delivery_id" msgpack:"delivery_id"`
}

// Delivery is what DeliverGreeting sends.
type Delivery struct {
	To      string `json:"to" msgpack:"to"`
	Message string `json:"message" msgpack:"message"`
}

// ErrNoName is the type of the step error for an input without a name: no
// retry can fix it.
const ErrNoName = "NoName"

// Compose writes the greeting.
var Compose = steps.New("ComposeGreeting", func(_ context.Context, in Input) (string, error) {
	if strings.TrimSpace(in.Name) == "" {
		return "", steps.NonRetryable(ErrNoName, "a greeting needs a name")
	}
	return "Hello, " + in.Name + strings.Repeat("!", max(in.Excitement, 1)), nil
})

// Deliver sends the greeting. A real one would call a mail service with
// the attempt's idempotency key, so that a retried attempt sends once; the
// key is also the delivery's ID here.
var Deliver = steps.New("DeliverGreeting", func(ctx context.Context, d Delivery) (string, error) {
	return "delivery-" + steps.IdempotencyKey(ctx), nil
})

// Greeting composes a greeting and delivers it, each step retried on its
// own; a missing name fails the run at once.
var Greeting = workflow.New("Greeting", func(ctx workflow.Context, in Input) (Output, error) {
	ctx = workflow.WithStepOptions(ctx, steps.Options{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &steps.RetryPolicy{MaxAttempts: 5, InitialInterval: 200 * time.Millisecond,
			NonRetryableErrorTypes: []string{ErrNoName}},
	})
	msg, err := workflow.ExecuteStep(ctx, Compose, in).Get(ctx)
	if err != nil {
		return Output{}, err
	}
	id, err := workflow.ExecuteStep(ctx, Deliver, Delivery{To: in.Email, Message: msg}).Get(ctx)
	if err != nil {
		return Output{}, err
	}
	return Output{Message: msg, DeliveryID: id}, nil
})

package demo

import (
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

// Confirm3DS carries the customer's 3-D Secure answer to an order that
// requires one (OrderInput.Require3DS):
//
//	workflow.Signal(ctx, client, orderID, demo.Confirm3DS, demo.Confirmation{Approved: true})
//	jetflow signal ORDER-ID payment-confirmed --input '{"approved": true}'
var Confirm3DS = workflow.NewSignal[Confirmation]("payment-confirmed")

// await3DS waits for the order's 3-D Secure confirmation, at most the
// order's ThreeDSTimeout. It returns nil once approved, an error wrapping
// ErrNotConfirmed when the customer declined or did not answer in time, and
// the *workflow.CanceledError when the order was canceled meanwhile.
func await3DS(ctx workflow.Context, in OrderInput) error {
	timeout, _ := parseWait(in.ThreeDSTimeout, Default3DSTimeout)
	timer := workflow.NewTimer(ctx, timeout)
	var answer Confirmation
	var answered bool
	var err error
	workflow.NewSelector(ctx).
		AddSignal(Confirm3DS, func() { answer, err = Confirm3DS.Receive(ctx); answered = true }).
		AddFuture(timer, func() {}).
		Select(ctx)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case !answered:
		return fmt.Errorf("%w: no answer within %s", ErrNotConfirmed, timeout)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrNotConfirmed, err)
	case !answer.Approved:
		return fmt.Errorf("%w: the customer declined", ErrNotConfirmed)
	}
	return nil
}

// parseWait reads an optional Go duration of the input: def when empty, an
// error when it does not parse or is not positive.
func parseWait(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		err = fmt.Errorf("%s is not a positive duration", s)
	}
	if err != nil {
		return def, err
	}
	return d, nil
}

// Package steps defines the side effects of a workflow — Temporal calls them
// activities — and runs them.
//
// A step is a typed function with a name:
//
//	var ReserveInventory = steps.New("ReserveInventory",
//		func(ctx context.Context, in ReserveInput) (string, error) {
//			key := steps.IdempotencyKey(ctx) // "<workflowID>/<seq>", same for every attempt
//			return inventory.Reserve(ctx, key, in)
//		})
//
// Workflow code schedules it with workflow.ExecuteStep; any worker that
// registered it runs it. How it runs is said by Options: StartToCloseTimeout
// bounds one attempt (enforced even when the handler ignores its context),
// ScheduleToCloseTimeout bounds all attempts, RetryPolicy (Temporal's fields:
// MaxAttempts, InitialInterval, MaxInterval, BackoffCoefficient,
// NonRetryableErrorTypes) says how failures are retried, and Breaker guards
// the step with a circuit breaker shared by every worker.
//
// Return a *Error to give a failure a type that NonRetryableErrorTypes can
// match; NonRetryable(...) ends the step whatever the policy says:
//
//	return "", steps.NonRetryable("InsufficientStock", "only %d left", n)
//
// Any other error is named after its Go type ("NotFound" for a
// *inventory.NotFound, even wrapped by fmt.Errorf), or "Error" for one made
// by errors.New or fmt.Errorf: see AsError.
//
// A step's input and output travel as msgpack with struct fields named by
// their json tags; an input that does not decode into the step's input type
// fails the step at once with a BadInput error (see PayloadDecodeError).
//
// Steps run at least once: a worker can die after the effect and before the
// result is recorded. Their results are recorded exactly once (first write
// wins), and the idempotency key lets the downstream service apply each
// effect once.
package steps

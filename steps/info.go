package steps

import (
	"context"
	"time"
)

// Info describes the attempt a handler is running.
type Info struct {
	Workflow   string
	WorkflowID string
	Step       string
	// Seq is the step's position in its run.
	Seq int
	// Attempt counts from 1.
	Attempt int
	// IdempotencyKey is "<workflowID>/<seq>": the same for every attempt of
	// this step and unique across steps. Pass it to the downstream service so
	// that an attempt run twice (a crashed worker, a zombie) has one effect.
	IdempotencyKey string
	// ScheduledAt is when the first attempt was scheduled.
	ScheduledAt time.Time
	// Compensation is true when a saga runs this step to undo another.
	Compensation bool
}

type infoKey struct{}

// InfoFrom returns the attempt's Info from a handler's context.
func InfoFrom(ctx context.Context) (Info, bool) {
	i, ok := ctx.Value(infoKey{}).(Info)
	return i, ok
}

// IdempotencyKey returns the idempotency key of the attempt running under
// ctx, or "" outside a step handler.
func IdempotencyKey(ctx context.Context) string {
	i, _ := InfoFrom(ctx)
	return i.IdempotencyKey
}

// WithInfo returns ctx carrying info; tests of handlers use it.
func WithInfo(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

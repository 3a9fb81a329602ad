// Package steps is the fixture's copy of jetflow's steps API.
package steps

import (
	"context"
	"time"
)

// Options says how a step runs.
type Options struct {
	StartToCloseTimeout time.Duration
}

// Definition is a typed step.
type Definition[I, O any] struct {
	name string
	fn   func(context.Context, I) (O, error)
}

// New defines a step.
func New[I, O any](name string, fn func(ctx context.Context, in I) (O, error)) *Definition[I, O] {
	return &Definition[I, O]{name: name, fn: fn}
}

// Name returns the step's name.
func (d *Definition[I, O]) Name() string { return d.name }

// Package workflow is the fixture's copy of jetflow's workflow API. Its
// bodies read the clock as the engine's do: the analyzer never looks
// inside package workflow.
package workflow

import (
	"log/slog"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
)

// Context is what workflow code receives.
type Context interface {
	state() *wctx
}

type wctx struct {
	now  time.Time
	opts steps.Options
}

func (c *wctx) state() *wctx { return c }

// Definition is a typed workflow.
type Definition[I, O any] struct {
	name string
	fn   func(Context, I) (O, error)
}

// New defines a workflow.
func New[I, O any](name string, fn func(ctx Context, in I) (O, error)) *Definition[I, O] {
	return &Definition[I, O]{name: name, fn: fn}
}

// WithStepOptions returns a Context whose steps run with opts.
func WithStepOptions(ctx Context, opts steps.Options) Context {
	return &wctx{now: ctx.state().now, opts: opts}
}

// Now returns the workflow's deterministic clock.
func Now(ctx Context) time.Time { return ctx.state().now }

// GetLogger returns the replay-quiet logger.
func GetLogger(ctx Context) *slog.Logger { return slog.Default() }

// Future is the eventual result of a step or timer.
type Future[T any] struct {
	at  time.Time
	out T
}

// Awaitable is any Future.
type Awaitable interface {
	ready() bool
}

func (f Future[T]) ready() bool { return !f.at.IsZero() }

// Get returns the step's output.
func (f Future[T]) Get(ctx Context) (T, error) { return f.out, nil }

// ExecuteStep schedules a step and returns its future at once.
func ExecuteStep[I, O any](ctx Context, step *steps.Definition[I, O], in I) Future[O] {
	return Future[O]{at: time.Now()}
}

// NewTimer starts a durable timer.
func NewTimer(ctx Context, d time.Duration) Future[struct{}] {
	return Future[struct{}]{at: time.Now().Add(d)}
}

// Sleep waits durably for d.
func Sleep(ctx Context, d time.Duration) error {
	_, err := NewTimer(ctx, d).Get(ctx)
	return err
}

// SideEffect runs fn once and records its value.
func SideEffect[T any](ctx Context, fn func() T) T { return fn() }

// ContinueAsNew goes on under the same ID with a fresh history.
func ContinueAsNew[I any](ctx Context, in I) error { return nil }

// Selector waits for whichever of several futures resolves first.
type Selector struct {
	cases []func()
}

// NewSelector returns an empty selector.
func NewSelector(ctx Context) *Selector { return &Selector{} }

// AddFuture adds f; fn runs when Select picks it.
func (s *Selector) AddFuture(f Awaitable, fn func()) *Selector {
	s.cases = append(s.cases, fn)
	return s
}

// Select runs the callback of one ready future.
func (s *Selector) Select(ctx Context) {
	if len(s.cases) > 0 {
		s.cases[0]()
	}
}

// Saga collects compensations.
type Saga struct {
	comps []string
}

// NewSaga returns an empty saga.
func NewSaga(ctx Context) *Saga { return &Saga{} }

// AddCompensation registers step(input) to run if saga compensates.
func AddCompensation[I, O any](saga *Saga, step *steps.Definition[I, O], input I) {
	saga.comps = append(saga.comps, step.Name())
}

// Compensate runs the compensations in reverse order.
func (s *Saga) Compensate(ctx Context) error { return nil }

package workflow

import (
	"log/slog"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
)

// Context is what workflow code receives instead of a context.Context. It
// carries the run being replayed and the step options in effect. Derive new
// ones with WithStepOptions; never share one between runs.
type Context interface {
	// Err is a *CanceledError once the run is canceled (Client.Cancel),
	// unless the Context is disconnected (NewDisconnectedContext); nil
	// before.
	Err() error
	state() *wctx
}

type wctx struct {
	e            *execution
	opts         steps.Options
	child        ChildOptions
	disconnected bool
}

func (c *wctx) state() *wctx { return c }

func (c *wctx) Err() error {
	if c.e.cancel == nil || c.disconnected {
		return nil
	}
	return c.e.cancel
}

// WithStepOptions returns a Context whose steps run with opts.
func WithStepOptions(ctx Context, opts steps.Options) Context {
	s := *ctx.state()
	s.opts = opts
	return &s
}

// StepOptions returns the step options in effect.
func StepOptions(ctx Context) steps.Options { return ctx.state().opts }

// Info describes the run a Context belongs to.
type Info struct {
	Workflow   string
	WorkflowID string
	// StartedAt is when the run was started (its record was created).
	StartedAt time.Time
}

// GetInfo returns the run's Info.
func GetInfo(ctx Context) Info {
	e := ctx.state().e
	return Info{Workflow: e.run.Workflow, WorkflowID: e.run.ID, StartedAt: e.run.CreatedAt}
}

// Now returns the workflow's deterministic clock: the time of the latest
// event the code has observed so far (the run's start, or the completion of
// the last result it read). Replays see the same value at the same point,
// which time.Now cannot give.
func Now(ctx Context) time.Time { return ctx.state().e.now }

// Logger returns a logger tagged with the run that stays quiet while the code
// re-executes decisions it already made, so each line is logged once.
func Logger(ctx Context) *slog.Logger { return ctx.state().e.logger }

// GetLogger is Logger, under the name Temporal users know.
func GetLogger(ctx Context) *slog.Logger { return Logger(ctx) }

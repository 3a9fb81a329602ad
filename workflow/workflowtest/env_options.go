package workflowtest

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// Option configures an Env.
type Option func(*config) error

type config struct {
	start           time.Time
	logger          *slog.Logger
	maxPayload      int64
	stepOptions     steps.Options
	replayEveryTask bool
}

// WithStartTime starts the virtual clock at t (a zero t: the wall clock).
func WithStartTime(t time.Time) Option {
	return func(c *config) error {
		c.start = t
		return nil
	}
}

// WithLogger sends what workflow code logs (workflow.Logger) to l instead of
// t.Log.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", workflow.ErrInvalidOption)
		}
		c.logger = l
		return nil
	}
}

// WithMaxPayload checks payload sizes against n bytes, as against a server
// whose max_payload is n (default DefaultMaxPayload).
func WithMaxPayload(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: max payload %d", workflow.ErrInvalidOption, n)
		}
		c.maxPayload = n
		return nil
	}
}

// WithStepOptions sets the step options workflow code starts with, as
// workflow.WithDefaultStepOptions does for a Worker.
func WithStepOptions(o steps.Options) Option {
	return func(c *config) error {
		c.stepOptions = o
		return nil
	}
}

// WithReplayEveryTask replays a run's history after each of its workflow
// tasks, not only once it has ended, so that a non-deterministic line is
// reported at the first task where a replay would diverge. A history of n
// batches is then replayed n times: for tests of short workflows.
func WithReplayEveryTask() Option {
	return func(c *config) error {
		c.replayEveryTask = true
		return nil
	}
}

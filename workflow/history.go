package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
)

// HistoryEntry is one position of a run, in the order the workflow code made
// its decisions: a step (or a compensation a saga ran), a timer or a side
// effect, with its recorded outcome when there is one.
type HistoryEntry struct {
	Seq  int    `json:"seq"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Compensation marks a step that a saga ran to undo another.
	Compensation bool `json:"compensation,omitempty"`
	// Done is false while the position has no recorded result: the step is
	// running or waiting for a retry, or the timer has not fired.
	Done bool `json:"done"`
	// Attempts is how many attempts the step took (retries included).
	Attempts int `json:"attempts,omitempty"`
	// Error is the step's final failure, nil when it succeeded or is not done.
	Error       *HistoryError `json:"error,omitempty"`
	ScheduledAt time.Time     `json:"scheduled_at,omitzero"`
	StartedAt   time.Time     `json:"started_at,omitzero"`
	CompletedAt time.Time     `json:"completed_at,omitzero"`
	// FireAt is when a timer fires.
	FireAt time.Time `json:"fire_at,omitzero"`
	// Worker is the worker that recorded the result.
	Worker string `json:"worker,omitempty"`
	// Output is the recorded output of a step or side effect, msgpack-encoded.
	Output []byte `json:"-"`
}

// Duration is how long the position took from its first scheduling to its
// recorded result (backoff between attempts included); zero when not done.
func (h HistoryEntry) Duration() time.Duration {
	if !h.Done || h.ScheduledAt.IsZero() || h.CompletedAt.IsZero() {
		return 0
	}
	return h.CompletedAt.Sub(h.ScheduledAt)
}

// HistoryError is a step's final failure as History reports it.
type HistoryError struct {
	Type         string `json:"type"`
	Message      string `json:"message"`
	NonRetryable bool   `json:"non_retryable,omitempty"`
	// Exhausted is true when the retry policy ran out of attempts.
	Exhausted bool `json:"exhausted,omitempty"`
}

func (e *HistoryError) Error() string { return e.Type + ": " + e.Message }

// History returns the run's timeline: every decision it recorded, in order,
// with the outcome stored in the steps bucket. A missing run gives
// ErrNotFound. The run may still be going; positions without a result are
// returned with Done false.
func (c *Client) History(ctx context.Context, id string) ([]HistoryEntry, error) {
	run, err := c.load(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]HistoryEntry, 0, len(run.Commands))
	for _, cmd := range run.Commands {
		h := HistoryEntry{Seq: cmd.Seq, Kind: cmd.Kind, Name: cmd.Name, Compensation: cmd.Compensation, FireAt: cmd.At}
		r, _, err := kv.Get[kv.Result](ctx, c.env.Buckets.Steps, kv.StepKey(id, cmd.Seq))
		switch {
		case errors.Is(err, kv.ErrNotFound):
			out = append(out, h)
			continue
		case err != nil:
			return out, fmt.Errorf("jetflow: reading the history of %s at position %d: %w", id, cmd.Seq, err)
		}
		h.Done = true
		h.Attempts = r.Attempts
		h.ScheduledAt, h.StartedAt, h.CompletedAt = r.ScheduledAt, r.StartedAt, r.CompletedAt
		h.Worker = r.Worker
		h.Output = r.Output
		if r.Error != nil {
			h.Error = &HistoryError{Type: r.Error.Type, Message: r.Error.Message, NonRetryable: r.Error.NonRetryable, Exhausted: r.Error.Exhausted}
		}
		out = append(out, h)
	}
	return out, nil
}

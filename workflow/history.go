package workflow

import (
	"context"
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
	// ChildID is a child workflow's ID, and ChildStatus the status its run
	// ended with (kind "child").
	ChildID     string `json:"child_id,omitempty"`
	ChildStatus string `json:"child_status,omitempty"`
	// Version is the version a run took at a change point (kind
	// "version", named by the change ID; see GetVersion).
	Version *Version `json:"version,omitempty"`
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

// History returns the run's timeline: every decision its current execution
// recorded, in order, with the outcome stored in the steps bucket. A missing
// run gives ErrNotFound. The run may still be going; positions without a
// result are returned with Done false. After continue-as-new it is the
// newest execution's; HistoryOf reads an earlier one (until it is purged).
func (c *Client) History(ctx context.Context, id string) ([]HistoryEntry, error) {
	run, err := c.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.historyOf(ctx, &run, max(run.Exec, 1))
}

// HistoryOf returns the timeline of execution exec (1 for the first) of a
// run that continued as new.
func (c *Client) HistoryOf(ctx context.Context, id string, exec int) ([]HistoryEntry, error) {
	run, err := c.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.historyOf(ctx, &run, exec)
}

func (c *Client) historyOf(ctx context.Context, run *kv.Run, exec int) ([]HistoryEntry, error) {
	id := run.ID
	h, err := readHistory(ctx, c.env, kv.ExecKey(id, run.Inc, exec))
	if err != nil {
		_, steps, _ := kv.BucketNames(c.env.Names.Prefix)
		return nil, c.deployed(ctx, steps, fmt.Errorf("jetflow: reading the history of %s: %w", id, err))
	}
	entries := historyEntries(h)
	// A child whose outcome the run did not record (still running, or
	// stopped by the run's own end) shows the status its record has.
	for i := range entries {
		e := &entries[i]
		if e.Kind != kv.KindChild || e.Done || e.ChildID == "" {
			continue
		}
		if child, _, err := kv.Get[kv.Run](ctx, c.env.Buckets.Runs, e.ChildID); err == nil && child.Parent != nil && child.Parent.ID == id {
			e.ChildStatus = child.Status
		}
	}
	return entries, nil
}

// historyEntries is the timeline of one execution's history.
func historyEntries(h *history) []HistoryEntry {
	var out []HistoryEntry
	for _, b := range h.batches {
		for _, d := range b.Decisions {
			e := HistoryEntry{Seq: d.Seq, Kind: d.Kind, Name: d.Name, Compensation: d.Compensation}
			switch {
			case d.Kind == kv.KindTimer:
				e.FireAt = d.At
			case d.Kind == kv.KindStep:
				e.ScheduledAt = d.At
			case d.Kind == kv.KindSideEffect:
				e.Done, e.Output, e.CompletedAt = true, d.Value, b.At
			case d.Kind == kv.KindVersion:
				e.Done, e.CompletedAt = true, b.At
				var v Version
				if kv.Unmarshal(d.Value, &v) == nil {
					e.Version = &v
				}
			case d.Kind == kv.KindChild:
				var c kv.ChildStart
				if kv.Unmarshal(d.Value, &c) == nil {
					e.ChildID = c.ID
				}
				e.ScheduledAt = d.At
			}
			if d.Refused != nil {
				e.Done, e.CompletedAt = true, b.At
				e.Error = &HistoryError{Type: d.Refused.Type, Message: d.Refused.Message, NonRetryable: true}
			}
			if r := h.results[d.Seq]; r != nil {
				e.Done = true
				e.Attempts = r.Attempts
				e.ScheduledAt, e.StartedAt, e.CompletedAt = r.ScheduledAt, r.StartedAt, r.CompletedAt
				e.Worker = r.Worker
				e.Output = r.Output
				if r.Kind == kv.KindChild {
					e.ChildID, e.ChildStatus = r.Ref, r.Status
				}
				if r.Error != nil {
					e.Error = &HistoryError{Type: r.Error.Type, Message: r.Error.Message, NonRetryable: r.Error.NonRetryable, Exhausted: r.Error.Exhausted}
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// ReceivedSignal is a signal a run received, as its history records it:
// in the order the run received them. The engine's own (cancel, terminate)
// are named jetflow.cancel and jetflow.terminate, with the reason as
// payload.
type ReceivedSignal struct {
	Name string `json:"name"`
	// Payload is in the payload encoding (msgpack); the reason, as text,
	// for the engine's own.
	Payload    []byte    `json:"-"`
	ReceivedAt time.Time `json:"received_at"`
	// Before is the position the run had decided up to when it received
	// the signal.
	Before int `json:"before_seq"`
}

// ReceivedSignals returns the signals the run's current execution received,
// in order. A missing run gives ErrNotFound.
func (c *Client) ReceivedSignals(ctx context.Context, id string) ([]ReceivedSignal, error) {
	run, err := c.load(ctx, id)
	if err != nil {
		return nil, err
	}
	h, err := readHistory(ctx, c.env, kv.ExecKey(id, run.Inc, max(run.Exec, 1)))
	if err != nil {
		_, steps, _ := kv.BucketNames(c.env.Names.Prefix)
		return nil, c.deployed(ctx, steps, fmt.Errorf("jetflow: reading the history of %s: %w", id, err))
	}
	out := []ReceivedSignal{}
	seq := 0
	for _, b := range h.batches {
		for _, s := range b.Signals {
			out = append(out, ReceivedSignal{Name: s.Name, Payload: s.Payload, ReceivedAt: s.At, Before: seq})
		}
		for _, d := range b.Decisions {
			seq = max(seq, d.Seq)
		}
	}
	return out, nil
}

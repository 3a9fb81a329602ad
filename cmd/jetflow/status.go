package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"
	"unicode/utf8"

	"github.com/jetflow-dev/jetflow/workflow"
)

func init() {
	register(command{name: "status", summary: "show a run's status, times and the step it waits on", run: runStatus})
}

// statusJSON is what `status --json` prints.
type statusJSON struct {
	ID          string     `json:"id"`
	Workflow    string     `json:"workflow"`
	Status      string     `json:"status"`
	CreatedAt   *time.Time `json:"created_at"`
	StartedAt   *time.Time `json:"started_at"`
	UpdatedAt   *time.Time `json:"updated_at"`
	ClosedAt    *time.Time `json:"closed_at"`
	CurrentStep string     `json:"current_step,omitempty"`
	Positions   int        `json:"positions"`
	Error       *errorJSON `json:"error,omitempty"`
	// Waiting says why the run cannot move (no worker serves it).
	Waiting string       `json:"waiting,omitempty"`
	Backoff *backoffJSON `json:"backoff,omitempty"`
	// Input and Output are the run's, as JSON (output null until it ends
	// completed).
	Input  json.RawMessage `json:"input"`
	Output json.RawMessage `json:"output"`
}

// backoffJSON is a step between two attempts.
type backoffJSON struct {
	Step          string    `json:"step"`
	Seq           int       `json:"seq"`
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"last_error"`
	LastErrorType string    `json:"last_error_type"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
}

type errorJSON struct {
	Type         string `json:"type"`
	Message      string `json:"message"`
	NonRetryable bool   `json:"non_retryable,omitempty"`
	Step         string `json:"step,omitempty"`
	Seq          int    `json:"seq,omitempty"`
}

func toErrorJSON(e *workflow.Failure) *errorJSON {
	if e == nil {
		return nil
	}
	return &errorJSON{Type: e.Type, Message: e.Message, NonRetryable: e.NonRetryable, Step: e.Step, Seq: e.Seq}
}

func toBackoffJSON(b *workflow.Backoff) *backoffJSON {
	if b == nil {
		return nil
	}
	return &backoffJSON{Step: b.Step, Seq: b.Seq, Attempts: b.Attempts, LastError: b.LastError, LastErrorType: b.LastErrorType, NextAttemptAt: b.NextAttemptAt}
}

func runStatus(ctx context.Context, args []string) error {
	var f clientFlags
	fs := newFlagSet("status", os.Stderr)
	f.register(fs)
	id, err := runIDArg(fs, args, "run ID: jetflow status ID")
	if err != nil {
		return err
	}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	d, err := s.client.Describe(cctx, id)
	if err != nil {
		return notFound(err, id)
	}
	run, err := s.client.Record(cctx, id)
	if err != nil {
		return notFound(err, id)
	}
	input, err := inputJSON(run.Workflow, run.Input)
	if err != nil {
		return fmt.Errorf("decoding the input of %s: %w", id, err)
	}
	output, err := outputJSON(run.Workflow, run.Output)
	if err != nil {
		return fmt.Errorf("decoding the output of %s: %w", id, err)
	}
	if f.json {
		return printJSON(os.Stdout, statusJSON{
			ID: d.ID, Workflow: d.Workflow, Status: string(d.Status),
			CreatedAt: optTime(d.CreatedAt), StartedAt: optTime(d.StartedAt), UpdatedAt: optTime(d.UpdatedAt), ClosedAt: optTime(d.ClosedAt),
			CurrentStep: d.CurrentStep, Positions: d.Positions, Error: toErrorJSON(d.Error), Waiting: d.Waiting, Backoff: toBackoffJSON(d.Backoff),
			Input: input, Output: output,
		})
	}
	fmt.Printf("run       %s\n", d.ID)
	fmt.Printf("workflow  %s\n", d.Workflow)
	fmt.Printf("status    %s\n", d.Status)
	fmt.Printf("created   %s\n", stamp(d.CreatedAt))
	fmt.Printf("started   %s\n", stamp(d.StartedAt))
	if !d.ClosedAt.IsZero() {
		fmt.Printf("closed    %s (took %s)\n", stamp(d.ClosedAt), human(d.ClosedAt.Sub(d.CreatedAt)))
	} else {
		fmt.Printf("updated   %s\n", stamp(d.UpdatedAt))
	}
	if d.CurrentStep != "" {
		fmt.Printf("waits on  %s\n", d.CurrentStep)
	}
	if d.Waiting != "" {
		fmt.Printf("why       %s\n", d.Waiting)
	}
	if b := d.Backoff; b != nil {
		fmt.Printf("backoff   %s (position %d): %d attempt(s) failed, last: %s: %s; next attempt %s (in %s)\n",
			b.Step, b.Seq, b.Attempts, b.LastErrorType, b.LastError, stamp(b.NextAttemptAt), human(max(time.Until(b.NextAttemptAt), 0)))
	}
	fmt.Printf("positions %d\n", d.Positions)
	fmt.Printf("input     %s\n", brief(input))
	if len(run.Output) > 0 {
		fmt.Printf("output    %s\n", brief(output))
	}
	if d.Error != nil {
		where := ""
		if d.Error.Step != "" {
			where = fmt.Sprintf(" (step %s, position %d)", d.Error.Step, d.Error.Seq)
		}
		fmt.Printf("error     %s: %s%s\n", d.Error.Type, d.Error.Message, where)
	}
	return nil
}

// brief shortens a JSON value for a line of text; --json prints it whole.
func brief(v json.RawMessage) string {
	const most = 200
	if len(v) <= most {
		return string(v)
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes; --json prints it whole)", v[:cut], len(v))
}

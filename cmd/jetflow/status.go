package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
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
}

type errorJSON struct {
	Type         string `json:"type"`
	Message      string `json:"message"`
	NonRetryable bool   `json:"non_retryable,omitempty"`
	Step         string `json:"step,omitempty"`
	Seq          int    `json:"seq,omitempty"`
}

func toErrorJSON(e *kv.ErrorInfo) *errorJSON {
	if e == nil {
		return nil
	}
	return &errorJSON{Type: e.Type, Message: e.Message, NonRetryable: e.NonRetryable, Step: e.Step, Seq: e.Seq}
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
	if f.json {
		return printJSON(os.Stdout, statusJSON{
			ID: d.ID, Workflow: d.Workflow, Status: d.Status,
			CreatedAt: optTime(d.CreatedAt), StartedAt: optTime(d.StartedAt), UpdatedAt: optTime(d.UpdatedAt), ClosedAt: optTime(d.ClosedAt),
			CurrentStep: d.CurrentStep, Positions: d.Positions, Error: toErrorJSON(d.Error),
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
	fmt.Printf("positions %d\n", d.Positions)
	if d.Error != nil {
		where := ""
		if d.Error.Step != "" {
			where = fmt.Sprintf(" (step %s, position %d)", d.Error.Step, d.Error.Seq)
		}
		fmt.Printf("error     %s: %s%s\n", d.Error.Type, d.Error.Message, where)
	}
	return nil
}

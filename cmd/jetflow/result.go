package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

func init() {
	register(command{name: "result", summary: "print a run's output (--wait for it to end)", run: runResult})
}

// Exit statuses of `result`: 0 completed, 1 failed (or compensation_failed),
// 3 not finished yet (without --wait).
const exitNotFinished = 3

type resultJSON struct {
	ID       string          `json:"id"`
	Workflow string          `json:"workflow"`
	Status   string          `json:"status"`
	Output   json.RawMessage `json:"output"`
	Error    *errorJSON      `json:"error,omitempty"`
}

func runResult(ctx context.Context, args []string) error {
	var f clientFlags
	var wait bool
	var waitTimeout time.Duration
	fs := newFlagSet("result", os.Stderr)
	f.register(fs)
	fs.BoolVar(&wait, "wait", false, "wait for the run to end")
	fs.DurationVar(&waitTimeout, "wait-timeout", 0, "bound on --wait (0 = until interrupted)")
	id, err := runIDArg(fs, args, "run ID: jetflow result ID [--wait]")
	if err != nil {
		return err
	}
	if waitTimeout < 0 {
		return usagef("--wait-timeout %s: want 0 or more", waitTimeout)
	}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	return showResult(ctx, s, &f, id, wait, waitTimeout)
}

// showResult prints a run's result, waiting for it with wait, and chooses
// the exit status from the run's.
func showResult(ctx context.Context, s *session, f *clientFlags, id string, wait bool, waitTimeout time.Duration) error {
	var run workflow.Record
	var err error
	if wait {
		wctx := ctx
		if waitTimeout > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, waitTimeout)
			defer cancel()
		}
		run, err = s.client.Wait(wctx, id)
		status := run.Status
		if status == "" {
			status = "unknown: its record could not be read"
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return &exitError{code: exitNotFinished, msg: fmt.Sprintf("run %s did not end within %s (status %s)", id, waitTimeout, status)}
		}
		if errors.Is(err, context.Canceled) {
			return &exitError{code: exitNotFinished, msg: fmt.Sprintf("interrupted; run %s is %s", id, status)}
		}
	} else {
		cctx, cancel := context.WithTimeout(ctx, f.timeout)
		defer cancel()
		run, err = s.client.Record(cctx, id)
	}
	if err != nil {
		return notFound(err, id)
	}
	out, err := outputJSON(run.Workflow, run.Output)
	if err != nil {
		return fmt.Errorf("decoding the output of %s: %w", id, err)
	}
	if f.json {
		if err := printJSON(os.Stdout, resultJSON{ID: run.ID, Workflow: run.Workflow, Status: string(run.Status), Output: out, Error: toErrorJSON(run.Error)}); err != nil {
			return err
		}
	} else if len(run.Output) > 0 {
		if err := printJSON(os.Stdout, out); err != nil {
			return err
		}
	}
	switch {
	case run.Status == workflow.StatusCompleted:
		return nil
	case !run.Status.Closed():
		return &exitError{code: exitNotFinished, msg: fmt.Sprintf("run %s is %s, not finished (use --wait)", id, run.Status)}
	default:
		msg := fmt.Sprintf("run %s ended %s", id, run.Status)
		if run.Error != nil {
			msg += fmt.Sprintf(": %s: %s", run.Error.Type, run.Error.Message)
		}
		if f.json {
			msg = "" // the JSON says it
		}
		return &exitError{code: 1, msg: msg}
	}
}

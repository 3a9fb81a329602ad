package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

func init() {
	register(command{name: "list", summary: "list runs, optionally of one workflow or status", run: runList})
}

var runStatuses = []string{kv.StatusPending, kv.StatusRunning, kv.StatusCompleted, kv.StatusFailed, kv.StatusCompensationFailed, kv.StatusCanceled, kv.StatusTerminated}

type listEntry struct {
	ID          string     `json:"id"`
	Workflow    string     `json:"workflow"`
	Status      string     `json:"status"`
	CreatedAt   *time.Time `json:"created_at"`
	ClosedAt    *time.Time `json:"closed_at"`
	CurrentStep string     `json:"current_step,omitempty"`
	Error       *errorJSON `json:"error,omitempty"`
	// Waiting says why an open run cannot move; Backoff where a step
	// between two attempts stands.
	Waiting string       `json:"waiting,omitempty"`
	Backoff *backoffJSON `json:"backoff,omitempty"`
}

func runList(ctx context.Context, args []string) error {
	var f clientFlags
	var wf, status string
	var limit int
	fs := newFlagSet("list", os.Stderr)
	f.register(fs)
	fs.StringVar(&wf, "workflow", "", "only runs of this workflow")
	fs.StringVar(&status, "status", "", "only runs with this status: "+strings.Join(runStatuses, ", "))
	fs.IntVar(&limit, "limit", 0, "print at most this many runs, the newest (0 = all)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	if wf != "" && !steps.ValidName(wf) {
		return usagef("--workflow %q: not a workflow name (letters, digits, '-' and '_')", wf)
	}
	if status != "" && !slices.Contains(runStatuses, status) {
		return usagef("--status %q: want one of %s", status, strings.Join(runStatuses, ", "))
	}
	if limit < 0 {
		return usagef("--limit %d: want 0 or more", limit)
	}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()

	lctx, cancel := context.WithTimeout(ctx, f.timeout+time.Minute)
	defer cancel()
	res, err := s.client.List(lctx, workflow.ListFilter{Workflow: wf, Status: workflow.Status(status), Limit: limit})
	if err != nil {
		return fmt.Errorf("listing runs: %w", err)
	}
	runs, corrupt := res.Runs, res.Corrupt
	// Where an open run stands is in its history, not its record: ask.
	where := map[string]workflow.Description{}
	for _, r := range runs {
		if !r.Status.Closed() {
			if d, err := s.client.Describe(lctx, r.ID); err == nil {
				where[r.ID] = d
			}
		}
	}
	if f.json {
		if len(corrupt) > 0 {
			fmt.Fprintf(os.Stderr, "%d run records could not be decoded and were skipped: %s\n", len(corrupt), strings.Join(corrupt, ", "))
		}
		out := make([]listEntry, 0, len(runs))
		for _, r := range runs {
			d := where[r.ID]
			out = append(out, listEntry{ID: r.ID, Workflow: r.Workflow, Status: string(r.Status), CreatedAt: optTime(r.CreatedAt),
				ClosedAt: optTime(r.ClosedAt), CurrentStep: d.CurrentStep, Error: toErrorJSON(r.Error),
				Waiting: d.Waiting, Backoff: toBackoffJSON(d.Backoff)})
		}
		return printJSON(os.Stdout, out)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWORKFLOW\tSTATUS\tCREATED\tTOOK\tWAITS ON / ERROR")
	for _, r := range runs {
		d := where[r.ID]
		took, note := "-", d.CurrentStep
		switch {
		case d.Waiting != "":
			note = d.Waiting
		case d.Backoff != nil:
			note = fmt.Sprintf("%s: %d attempt(s) failed (%s), next %s", d.Backoff.Step, d.Backoff.Attempts, d.Backoff.LastErrorType, stamp(d.Backoff.NextAttemptAt))
		}
		if !r.ClosedAt.IsZero() {
			took = human(r.ClosedAt.Sub(r.CreatedAt))
		}
		if r.Error != nil {
			note = r.Error.Type
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workflow, r.Status, stamp(r.CreatedAt), took, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(runs) == 1 {
		fmt.Fprintln(os.Stderr, "1 run")
	} else {
		fmt.Fprintf(os.Stderr, "%d runs\n", len(runs))
	}
	if len(corrupt) > 0 {
		fmt.Fprintf(os.Stderr, "%d run records could not be decoded and were skipped: %s\n", len(corrupt), strings.Join(corrupt, ", "))
	}
	return nil
}

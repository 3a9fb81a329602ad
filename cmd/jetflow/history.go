package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/internal/jsonpayload"
	"github.com/jetflow-dev/jetflow/workflow"
)

func init() {
	register(command{name: "history", summary: "print a run's timeline: steps, attempts, durations, errors, compensations", run: runHistory})
}

// historyJSON is what `history --json` prints; input and output are the
// run's, as JSON (output null until it ends completed).
type historyJSON struct {
	ID        string             `json:"id"`
	Workflow  string             `json:"workflow"`
	Status    string             `json:"status"`
	CreatedAt *time.Time         `json:"created_at"`
	ClosedAt  *time.Time         `json:"closed_at"`
	Error     *errorJSON         `json:"error,omitempty"`
	Input     json.RawMessage    `json:"input"`
	Output    json.RawMessage    `json:"output"`
	Timeline  []historyEntryJSON `json:"timeline"`
	// Parent is the run that started this one as a child workflow.
	Parent string `json:"parent,omitempty"`
	// Signals are the signals the run received, in order.
	Signals []signalJSON `json:"signals"`
	// TraceID is the run's OpenTelemetry trace, to look it up in a tracing UI.
	TraceID string `json:"trace_id,omitempty"`
	// Replay is what a replay test needs (workflow.ReplayHistory).
	Replay *workflow.RunHistory `json:"replay,omitempty"`
}

type signalJSON struct {
	workflow.ReceivedSignal
	Payload json.RawMessage `json:"payload"`
}

// signalPayload is a received signal's payload as JSON: the engine's own
// carry their reason as text.
func signalPayload(s workflow.ReceivedSignal) json.RawMessage {
	if strings.HasPrefix(s.Name, "jetflow.") {
		b, _ := json.Marshal(string(s.Payload))
		return b
	}
	if len(s.Payload) == 0 {
		return json.RawMessage("null")
	}
	b, err := jsonpayload.ToJSON(s.Payload)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprintf("(undecodable: %v)", err))
	}
	return b
}

type historyEntryJSON struct {
	workflow.HistoryEntry
	DurationMS float64         `json:"duration_ms,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
}

func runHistory(ctx context.Context, args []string) error {
	var f clientFlags
	fs := newFlagSet("history", os.Stderr)
	f.register(fs)
	id, err := runIDArg(fs, args, "run ID: jetflow history ID")
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
	run, err := s.client.Record(cctx, id)
	if err != nil {
		return notFound(err, id)
	}
	hist, err := s.client.History(cctx, id)
	if err != nil {
		return notFound(err, id)
	}
	sigs, err := s.client.ReceivedSignals(cctx, id)
	if err != nil {
		return notFound(err, id)
	}
	if f.json {
		out := historyJSON{ID: run.ID, Workflow: run.Workflow, Status: string(run.Status), CreatedAt: optTime(run.CreatedAt),
			ClosedAt: optTime(run.ClosedAt), Error: toErrorJSON(run.Error), Timeline: make([]historyEntryJSON, 0, len(hist)), Parent: run.Parent,
			TraceID: run.TraceID}
		if out.Input, err = inputJSON(run.Workflow, run.Input); err != nil {
			return fmt.Errorf("decoding the input of %s: %w", id, err)
		}
		if out.Output, err = outputJSON(run.Workflow, run.Output); err != nil {
			return fmt.Errorf("decoding the output of %s: %w", id, err)
		}
		if out.Replay, err = s.client.ExportHistory(cctx, id); err != nil {
			return notFound(err, id)
		}
		out.Signals = []signalJSON{}
		for _, sg := range sigs {
			out.Signals = append(out.Signals, signalJSON{ReceivedSignal: sg, Payload: signalPayload(sg)})
		}
		for _, h := range hist {
			e := historyEntryJSON{HistoryEntry: h, DurationMS: ms(h.Duration())}
			if len(h.Output) > 0 {
				if e.Output, err = outputJSON(h.Name, h.Output); err != nil {
					return fmt.Errorf("decoding the output of %s at position %d: %w", id, h.Seq, err)
				}
			}
			out.Timeline = append(out.Timeline, e)
		}
		return printJSON(os.Stdout, out)
	}

	fmt.Printf("run %s  %s  %s", run.ID, run.Workflow, run.Status)
	if !run.ClosedAt.IsZero() {
		fmt.Printf("  took %s", human(run.ClosedAt.Sub(run.CreatedAt)))
	}
	if run.Parent != "" {
		fmt.Printf("  child of %s", run.Parent)
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTEP\tATTEMPTS\tSTARTED\tDURATION\tOUTCOME\tWORKER")
	for _, h := range hist {
		name := h.Name
		switch {
		case h.Compensation:
			name = "↩ " + name + " (compensation)"
		case h.Kind != "step":
			name = h.Kind + " " + name
		}
		if h.ChildID != "" {
			name += " → " + h.ChildID
		}
		attempts := "-"
		if h.Attempts > 0 {
			attempts = fmt.Sprint(h.Attempts)
		}
		outcome := "ok"
		switch {
		case !h.Done && h.ChildStatus != "":
			outcome = "child " + h.ChildStatus
		case !h.Done && run.Status.Closed() && h.Kind == "timer":
			outcome = "not fired: the run ended " + string(run.Status)
		case !h.Done && run.Status.Closed():
			outcome = "no result: the run ended " + string(run.Status)
		case h.Version != nil:
			outcome = fmt.Sprintf("took version %d", *h.Version)
		case !h.Done && h.Kind == "timer":
			outcome = "waiting until " + stamp(h.FireAt)
		case !h.Done:
			outcome = "running"
		case h.Error != nil && h.ChildStatus != "":
			outcome = h.ChildStatus + ": " + h.Error.Type + ": " + h.Error.Message
		case h.Error != nil:
			outcome = "failed: " + h.Error.Type + ": " + h.Error.Message
			if h.Error.Exhausted {
				outcome += " (attempts exhausted)"
			}
		}
		started := h.ScheduledAt
		if started.IsZero() {
			started = h.StartedAt
		}
		worker := h.Worker
		if worker == "" {
			worker = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Seq, name, attempts, stamp(started), human(h.Duration()), outcome, worker)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, sg := range sigs {
		fmt.Printf("signal %s received %s (after position %d): %s\n", sg.Name, stamp(sg.ReceivedAt), sg.Before, signalPayload(sg))
	}
	if run.Error != nil {
		fmt.Printf("error: %s: %s\n", run.Error.Type, run.Error.Message)
	}
	return nil
}

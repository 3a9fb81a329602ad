package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/jetflow-dev/jetflow/internal/jsonpayload"
	"github.com/jetflow-dev/jetflow/workflow"
)

func init() {
	register(command{name: "signal", summary: "send a signal to a run: signal ID NAME --input JSON|@file", run: runSignal})
	register(command{name: "cancel", summary: "ask a run to stop (it compensates and ends canceled): cancel ID [--reason R]", run: runCancel})
	register(command{name: "terminate", summary: "end a run at once, running no more of its code: terminate ID [--reason R]", run: runTerminate})
}

func runSignal(ctx context.Context, args []string) error {
	var f clientFlags
	var input string
	fs := newFlagSet("signal", os.Stderr)
	f.register(fs)
	fs.StringVar(&input, "input", "null", "the signal's payload as JSON, or @file, or @- for standard input")
	id, name, err := idAndName(fs, args, "run ID and signal name: jetflow signal ID NAME --input JSON")
	if err != nil {
		return err
	}
	data, src, err := readInput(input)
	if err != nil {
		return err
	}
	// The payload becomes a map keyed by the JSON field names, which decodes
	// into the signal's declared type as its json tags name the fields.
	payload, err := jsonpayload.FromJSON(data)
	if err != nil {
		return usagef("%s: %v", src, err)
	}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if err := s.client.SignalRaw(cctx, id, name, payload); err != nil {
		return sendError(err, id)
	}
	return report(&f, id, "signal "+name+" sent to")
}

func runCancel(ctx context.Context, args []string) error { return stop(ctx, args, "cancel") }

func runTerminate(ctx context.Context, args []string) error { return stop(ctx, args, "terminate") }

func stop(ctx context.Context, args []string, verb string) error {
	var f clientFlags
	var reason string
	fs := newFlagSet(verb, os.Stderr)
	f.register(fs)
	fs.StringVar(&reason, "reason", "", "why, recorded with the run's final status")
	id, err := runIDArg(fs, args, "run ID: jetflow "+verb+" ID [--reason R]")
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
	if verb == "cancel" {
		err = s.client.Cancel(cctx, id, reason)
	} else {
		err = s.client.Terminate(cctx, id, reason)
	}
	if err != nil {
		return sendError(err, id)
	}
	return report(&f, id, verb+" requested for")
}

// report says that a request reached the server.
func report(f *clientFlags, id, what string) error {
	if f.json {
		return printJSON(os.Stdout, map[string]any{"id": id, "accepted": true})
	}
	fmt.Printf("%s run %s\n", what, id)
	return nil
}

// sendError maps what Signal, Cancel and Terminate refuse to exit statuses.
func sendError(err error, id string) error {
	switch {
	case errors.Is(err, workflow.ErrRunClosed):
		return &exitError{code: 1, msg: err.Error()}
	case errors.Is(err, workflow.ErrInvalidName), errors.Is(err, workflow.ErrPayloadTooLarge):
		return usagef("%v", err)
	}
	return notFound(err, id)
}

func init() {
	register(command{name: "query", summary: "ask a running workflow a query and print the answer as JSON: query ID NAME", run: runQuery})
}

func runQuery(ctx context.Context, args []string) error {
	var f clientFlags
	fs := newFlagSet("query", os.Stderr)
	f.register(fs)
	id, name, err := idAndName(fs, args, "run ID and query name: jetflow query ID NAME")
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
	data, err := s.client.QueryRaw(cctx, id, name)
	if err != nil {
		if errors.Is(err, workflow.ErrQuery) {
			return &exitError{code: 1, msg: err.Error()}
		}
		return sendError(err, id)
	}
	out, err := jsonpayload.ToJSON(data)
	if err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	return printJSON(os.Stdout, out)
}

// idAndName parses a command's flags and its two arguments, a run ID and a
// name (of a signal, a query).
func idAndName(fs *flag.FlagSet, args []string, usage string) (id, name string, err error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", "", err
	}
	if err := wantArgs(pos, 2, 2, usage); err != nil {
		return "", "", err
	}
	if err := workflow.ValidateID(pos[0]); err != nil {
		return "", "", usagef("%v", err)
	}
	return pos[0], pos[1], nil
}

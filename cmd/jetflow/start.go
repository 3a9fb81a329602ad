package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/jsonpayload"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

func init() {
	register(command{name: "start", summary: "start a run: start <Workflow> --id ID --input JSON|@file", run: runStart})
}

type startJSON struct {
	ID       string `json:"id"`
	Workflow string `json:"workflow"`
	Status   string `json:"status"`
	// Waiting says why the run cannot move yet (no worker serves its
	// workflow).
	Waiting string `json:"waiting,omitempty"`
	// AlreadyStarted says the ID had this run already (same input).
	AlreadyStarted bool `json:"already_started,omitempty"`
}

func runStart(ctx context.Context, args []string) error {
	var f clientFlags
	var id, input string
	var wait bool
	var waitTimeout time.Duration
	fs := newFlagSet("start", os.Stderr)
	f.register(fs)
	fs.StringVar(&id, "id", "", "workflow ID: letters, digits, '-', '_', '='; starting an ID again with the same input finds its run, with another input fails (default: generated)")
	fs.StringVar(&input, "input", "", "the input as JSON, or @file, or @- for standard input")
	fs.BoolVar(&wait, "wait", false, "wait for the run to end and print its result as the result command does")
	fs.DurationVar(&waitTimeout, "wait-timeout", 0, "bound on --wait (0 = until interrupted); exit status 3 when the run is not over by then")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if waitTimeout < 0 {
		return usagef("--wait-timeout %s: want 0 or more", waitTimeout)
	}
	if err := wantArgs(pos, 1, 1, "workflow name: jetflow start <Workflow> --id ID --input JSON|@file (the demo's: "+strings.Join(demo.WorkflowNames(), ", ")+")"); err != nil {
		return err
	}
	// Any workflow name goes: only workers know which they serve, and a
	// run that none serves waits for one (and says so below).
	wf := pos[0]
	if !steps.ValidName(wf) {
		return usagef("invalid workflow name %q: letters, digits, '-' and '_' only", wf)
	}
	if id == "" {
		id = strings.ToLower(wf) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if err := workflow.ValidateID(id); err != nil {
		return usagef("--id: %v", err)
	}
	if input == "" {
		return usagef("missing --input: the %s input as JSON, @file or @-", wf)
	}
	data, src, err := readInput(input)
	if err != nil {
		return err
	}
	msgpack, err := inputFromJSON(wf, data)
	if err != nil {
		return inputUsageError(src, wf, data, err)
	}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	// StartRaw stamps a run it creates with this process's clock, so a run
	// created before the call was there already (a worker may well have
	// moved a fresh run past pending by the time it is described).
	called := time.Now()
	if err := s.client.StartRaw(cctx, wf, id, msgpack); err != nil {
		var pe *workflow.PayloadTooLargeError
		switch {
		case errors.As(err, &pe):
			return usagef("--input: %v", err)
		case errors.Is(err, workflow.ErrAlreadyStarted):
			return &exitError{code: 1, msg: err.Error()}
		}
		return fmt.Errorf("starting %s: %w", id, err)
	}
	d, err := s.client.Describe(cctx, id)
	if err != nil {
		return err
	}
	if wait {
		return showResult(ctx, s, &f, id, true, waitTimeout)
	}
	if f.json {
		return printJSON(os.Stdout, startJSON{ID: id, Workflow: wf, Status: string(d.Status), Waiting: d.Waiting, AlreadyStarted: d.CreatedAt.Before(called)})
	}
	verb := "started"
	if d.CreatedAt.Before(called) {
		verb = "already started"
	}
	fmt.Printf("%s %s run %s (status %s)\n", verb, wf, id, d.Status)
	if d.Waiting != "" {
		// A typo in the name lands here too: say it where people look.
		fmt.Fprintf(os.Stderr, "jetflow start: %s\n", d.Waiting)
	}
	return nil
}

// maxInput bounds what --input reads: NATS's largest max_payload, 64 MiB.
// An input past the server's own limit is refused by Start, typed; one past
// this is refused here, before it fills the memory (@/dev/zero, an endless
// pipe).
const maxInput = 64 << 20

// readInput reads --input: literal JSON, @file or @- (standard input). It
// returns the data and a name for where it came from.
func readInput(v string) ([]byte, string, error) {
	if !strings.HasPrefix(v, "@") {
		return []byte(v), "--input", nil
	}
	name := v[1:]
	src, what := io.Reader(os.Stdin), "standard input"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, "", usagef("--input %s: %v", v, err)
		}
		defer f.Close()
		src, what = f, name
	}
	data, err := io.ReadAll(io.LimitReader(src, maxInput+1))
	if err != nil {
		return nil, "", usagef("--input %s: reading %s: %v", v, what, err)
	}
	if len(data) > maxInput {
		return nil, "", usagef("--input %s: %s holds more than %d MiB, more than any NATS server takes in one message", v, what, maxInput>>20)
	}
	return data, what, nil
}

// inputUsageError says where the JSON input is wrong: line, column and byte
// offset, with the line itself and a caret under the column.
func inputUsageError(src, workflow string, data []byte, err error) error {
	var line, col int
	var cause error
	var ie *demo.InputError
	var je *jsonpayload.Error
	switch {
	case errors.As(err, &ie):
		line, col, cause = ie.Line, ie.Column, ie.Err
	case errors.As(err, &je):
		line, col, cause = je.Line, je.Column, je.Err
	default:
		return usagef("%s: %v", src, err)
	}
	if line == 0 {
		return usagef("%s: invalid %s input: %v", src, workflow, cause)
	}
	offset, text := lineAt(data, line, col)
	msg := fmt.Sprintf("%s: invalid %s input at line %d, column %d (byte offset %d): %v", src, workflow, line, col, offset, cause)
	if text != "" && len(text) <= 200 {
		msg += "\n  " + text + "\n  " + strings.Repeat(" ", max(col-1, 0)) + "^"
	}
	return usagef("%s", msg)
}

// lineAt returns the byte offset of a 1-based line and column and the text
// of that line.
func lineAt(data []byte, line, col int) (int, string) {
	start := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(string(data[start:]), '\n')
		if i < 0 {
			break
		}
		start += i + 1
	}
	end := len(data)
	if i := strings.IndexByte(string(data[start:]), '\n'); i >= 0 {
		end = start + i
	}
	return min(start+col-1, len(data)), strings.TrimRight(string(data[start:end]), "\r")
}

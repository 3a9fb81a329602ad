package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

func init() {
	register(command{name: "doctor", summary: "find runs owed progress that will not get it (and repair them with --repair)", run: runDoctor})
}

// runDoctor runs the sweeper's checks once over every run: what the sweeper
// in the workers does every 30 seconds, on demand and in the open.
func runDoctor(ctx context.Context, args []string) error {
	var f clientFlags
	fs := newFlagSet("doctor", os.Stderr)
	f.register(fs)
	grace := fs.Duration("grace", workflow.DefaultSweepGrace, "a run counts when it has not moved for this long")
	repair := fs.Bool("repair", false, "repair what can be repaired, as the sweeper would (default: only report)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *grace <= 0 {
		return usagef("--grace %s: want a positive duration", *grace)
	}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	cctx, cancel := context.WithTimeout(ctx, max(f.timeout, time.Minute))
	defer cancel()
	found, err := s.client.Doctor(cctx, *grace, *repair)
	if err != nil {
		return err
	}
	if f.json {
		if found == nil {
			found = []workflow.Finding{}
		}
		if err := printJSON(os.Stdout, found); err != nil {
			return err
		}
		for _, x := range found {
			if !x.Repaired {
				return &exitError{code: 1}
			}
		}
		return nil
	}
	if len(found) == 0 {
		fmt.Println("no run is owed progress it will not get")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWORKFLOW\tPROBLEM\tREPAIRED\tDETAIL")
	for _, x := range found {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", x.WorkflowID, x.Workflow, x.Problem, x.Repaired, x.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !*repair {
		fmt.Fprintln(os.Stderr, "run again with --repair to repair them (the sweeper in the workers does so by itself)")
	}
	for _, x := range found {
		if !x.Repaired {
			return &exitError{code: 1} // something is owed progress and not repaired
		}
	}
	return nil
}

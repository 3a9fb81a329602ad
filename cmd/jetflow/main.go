// Command jetflow is the one binary: an embedded NATS server, workers, a
// client and the demo of the source document's order saga.
//
//	jetflow demo [--json] [--orders N]   run the scenarios on an embedded server
//	jetflow server                        run NATS + JetStream standalone
//	jetflow worker                        run the demo's workflows and steps
//	jetflow start|status|result|history|watch|list|breakers   talk to runs
//	jetflow ui [--listen 127.0.0.1:PORT]    a web page of runs, timelines, breakers
//	jetflow init                          set a namespace's streams and buckets up
//	jetflow permissions ROLE              print a role's NATS permissions
//	jetflow bench                         measure throughput and latency
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand. Each lives in its own file and registers itself
// in an init function.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// exitError carries a chosen exit status (the demo exits 1 when a scenario
// does not end as expected).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "jetflow: unknown command %q\n\n", args[0])
		printUsage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, args[1:])
	if err == nil {
		return 0
	}
	var ue *usageError
	var ee *exitError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "jetflow %s: %v\n", c.name, err)
		return 2
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintf(os.Stderr, "jetflow %s: %s\n", c.name, ee.msg)
		}
		return ee.code
	default:
		fmt.Fprintf(os.Stderr, "jetflow %s: %v\n", c.name, err)
		return 1
	}
}

func printUsage() {
	fmt.Fprintln(os.Stderr, "usage: jetflow <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'jetflow <command> -h' for a command's flags.")
}

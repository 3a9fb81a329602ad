package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

func init() {
	register(command{name: "init", summary: "set up (or update) a namespace's streams and buckets, as an administrator", run: runInit})
}

type changeJSON struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Action string `json:"action"`
	Detail string `json:"detail,omitempty"`
}

func runInit(ctx context.Context, args []string) error {
	var f natsFlags
	var limits limitFlags
	var asJSON bool
	var timeout time.Duration
	fs := newFlagSet("init", os.Stderr)
	f.Register(fs)
	limits.Register(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of text")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "bound on talking to NATS")
	ackWait := fs.Duration("ack-wait", 30*time.Second, "the deployment's ack wait, which every worker shares (set only when given)")
	retention := fs.Duration("retention", workflow.DefaultRetention, "how long closed runs are kept, for every worker (set only when given)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	var shared []workflow.Option
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "ack-wait":
			shared = append(shared, workflow.WithAckWait(*ackWait))
		case "retention":
			shared = append(shared, workflow.WithRetention(*retention))
		}
	})
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return err
	}
	opts, err := limits.Options()
	if err != nil {
		return err
	}
	nc, err := f.Connect("jetflow-init", 3*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opts = append(append(opts, shared...), workflow.WithPrefix(f.Prefix), workflow.WithReplicas(f.Replicas))
	changes, err := workflow.Deploy(cctx, nc, opts...)
	if err != nil {
		return fmt.Errorf("setting up namespace %s: %w", f.Prefix, err)
	}
	if asJSON {
		out := make([]changeJSON, len(changes))
		for i, c := range changes {
			out[i] = changeJSON(c)
		}
		return printJSON(os.Stdout, out)
	}
	fmt.Printf("namespace %s on %s:\n", f.Prefix, nc.ConnectedUrlRedacted())
	for _, c := range changes {
		line := fmt.Sprintf("  %-6s %-24s %s", c.Kind, c.Name, c.Action)
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		fmt.Println(line)
	}
	return nil
}

// initEmbedded sets a namespace up on the server this process runs, over
// its own connection, so that clients may come before any worker. It
// reports and carries on when it cannot: the first worker, or `jetflow
// init`, does it then.
func initEmbedded(ctx context.Context, srv *embedded.Server, prefix string) {
	nc, err := srv.Connect(nats.Name("jetflow-server-init"), nats.MaxReconnects(0))
	if err != nil {
		fmt.Printf("namespace %s not set up (%v): the first worker, or `jetflow init`, sets it up\n", prefix, err)
		return
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	changes, err := workflow.Deploy(cctx, nc, workflow.WithPrefix(prefix))
	if err != nil {
		fmt.Printf("namespace %s not set up (%v): the first worker, or `jetflow init`, sets it up\n", prefix, err)
		return
	}
	n := map[string]int{}
	for _, c := range changes {
		n[c.Action]++
	}
	fmt.Printf("namespace %s ready: %d streams and buckets created, %d updated, %d unchanged\n", prefix, n["created"], n["updated"], n["unchanged"])
}

// initAtStart sets the namespace up when the server runs alone with the
// authentication of its flags, before it says it is ready: then `jetflow
// start` works before any worker. A cluster's members (JetStream is not up
// until they meet, and replicas are the operator's choice) and a server
// with --config (whose users the server cannot log in as) leave it to the
// first worker or `jetflow init`.
func (f *serverFlags) initAtStart(ctx context.Context, srv *embedded.Server) error {
	switch {
	case f.noInit:
		return nil
	case f.clusterListen != "" || f.config != "":
		fmt.Printf("namespaces are set up by the first worker, or by `jetflow init` as an administrator\n")
		return nil
	}
	if !steps.ValidName(f.prefix) {
		return usagef("--prefix %q: letters, digits, '-' and '_' only", f.prefix)
	}
	initEmbedded(ctx, srv, f.prefix)
	return nil
}

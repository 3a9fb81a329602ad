package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow/workerapp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func init() {
	register(command{name: "worker", summary: "run the demo's workflows and steps against a NATS server", run: runWorker})
}

// workerDemoFlags are what `jetflow worker` adds to the flags of every worker
// binary (package workerapp): which of the demo's workflows and steps to
// run, and how its simulated services behave.
type workerDemoFlags struct {
	workflows string
	steps     string
	ledger    string
	latency   time.Duration
	exercise  bool
}

// runWorker is package workerapp applied to the demo: the flags, logging,
// metrics and drain of any worker binary, plus the demo's own flags.
func runWorker(ctx context.Context, args []string) error {
	var f workerDemoFlags
	app := workerapp.New("jetflow worker")
	fs := app.Flags()
	fs.StringVar(&f.workflows, "workflows", "all", "workflows to run: all, none, or a comma-separated list of "+strings.Join(demo.WorkflowNames(), ", "))
	fs.StringVar(&f.steps, "steps", "all", "steps to run: all, none, or a comma-separated list of "+strings.Join(demo.StepNames(), ", "))
	fs.StringVar(&f.ledger, "ledger", "kv", "where the simulated services record their effects: kv (a bucket all workers share) or memory")
	fs.DurationVar(&f.latency, "latency", 0, "simulated latency of the demo's services, added to every step attempt")
	fs.BoolVar(&f.exercise, "exercise", false, "also run the exercise workflows ("+strings.Join(exerciseNames(), ", ")+") and their steps (Tally, Mark, Unmark), which the chaos harness starts beside the order saga")
	var wfs, sts []string
	app.Check(func() error {
		if f.latency < 0 {
			return usagef("--latency %s: want 0 or more", f.latency)
		}
		if f.ledger != "kv" && f.ledger != "memory" {
			return usagef("--ledger %q: want kv or memory", f.ledger)
		}
		var err error
		if wfs, err = pickNames("--workflows", f.workflows, demo.WorkflowNames()); err != nil {
			return err
		}
		if sts, err = pickNames("--steps", f.steps, demo.StepNames()); err != nil {
			return err
		}
		if len(wfs) == 0 && len(sts) == 0 && !f.exercise {
			return usagef("--workflows none and --steps none: nothing to run")
		}
		return nil
	})
	app.Setup(func(ctx context.Context, env workerapp.Env) error {
		var ledger demo.Ledger
		if f.ledger == "kv" {
			var err error
			if ledger, err = openLedger(ctx, env.Conn, env.Prefix, env.Replicas); err != nil {
				return err
			}
		}
		svc := demo.NewServices(ledger)
		for _, d := range demo.Workflows() {
			if slices.Contains(wfs, d.Name()) {
				app.Register(d)
			}
		}
		for _, h := range svc.Handlers() {
			if slices.Contains(sts, h.Name()) {
				if f.latency > 0 {
					h = &slowStep{Handler: h, latency: f.latency}
				}
				app.RegisterSteps(h)
			}
		}
		if f.exercise {
			// Their step takes its delay from its input (the chaos harness
			// sizes each shape), so --latency does not apply to it.
			for _, d := range demo.Exercises() {
				app.Register(d)
			}
			app.RegisterSteps(svc.ExerciseHandlers()...)
		}
		return nil
	})
	return helpExits(app.Run(ctx, args))
}

// pickNames reads a --workflows or --steps value against the known names.
func pickNames(flagName, value string, known []string) ([]string, error) {
	want := demo.ParseList(value)
	if want == nil {
		return known, nil
	}
	for _, n := range want {
		if !slices.Contains(known, n) {
			return nil, usagef("%s: unknown name %q (known: %s)", flagName, n, strings.Join(known, ", "))
		}
	}
	return want, nil
}

// exerciseNames lists the workflows --exercise adds.
func exerciseNames() []string {
	var out []string
	for _, d := range demo.Exercises() {
		out = append(out, d.Name())
	}
	return out
}

// ledgerBucket names the bucket where the demo's services of every worker
// record their effects.
func ledgerBucket(prefix string) string { return prefix + "_demo_ledger" }

// openLedger opens the shared ledger, creating its bucket with the
// namespace's replicas so that it survives a server loss like the engine's.
func openLedger(ctx context.Context, nc *nats.Conn, prefix string, replicas int) (demo.Ledger, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ledgerBucket(prefix), Description: "jetflow demo: effects of the simulated services", Replicas: replicas})
	if err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
		return nil, fmt.Errorf("creating the ledger bucket: %w", err)
	}
	return demo.OpenKVLedger(ctx, js, ledgerBucket(prefix))
}

// slowStep delays a step's handler, as a remote service would.
type slowStep struct {
	steps.Handler
	latency time.Duration
}

func (s *slowStep) Invoke(ctx context.Context, input []byte) ([]byte, error) {
	t := time.NewTimer(s.latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Handler.Invoke(ctx, input)
}

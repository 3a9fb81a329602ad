package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/metrics"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func init() {
	register(command{name: "worker", summary: "run the demo's workflows and steps against a NATS server", run: runWorker})
}

type workerFlags struct {
	nats         natsFlags
	name         string
	workflows    string
	steps        string
	concurrency  int
	drainTimeout time.Duration
	sweep        time.Duration
	sweepGrace   time.Duration
	ackWait      time.Duration
	metricsAddr  string
	metricsToken secret
	insecureMet  bool
	logFormat    string
	logLevel     string
	ledger       string
	latency      time.Duration
	limits       limitFlags
	exercise     bool
}

func runWorker(ctx context.Context, args []string) error {
	var f workerFlags
	fs := newFlagSet("worker", os.Stderr)
	f.nats.register(fs)
	host, _ := os.Hostname()
	defName := fmt.Sprintf("%s-%d", host, os.Getpid())
	fs.StringVar(&f.name, "name", defName, "worker name in events, logs and metrics")
	fs.StringVar(&f.workflows, "workflows", "all", "workflows to run: all, none, or a comma-separated list of "+strings.Join(demo.WorkflowNames(), ", "))
	fs.StringVar(&f.steps, "steps", "all", "steps to run: all, none, or a comma-separated list of "+strings.Join(demo.StepNames(), ", "))
	fs.IntVar(&f.concurrency, "concurrency", 64, "tasks run at once per workflow type and per step")
	fs.DurationVar(&f.sweep, "sweep-interval", workflow.DefaultSweepInterval, "how often the sweeper looks for runs owed progress (one worker sweeps at a time; 0: this worker never sweeps)")
	fs.DurationVar(&f.sweepGrace, "sweep-grace", workflow.DefaultSweepGrace, "how long a run must have not moved before the sweeper looks at what it waits on")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long tasks in flight get to finish before they are released to other workers")
	fs.DurationVar(&f.ackWait, "ack-wait", 30*time.Second, "how long a crashed worker's task waits before another worker gets it; shared by the deployment: without the flag a worker takes the one in force, with a different one it is refused")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (host:port; empty = off); beyond loopback it needs a metrics token or --insecure-metrics")
	f.metricsToken = secret{fileFlag: "--metrics-token-file", env: "JETFLOW_METRICS_TOKEN"}
	fs.StringVar(&f.metricsToken.file, "metrics-token-file", "", "require this bearer token (read from the file; or $JETFLOW_METRICS_TOKEN) on /metrics")
	fs.BoolVar(&f.insecureMet, "insecure-metrics", false, "allow a non-loopback --metrics-addr without a metrics token")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.ledger, "ledger", "kv", "where the simulated services record their effects: kv (a bucket all workers share) or memory")
	fs.DurationVar(&f.latency, "latency", 0, "simulated latency of the demo's services, added to every step attempt")
	f.limits.register(fs)
	fs.BoolVar(&f.exercise, "exercise", false, "also run the exercise workflows ("+strings.Join(exerciseNames(), ", ")+") and their step Tally, which the chaos harness starts beside the order saga")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	// The ack wait is the deployment's: pass it on only when asked for, so
	// that a worker without the flag takes the one in force.
	var shared []workflow.Option
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "ack-wait" {
			shared = append(shared, workflow.WithAckWait(f.ackWait))
		}
	})
	log, err := newLogger(f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	if err := f.nats.validate(); err != nil {
		return err
	}
	if f.concurrency < 1 {
		return usagef("--concurrency %d: want 1 or more", f.concurrency)
	}
	if f.sweep < 0 || f.sweep > 0 && f.sweep < 100*time.Millisecond || f.sweepGrace <= 0 {
		return usagef("--sweep-interval %s --sweep-grace %s: want an interval of 0 (off) or 100ms and more, and a positive grace", f.sweep, f.sweepGrace)
	}
	if f.drainTimeout < 0 {
		return usagef("--drain-timeout %s: want 0 or more", f.drainTimeout)
	}
	if f.ackWait < 100*time.Millisecond {
		return usagef("--ack-wait %s: want at least 100ms", f.ackWait)
	}
	if f.latency < 0 {
		return usagef("--latency %s: want 0 or more", f.latency)
	}
	if f.ledger != "kv" && f.ledger != "memory" {
		return usagef("--ledger %q: want kv or memory", f.ledger)
	}
	if f.name == "" {
		return usagef("--name: empty")
	}
	var serveOpts []metrics.ServeOption
	if f.metricsAddr != "" {
		token, err := f.metricsToken.resolve()
		if err != nil {
			return err
		}
		serveOpts = append(serveOpts, metrics.WithBearerToken(token))
		if f.insecureMet {
			serveOpts = append(serveOpts, metrics.AllowInsecure())
		}
		// Refused before connecting, like every other bad flag.
		if err := metrics.CheckAddr(f.metricsAddr, serveOpts...); errors.Is(err, metrics.ErrInsecureListen) {
			return usagef("refusing to serve metrics on %s without authentication.\n"+
				"Keep --metrics-addr on loopback (127.0.0.1:PORT), set --metrics-token-file (or $JETFLOW_METRICS_TOKEN) and scrape with that bearer token, "+
				"or pass --insecure-metrics if the network is trusted.", f.metricsAddr)
		} else if err != nil {
			return usagef("--metrics-addr: %v", err)
		}
	}
	wfs, err := pickNames("--workflows", f.workflows, demo.WorkflowNames())
	if err != nil {
		return err
	}
	sts, err := pickNames("--steps", f.steps, demo.StepNames())
	if err != nil {
		return err
	}
	if len(wfs) == 0 && len(sts) == 0 && !f.exercise {
		return usagef("--workflows none and --steps none: nothing to run")
	}
	limits, err := f.limits.options()
	if err != nil {
		return err
	}

	nc, err := f.nats.connect("jetflow-worker " + f.name)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		if err != nil {
			log.Warn("disconnected from NATS", "err", err)
		}
	})
	nc.SetReconnectHandler(func(c *nats.Conn) { log.Info("reconnected to NATS", "url", c.ConnectedUrlRedacted()) })

	opts := append(append(limits, shared...),
		workflow.WithName(f.name), workflow.WithPrefix(f.nats.prefix), workflow.WithReplicas(f.nats.replicas),
		workflow.WithStepConcurrency(f.concurrency), workflow.WithWorkflowConcurrency(f.concurrency),
		workflow.WithDrainTimeout(f.drainTimeout), workflow.WithLogger(log),
		workflow.WithSweeper(f.sweep, f.sweepGrace))
	// A server that has just started (a cluster still electing its
	// JetStream leader) answers late or not at all: wait for it as for the
	// connection, saying so once.
	w, err := setUpWorker(ctx, nc, log, max(f.nats.connectWait, 30*time.Second), opts)
	if err != nil {
		return fmt.Errorf("setting up the worker: %w", err)
	}
	var ledger demo.Ledger
	if f.ledger == "kv" {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if ledger, err = openLedger(sctx, nc, f.nats.prefix, f.nats.replicas); err != nil {
			return err
		}
	}
	svc := demo.NewServices(ledger)
	m := metrics.New(w.Name())
	m.Attach(w)
	for _, d := range demo.Workflows() {
		if slices.Contains(wfs, d.Name()) {
			if err := w.RegisterWorkflow(d); err != nil {
				return fmt.Errorf("registering workflow %s: %w", d.Name(), err)
			}
		}
	}
	for _, h := range svc.Handlers() {
		if slices.Contains(sts, h.Name()) {
			if f.latency > 0 {
				h = &slowStep{Handler: h, latency: f.latency}
			}
			if err := w.RegisterStep(m.Step(h)); err != nil {
				return fmt.Errorf("registering step %s: %w", h.Name(), err)
			}
		}
	}
	if f.exercise {
		// Their step takes its delay from its input (the chaos harness sizes
		// each shape), so --latency does not apply to it.
		for _, d := range demo.Exercises() {
			if err := w.RegisterWorkflow(d); err != nil {
				return fmt.Errorf("registering workflow %s: %w", d.Name(), err)
			}
		}
		for _, h := range svc.ExerciseHandlers() {
			if err := w.RegisterStep(m.Step(h)); err != nil {
				return fmt.Errorf("registering step %s: %w", h.Name(), err)
			}
		}
		wfs = append(slices.Clone(wfs), exerciseNames()...)
		sts = append(slices.Clone(sts), demo.Tally.Name())
	}
	if f.metricsAddr != "" {
		addr, err := m.Serve(ctx, f.metricsAddr, serveOpts...)
		if err != nil {
			return usagef("--metrics-addr: %v", err)
		}
		log.Info("serving metrics", "url", "http://"+addr.String()+"/metrics")
	}

	// A second signal during the drain stops at once.
	var drainStart atomic.Int64
	context.AfterFunc(ctx, func() {
		drainStart.Store(time.Now().UnixNano())
		log.Info("draining: no new tasks; tasks in flight get the drain timeout", "drain_timeout", f.drainTimeout)
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		<-ch
		log.Warn("second signal: exiting without draining")
		os.Exit(1)
	})
	log.Info("worker running", "worker", w.Name(), "nats", nc.ConnectedUrlRedacted(),
		"workflows", strings.Join(wfs, ","), "steps", strings.Join(sts, ","), "concurrency", f.concurrency)
	if err := w.Run(ctx); err != nil {
		var dt *workflow.DrainTimeoutError
		if !errors.As(err, &dt) {
			return err
		}
		// Nothing is lost: what was still running goes to another worker.
		log.Warn("drain timed out; tasks in flight handed back for redelivery", "drain_timeout", dt.Timeout.String(), "handed_back", dt.HandedBack)
	}
	if t0 := drainStart.Load(); t0 != 0 {
		log.Info("worker stopped", "worker", w.Name(), "drained_in", time.Since(time.Unix(0, t0)).Round(time.Millisecond).String())
	} else {
		log.Info("worker stopped", "worker", w.Name())
	}
	return nil
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

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
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

// setUpWorker is workflow.NewWorker, tried again while JetStream does not
// answer yet, for up to wait.
func setUpWorker(ctx context.Context, nc *nats.Conn, log *slog.Logger, wait time.Duration, opts []workflow.Option) (*workflow.Worker, error) {
	deadline := time.Now().Add(wait)
	said := false
	for {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		w, err := workflow.NewWorker(sctx, nc, opts...)
		cancel()
		if err == nil || !jetStreamNotReady(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return w, err
		}
		if !said {
			log.Info("waiting for JetStream to answer", "up_to", wait.String(), "err", err)
			said = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// jetStreamNotReady says whether a setup error is JetStream not answering
// yet rather than a refusal.
func jetStreamNotReady(err error) bool {
	msg := err.Error()
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		strings.Contains(msg, "temporarily unavailable") || strings.Contains(msg, "no suitable peers") ||
		strings.Contains(msg, "JetStream not enabled") || strings.Contains(msg, "context deadline exceeded")
}

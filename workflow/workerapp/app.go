package workerapp

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cli"
	"github.com/jetflow-dev/jetflow/internal/metrics"
	"github.com/jetflow-dev/jetflow/internal/tracing"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

// App is a worker binary: the workflows and steps it serves, its flags, and
// the extras its caller added. Configure it (Register, RegisterSteps, Flags,
// Check, Setup, WorkerOptions) before Main or Run, from one goroutine; it
// runs once.
type App struct {
	program string
	out     io.Writer
	stdout  io.Writer
	fs      *flag.FlagSet
	f       flags

	workflows []workflow.Registrable
	steps     []steps.Handler
	checks    []func() error
	setups    []func(context.Context, Env) error
	opts      []workflow.Option
}

// flags are the flags of `jetflow worker` that every worker binary takes.
type flags struct {
	nats         cli.NATSFlags
	limits       cli.LimitFlags
	name         string
	concurrency  int
	drainTimeout time.Duration
	sweep        time.Duration
	sweepGrace   time.Duration
	ackWait      time.Duration
	metricsAddr  string
	metricsToken cli.Secret
	insecureMet  bool
	logFormat    string
	logLevel     string
	otelEndpoint string
}

// Env is what a Setup function gets once the worker is connected: what it
// needs to open resources of its own beside jetflow's.
type Env struct {
	// Conn is the worker's connection to NATS. The App closes it.
	Conn *nats.Conn
	// Prefix is the namespace (--prefix) and Replicas the replicas of the
	// streams and buckets the worker creates (--replicas): give buckets of
	// your own the same, so that they survive what jetflow's survive.
	Prefix   string
	Replicas int
	// Worker is the worker's name (--name).
	Worker string
	// Logger is the worker's logger (--log-format, --log-level).
	Logger *slog.Logger
}

// New returns an App named program: the name its usage, its errors and its
// NATS connection go by ("orders-worker"). Its flags are registered at once,
// so Flags can add to them or change their defaults.
func New(program string) *App {
	a := &App{program: program, out: os.Stderr, stdout: os.Stdout}
	a.fs = cli.NewFlagSet(program, os.Stderr)
	f := &a.f
	f.nats.Register(a.fs)
	host, _ := os.Hostname()
	a.fs.StringVar(&f.name, "name", fmt.Sprintf("%s-%d", host, os.Getpid()), "worker name in events, logs and metrics")
	a.fs.IntVar(&f.concurrency, "concurrency", 64, "tasks run at once per workflow type and per step")
	a.fs.DurationVar(&f.sweep, "sweep-interval", workflow.DefaultSweepInterval, "how often the sweeper looks for runs owed progress (one worker sweeps at a time; 0: this worker never sweeps)")
	a.fs.DurationVar(&f.sweepGrace, "sweep-grace", workflow.DefaultSweepGrace, "how long a run must have not moved before the sweeper looks at what it waits on")
	a.fs.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long tasks in flight get to finish before they are released to other workers")
	a.fs.DurationVar(&f.ackWait, "ack-wait", 30*time.Second, "how long a crashed worker's task waits before another worker gets it; shared by the deployment: without the flag a worker takes the one in force, with a different one it is refused")
	a.fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (host:port; empty = off); beyond loopback it needs a metrics token or --insecure-metrics")
	f.metricsToken = cli.Secret{FileFlag: "--metrics-token-file", Env: "JETFLOW_METRICS_TOKEN"}
	a.fs.StringVar(&f.metricsToken.File, "metrics-token-file", "", "require this bearer token (read from the file; or $JETFLOW_METRICS_TOKEN) on /metrics")
	a.fs.BoolVar(&f.insecureMet, "insecure-metrics", false, "allow a non-loopback --metrics-addr without a metrics token")
	a.fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	a.fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	a.fs.StringVar(&f.otelEndpoint, "otel-endpoint", "", "export OpenTelemetry traces over OTLP/HTTP to this collector URL (http://HOST:4318); without it, $OTEL_EXPORTER_OTLP_ENDPOINT does; neither: traces are off")
	f.limits.Register(a.fs)
	return a
}

// Register adds workflows for the worker to run. Duplicate names are
// refused when the App runs.
func (a *App) Register(defs ...workflow.Registrable) { a.workflows = append(a.workflows, defs...) }

// RegisterSteps adds steps for the worker to run; their attempts are
// counted in the metrics.
func (a *App) RegisterSteps(handlers ...steps.Handler) { a.steps = append(a.steps, handlers...) }

// Flags returns the App's flag set, to add flags of the caller's own or to
// change a default (Flags().Set("concurrency", "8") before Main). Its
// values are read when Main or Run parses the command line.
func (a *App) Flags() *flag.FlagSet { return a.fs }

// SetOutput sets where the logs, -h, Main's errors and the replay
// command's report go (standard error, and standard output for the report,
// by default).
func (a *App) SetOutput(w io.Writer) {
	a.out, a.stdout = w, w
	a.fs.SetOutput(w)
}

// Check adds a function run after the flags are parsed and checked, before
// anything connects: the place to check flags the caller added. An error
// made with Usagef is a usage error (Main exits 2).
func (a *App) Check(fn func() error) { a.checks = append(a.checks, fn) }

// Setup adds a function run once the worker is connected and has set up
// the namespace, before it registers what it runs and takes tasks: the
// place to open what steps need (a bucket, a client) and to Register or
// RegisterSteps what depends on it or on a flag. ctx is bounded by the
// set-up timeout (30s).
func (a *App) Setup(fn func(ctx context.Context, env Env) error) { a.setups = append(a.setups, fn) }

// WorkerOptions adds options of the worker. They are applied after the
// ones the flags set, so for a setting a flag also controls they win; to
// change a flag's default instead, use Flags().Set.
func (a *App) WorkerOptions(opts ...workflow.Option) { a.opts = append(a.opts, opts...) }

// Main runs the App with the command-line arguments (without the program
// name) until SIGINT or SIGTERM and the drain that follows, prints what
// went wrong, and returns the exit status: 0 after a drain (and after -h),
// 2 for a bad flag, 1 for any other error.
//
//	os.Exit(app.Main(os.Args[1:]))
func (a *App) Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := a.Run(ctx, args)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(a.out, "%s: %v\n", a.program, err)
		return 2
	default:
		fmt.Fprintf(a.out, "%s: %v\n", a.program, err)
		return 1
	}
}

// Run parses args, connects, sets the namespace up, registers the
// workflows and steps and runs them until ctx ends; then it drains: no new
// task is taken, and tasks in flight get --drain-timeout to finish before
// they are released to other workers (a drain that times out is logged,
// and Run returns nil: nothing is lost). A SIGINT or SIGTERM during the
// drain exits the process at once with status 1.
//
// Settings the deployment shares (the ack wait) are passed on only when
// their flag is given: a worker without --ack-wait takes the one in force,
// one with a different value gets an error naming both.
//
// The worker logs through the logger the flags describe, which Run also
// makes slog's default. A bad flag gives an error matching ErrUsage; -h
// prints the flags and returns flag.ErrHelp.
//
// `replay FILE...` as the first arguments replays saved histories against
// the registered workflows instead (see the package doc); it prints a line
// per file on standard output and returns an error matching
// ErrReplayFailed when one does not replay.
func (a *App) Run(ctx context.Context, args []string) error {
	if isReplay(args) {
		err := a.replay(args[1:], a.stdout)
		if errors.Is(err, ErrReplayFailed) {
			return err
		}
		return asUsage(err)
	}
	return asUsage(a.run(ctx, args))
}

func (a *App) run(ctx context.Context, args []string) error {
	f := &a.f
	pos, err := cli.ParseArgs(a.fs, args)
	if err != nil {
		return err
	}
	if err := cli.WantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	log, err := cli.NewLogger(a.out, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	serveOpts, err := a.check()
	if err != nil {
		return err
	}
	limits, err := f.limits.Options()
	if err != nil {
		return err
	}
	// The ack wait is the deployment's: pass it on only when asked for, so
	// that a worker without the flag takes the one in force.
	a.fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "ack-wait" {
			limits = append(limits, workflow.WithAckWait(f.ackWait))
		}
	})
	for _, check := range a.checks {
		if err := check(); err != nil {
			return err
		}
	}
	if len(a.workflows) == 0 && len(a.steps) == 0 && len(a.setups) == 0 {
		return Usagef("nothing to run: no workflow or step registered")
	}

	stopTraces, err := tracing.Export(ctx, f.otelEndpoint, strings.ReplaceAll(a.program, " ", "-"))
	if err != nil {
		return Usagef("--otel-endpoint: %v", err)
	}
	defer func() {
		// Spans still buffered go out before the process ends.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTraces(sctx); err != nil {
			log.Warn("exporting the last traces", "err", err)
		}
	}()
	if tracing.Configured(f.otelEndpoint) {
		log.Info("exporting traces over OTLP", "endpoint", cmp.Or(f.otelEndpoint, "from OTEL_EXPORTER_OTLP_* variables"))
	}

	nc, err := f.nats.Connect(strings.ReplaceAll(a.program, " ", "-")+" "+f.name, 10*time.Second)
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

	opts := append(limits,
		workflow.WithName(f.name), workflow.WithPrefix(f.nats.Prefix), workflow.WithReplicas(f.nats.Replicas),
		workflow.WithStepConcurrency(f.concurrency), workflow.WithWorkflowConcurrency(f.concurrency),
		workflow.WithDrainTimeout(f.drainTimeout), workflow.WithLogger(log),
		workflow.WithSweeper(f.sweep, f.sweepGrace))
	// A server that has just started (a cluster still electing its
	// JetStream leader) answers late or not at all: wait for it as for the
	// connection, saying so once.
	w, err := setUpWorker(ctx, nc, log, max(f.nats.ConnectWait, 30*time.Second), append(opts, a.opts...))
	if err != nil {
		return fmt.Errorf("setting up the worker: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	env := Env{Conn: nc, Prefix: f.nats.Prefix, Replicas: f.nats.Replicas, Worker: w.Name(), Logger: log}
	for _, setup := range a.setups {
		if err := setup(sctx, env); err != nil {
			return err
		}
	}
	if len(a.workflows) == 0 && len(a.steps) == 0 {
		return errors.New("workerapp: nothing to run: no workflow or step registered")
	}
	m := metrics.New(w.Name())
	m.Attach(w)
	var wfNames, stepNames []string
	for _, d := range a.workflows {
		if err := w.RegisterWorkflow(d); err != nil {
			return fmt.Errorf("registering workflow %s: %w", d.Name(), err)
		}
		wfNames = append(wfNames, d.Name())
	}
	for _, h := range a.steps {
		if err := w.RegisterStep(m.Step(h)); err != nil {
			return fmt.Errorf("registering step %s: %w", h.Name(), err)
		}
		stepNames = append(stepNames, h.Name())
	}
	if f.metricsAddr != "" {
		addr, err := m.Serve(ctx, f.metricsAddr, serveOpts...)
		if err != nil {
			return Usagef("--metrics-addr: %v", err)
		}
		log.Info("serving metrics", "url", "http://"+addr.String()+"/metrics")
	}

	var drainStart atomic.Int64
	running := make(chan struct{})
	defer close(running)
	stopDrainLog := context.AfterFunc(ctx, func() {
		drainStart.Store(time.Now().UnixNano())
		log.Info("draining: no new tasks; tasks in flight get the drain timeout", "drain_timeout", f.drainTimeout)
		// A second signal during the drain stops at once.
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(ch)
		select {
		case <-ch:
			log.Warn("second signal: exiting without draining")
			os.Exit(1)
		case <-running:
		}
	})
	defer stopDrainLog()
	log.Info("worker running", "worker", w.Name(), "nats", nc.ConnectedUrlRedacted(),
		"workflows", strings.Join(wfNames, ","), "steps", strings.Join(stepNames, ","), "concurrency", f.concurrency)
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

// check validates the App's own flags before anything connects, and
// returns how to serve the metrics.
func (a *App) check() ([]metrics.ServeOption, error) {
	f := &a.f
	if err := f.nats.Validate(); err != nil {
		return nil, err
	}
	if f.concurrency < 1 {
		return nil, Usagef("--concurrency %d: want 1 or more", f.concurrency)
	}
	if f.sweep < 0 || f.sweep > 0 && f.sweep < 100*time.Millisecond || f.sweepGrace <= 0 {
		return nil, Usagef("--sweep-interval %s --sweep-grace %s: want an interval of 0 (off) or 100ms and more, and a positive grace", f.sweep, f.sweepGrace)
	}
	if f.drainTimeout < 0 {
		return nil, Usagef("--drain-timeout %s: want 0 or more", f.drainTimeout)
	}
	if f.ackWait < 100*time.Millisecond {
		return nil, Usagef("--ack-wait %s: want at least 100ms", f.ackWait)
	}
	if f.name == "" {
		return nil, Usagef("--name: empty")
	}
	if f.metricsAddr == "" {
		return nil, nil
	}
	token, err := f.metricsToken.Resolve()
	if err != nil {
		return nil, err
	}
	opts := []metrics.ServeOption{metrics.WithBearerToken(token)}
	if f.insecureMet {
		opts = append(opts, metrics.AllowInsecure())
	}
	// Refused before connecting, like every other bad flag.
	if err := metrics.CheckAddr(f.metricsAddr, opts...); errors.Is(err, metrics.ErrInsecureListen) {
		return nil, Usagef("refusing to serve metrics on %s without authentication.\n"+
			"Keep --metrics-addr on loopback (127.0.0.1:PORT), set --metrics-token-file (or $JETFLOW_METRICS_TOKEN) and scrape with that bearer token, "+
			"or pass --insecure-metrics if the network is trusted.", f.metricsAddr)
	} else if err != nil {
		return nil, Usagef("--metrics-addr: %v", err)
	}
	return opts, nil
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

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/embedded"
	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

func init() {
	register(command{name: "demo", summary: "run the source document's order saga scenarios [--json] [--orders N [--primary-down PCT] [--breaker consecutive|rate]]",
		run: func(ctx context.Context, args []string) error { return runDemo(ctx, args, os.Stdout, os.Stderr) }})
}

type demoFlags struct {
	nats      natsFlags
	json      bool
	orders    int
	data      string
	scenarios string
	seed      uint64
	workers   int
	timeout   time.Duration
	verbose   bool
	// primaryDown and breaker shape --orders: the share of orders whose
	// primary payment channel is down, and that channel's breaker policy.
	primaryDown int
	breaker     string
	// cancel and threeDS are the shares of --orders canceled at a random
	// point and requiring 3-D Secure.
	cancel  int
	threeDS int
}

// runDemo runs the scenarios (and --orders random orders) on an embedded
// server or, with --nats, an external one, with in-process workers. Results
// go to stdout, progress to stderr. It returns an *exitError with status 1
// when anything ended other than expected.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f demoFlags
	fs := newFlagSet("demo", stderr)
	f.nats.RegisterEmbedded(fs)
	fs.BoolVar(&f.json, "json", false, "print one JSON object per scenario (and one for --orders) instead of a table")
	fs.IntVar(&f.orders, "orders", 0, "after the scenarios, run N random orders with a failure mix and print counts by status")
	fs.StringVar(&f.data, "data", "", "JetStream store directory of the embedded server (default: a temporary one, removed at exit)")
	fs.StringVar(&f.scenarios, "scenarios", "all", "scenarios to run: all, none, or a comma-separated list of "+strings.Join(demo.ScenarioNames(), ", "))
	fs.Uint64Var(&f.seed, "seed", 0, "seed of --orders (default: the clock)")
	fs.IntVar(&f.workers, "workers", 2, "in-process workers")
	fs.DurationVar(&f.timeout, "run-timeout", 30*time.Second, "bound on each run")
	fs.BoolVar(&f.verbose, "v", false, "log the workers (and the workflow's own log lines) to stderr")
	fs.IntVar(&f.primaryDown, "primary-down", demo.DefaultPrimaryDown, "percentage of --orders whose primary payment channel is down (0 to 68, taken from the healthy orders)")
	fs.StringVar(&f.breaker, "breaker", demo.BreakerConsecutive, "policy of the primary payment channel's breaker for --orders: "+
		demo.BreakerConsecutive+" ("+demo.DescribeBreaker(demo.BreakerConsecutive)+") or "+demo.BreakerRate+" ("+demo.DescribeBreaker(demo.BreakerRate)+")")
	fs.IntVar(&f.cancel, "cancel", demo.DefaultCancelPercent, fmt.Sprintf("percentage of --orders canceled at a random point (up to %s after they start)", demo.MaxCancelDelay))
	fs.IntVar(&f.threeDS, "3ds", demo.Default3DSPercent, "percentage of --orders requiring a 3-D Secure confirmation (half approved, a quarter declined, a quarter never answered)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	external := false
	fs.Visit(func(fl *flag.Flag) { external = external || fl.Name == "nats" || fl.Name == "server" })
	scenarios, err := pickScenarios(f.scenarios)
	if err != nil {
		return err
	}
	switch {
	case f.orders < 0:
		return usagef("--orders %d: want 0 or more", f.orders)
	case f.workers < 1 || f.workers > 64:
		return usagef("--workers %d: want 1 to 64", f.workers)
	case f.timeout <= 0:
		return usagef("--run-timeout %s: want a positive duration", f.timeout)
	case !slices.Contains(demo.BreakerPolicies(), f.breaker):
		return usagef("--breaker %q: want %s", f.breaker, strings.Join(demo.BreakerPolicies(), " or "))
	case f.cancel < 0 || f.cancel > 100:
		return usagef("--cancel %d: want 0 to 100", f.cancel)
	case f.threeDS < 0 || f.threeDS > 100:
		return usagef("--3ds %d: want 0 to 100", f.threeDS)
	case external && f.data != "":
		return usagef("--data is the embedded server's store; it does not go with --nats")
	}
	if err := f.nats.Validate(); err != nil {
		return err
	}
	if _, err := demo.MixWithPrimaryDown(f.primaryDown); err != nil {
		return usagef("--primary-down %d: want 0 to 68", f.primaryDown)
	}
	if f.seed == 0 {
		f.seed = uint64(time.Now().UnixNano())
	}

	// The server: embedded in a (temporary) folder, or the one --nats names.
	var nc *nats.Conn
	where := ""
	if external {
		if nc, err = f.nats.Connect("jetflow-demo", 3*time.Second); err != nil {
			return err
		}
		where = "NATS at " + nc.ConnectedUrlRedacted()
	} else {
		dir := f.data
		if dir == "" {
			d, remove, err := embedded.TempDir()
			if err != nil {
				return fmt.Errorf("creating a store directory: %w", err)
			}
			defer remove()
			dir = d
		}
		srv, err := embedded.Start(embedded.Options{StoreDir: dir, DontListen: true})
		if err != nil {
			return fmt.Errorf("starting the embedded server: %w", err)
		}
		defer srv.Shutdown()
		if nc, err = srv.Connect(nats.Name("jetflow-demo")); err != nil {
			return fmt.Errorf("connecting to the embedded server: %w", err)
		}
		where = "embedded NATS + JetStream in " + dir
	}
	defer nc.Close()

	level := slog.LevelError
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts := []workflow.Option{workflow.WithPrefix(f.nats.Prefix), workflow.WithReplicas(f.nats.Replicas), workflow.WithLogger(log)}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	svc := demo.NewServices(nil)
	stopWorkers, err := startDemoWorkers(sctx, nc, svc, f.workers, opts)
	if err != nil {
		return err
	}
	defer stopWorkers()
	client, err := workflow.NewClient(sctx, nc, opts...)
	if err != nil {
		return fmt.Errorf("setting up the client: %w", err)
	}

	pr := newDemoProgress(stderr, len(scenarios))
	env := &demo.Env{
		Client: client, Services: svc, NC: nc, Prefix: f.nats.Prefix,
		IDPrefix:   "demo-" + strconv.FormatInt(time.Now().UnixMilli(), 36),
		RunTimeout: f.timeout,
		OnRun:      pr.run,
		OnTransition: func(t demo.Transition) {
			pr.line("breaker " + describeTransition(t))
		},
	}
	unwatch, err := pr.watch(nc, f.nats.Prefix)
	if err != nil {
		return err
	}
	defer unwatch()

	if !f.json {
		what := fmt.Sprintf("%d scenarios", len(scenarios))
		if f.orders > 0 {
			what += fmt.Sprintf(" and %d random orders", f.orders)
		}
		fmt.Fprintf(stdout, "jetflow demo: %s on %s, %d in-process workers\n\n", what, where, f.workers)
	}
	start := time.Now()
	var results []demo.Result
	for i, name := range scenarios {
		pr.begin(i+1, name)
		r, err := demo.RunScenario(ctx, env, name)
		if err != nil {
			return err
		}
		pr.end(r)
		results = append(results, r)
		if f.json {
			if err := writeJSONLine(stdout, r); err != nil {
				return err
			}
		}
	}
	pr.clear()
	var failed []string
	for _, r := range results {
		if !r.OK {
			failed = append(failed, r.Scenario)
		}
	}
	if !f.json && len(results) > 0 {
		printScenarioTable(stdout, results)
		printBreakerReport(stdout, results)
		printTalkReports(stdout, results)
		printScheduleReports(stdout, results)
		printBreakerStates(ctx, stdout, client)
		fmt.Fprintf(stdout, "\n%d of %d scenarios ended as expected in %s.\n", len(results)-len(failed), len(results), time.Since(start).Round(10*time.Millisecond))
	}

	var unexpected int
	if f.orders > 0 && ctx.Err() == nil {
		p := newProgress(stderr, true)
		p.label = "orders"
		p.start(f.orders)
		breaker := f.breaker
		if breaker == demo.BreakerConsecutive {
			breaker = "" // the document's input, as the scenarios run it
		}
		rep, err := env.RunOrders(ctx, f.orders, demo.OrdersOptions{Seed: f.seed, Concurrency: 32, PrimaryDown: &f.primaryDown, Breaker: breaker,
			CancelPercent: &f.cancel, ThreeDSPercent: &f.threeDS,
			Progress: func(done, _ int) { p.tick(done) }})
		p.done()
		if err != nil {
			return err
		}
		unexpected = len(rep.Unexpected)
		if f.json {
			if err := writeJSONLine(stdout, rep); err != nil {
				return err
			}
		} else {
			printOrdersReport(stdout, rep)
		}
	}

	switch {
	case ctx.Err() != nil:
		return &exitError{code: 1, msg: "interrupted"}
	case len(failed) > 0 && unexpected > 0:
		return &exitError{code: 1, msg: fmt.Sprintf("scenarios not as expected: %s; %d random orders not as expected", strings.Join(failed, ", "), unexpected)}
	case len(failed) > 0:
		return &exitError{code: 1, msg: "scenarios not as expected: " + strings.Join(failed, ", ")}
	case unexpected > 0:
		return &exitError{code: 1, msg: fmt.Sprintf("%d random orders not as expected", unexpected)}
	}
	return nil
}

func pickScenarios(value string) ([]string, error) {
	known := demo.ScenarioNames()
	want := demo.ParseList(value)
	if want == nil {
		return known, nil
	}
	for _, n := range want {
		if !slices.Contains(known, n) {
			return nil, usagef("--scenarios: unknown scenario %q (known: %s)", n, strings.Join(known, ", "))
		}
	}
	return want, nil
}

// startDemoWorkers runs n workers, each with every workflow and step, all
// calling one set of services (one ledger), as several replicas of one
// deployment call the same downstream services.
func startDemoWorkers(ctx context.Context, nc *nats.Conn, svc *demo.Services, n int, opts []workflow.Option) (stop func(), err error) {
	wctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop = func() { cancel(); wg.Wait() }
	for i := 1; i <= n; i++ {
		o := append(slices.Clone(opts), workflow.WithName(fmt.Sprintf("demo-worker-%d", i)), workflow.WithDrainTimeout(2*time.Second))
		w, err := workflow.NewWorker(ctx, nc, o...)
		if err != nil {
			stop()
			return nil, fmt.Errorf("setting up worker %d: %w", i, err)
		}
		if err := demo.Register(w, svc, demo.Selection{}); err != nil {
			stop()
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = w.Run(wctx)
		}()
	}
	return stop, nil
}

func writeJSONLine(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// demoProgress shows what the demo is doing: on a terminal one live line
// (the scenario and its latest status event), otherwise a plain line per
// finished scenario.
type demoProgress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	total   int
	n       int
	name    string
	current map[string]bool
	drawn   bool
}

func newDemoProgress(w io.Writer, total int) *demoProgress {
	return &demoProgress{w: w, tty: isTerminal(w), total: total, current: map[string]bool{}}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// watch follows the status events of the runs the scenarios start.
func (p *demoProgress) watch(nc *nats.Conn, prefix string) (func(), error) {
	if !p.tty {
		return func() {}, nil
	}
	sub, err := nc.Subscribe(wire.NewNames(prefix).StatusFilter("*", "*"), func(m *nats.Msg) {
		var ev wire.Event
		if json.Unmarshal(m.Data, &ev) != nil {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.current[ev.WorkflowID] {
			return
		}
		what := ev.Event
		if ev.Step != "" {
			what = ev.Step + " " + what
		}
		if ev.Attempt > 1 {
			what += fmt.Sprintf(" (attempt %d)", ev.Attempt)
		}
		if ev.Compensation {
			what += " [compensation]"
		}
		p.draw(what)
	})
	if err != nil {
		return nil, fmt.Errorf("watching status events: %w", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

func (p *demoProgress) begin(n int, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n, p.name = n, name
	clear(p.current)
	p.draw("starting")
}

func (p *demoProgress) run(_, workflowID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current[workflowID] = true
}

// draw rewrites the live line; the caller holds mu.
func (p *demoProgress) draw(what string) {
	if !p.tty {
		return
	}
	fmt.Fprintf(p.w, "\r\033[K[%d/%d] %s: %s", p.n, p.total, p.name, what)
	p.drawn = true
}

// line prints a line that stays (a breaker transition) above the live line.
func (p *demoProgress) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K  %s\n", s)
		p.draw("")
		return
	}
	fmt.Fprintf(p.w, "  %s\n", s)
}

func (p *demoProgress) end(r demo.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mark := "ok"
	if !r.OK {
		mark = "NOT AS EXPECTED"
	}
	if p.tty {
		p.draw(fmt.Sprintf("%s (%s)", r.Status, mark))
		return
	}
	fmt.Fprintf(p.w, "[%d/%d] %s: %s (%s, %s)\n", p.n, p.total, r.Scenario, r.Status, mark, time.Duration(r.DurationMS*float64(time.Millisecond)).Round(time.Millisecond))
}

func (p *demoProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
	clear(p.current)
}

func describeTransition(t demo.Transition) string {
	var ev steps.BreakerEvent
	if len(t.Event) == 0 || json.Unmarshal(t.Event, &ev) != nil || ev.To == "" {
		return fmt.Sprintf("%s → %s", t.Breaker, t.State)
	}
	s := fmt.Sprintf("%s: %s → %s", t.Breaker, ev.From, ev.To)
	switch ev.Reason {
	case "failure_threshold":
		s += fmt.Sprintf(" after %d consecutive failures", ev.Failures)
	case "failure_rate":
		s += fmt.Sprintf(" at %d failures of %d calls in its window", ev.Failures, ev.Calls)
	case "":
	default:
		s += " (" + strings.ReplaceAll(ev.Reason, "_", " ") + ")"
	}
	if ev.Worker != "" {
		s += ", by " + ev.Worker
	}
	return s
}

func orNone(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

func printScenarioTable(w io.Writer, results []demo.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tRESULT\tSTATUS\tTRANSACTION\tSHIPMENT\tCOMPENSATIONS\tSTEPS (attempts; ✗ failed, … cut off by the run's end)")
	for _, r := range results {
		mark := "ok"
		if !r.OK {
			mark = "FAILED"
		}
		comps := "-"
		if len(r.Compensations) > 0 {
			comps = strings.Join(r.Compensations, " → ")
		}
		var st []string
		for _, s := range r.Steps {
			if s.Compensation {
				continue
			}
			x := fmt.Sprintf("%s %d", s.Step, s.Attempts)
			switch {
			case s.Unfinished:
				x += "…"
			case s.Error != "":
				x += "✗"
			}
			st = append(st, x)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, mark, r.Status, orNone(r.TransactionID), orNone(r.ShipmentID), comps, strings.Join(st, ", "))
	}
	_ = tw.Flush()
	for _, r := range results {
		if r.OK {
			continue
		}
		fmt.Fprintf(w, "\n%s did not end as expected (%s):\n", r.Scenario, r.Expected)
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
}

func printBreakerReport(w io.Writer, results []demo.Result) {
	for _, r := range results {
		b := r.Breaker
		if b == nil {
			continue
		}
		fmt.Fprintf(w, "\nbreaker scenario: circuit breaker %q (threshold %d, reset timeout %s)\n", b.Name, demo.BreakerThreshold, demo.BreakerResetTimeout)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ORDER\tPHASE\tSTATUS\tPAID ON\tPRIMARY CALLS\tPRIMARY CHANNEL STEP")
		for _, o := range b.Orders {
			primary := "succeeded"
			switch {
			case o.PrimaryError == steps.TypeBreakerOpen && o.PrimaryCalls == 0:
				primary = "refused at once: breaker open"
			case o.PrimaryError == steps.TypeBreakerOpen:
				primary = "failed, then refused: breaker open"
			case o.PrimaryError != "":
				primary = "failed: " + o.PrimaryError
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\n", o.WorkflowID, o.Phase, o.Status, o.Channel, o.PrimaryCalls, primary)
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "  primary failures before it opened: %d; primary calls while open: %d (%d orders); half-open probe calls: %d\n",
			b.PrimaryFailuresBeforeOpen, b.PrimaryCallsWhileOpen, b.OrdersWhileOpen, b.ProbeCalls)
		fmt.Fprintln(w, "  transitions, as published on jetflow.breaker.<name>.<state>:")
		if len(b.Transitions) == 0 {
			fmt.Fprintln(w, "    (none)")
		}
		for _, t := range b.Transitions {
			fmt.Fprintf(w, "    %s  %s\n", t.At.Local().Format("15:04:05.000"), describeTransition(t))
		}
	}
}

// printTalkReports prints the orders of the scenarios that run several
// (await_3ds) and what terminate_stuck saw of its stuck step.
func printTalkReports(w io.Writer, results []demo.Result) {
	for _, r := range results {
		if len(r.Orders) > 0 {
			fmt.Fprintf(w, "\n%s scenario:\n", r.Scenario)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  ORDER\tSENT\tSTATUS\tCOMPENSATIONS\tLEDGER")
			for _, o := range r.Orders {
				sent, comps := o.Sent, strings.Join(o.Compensations, " → ")
				if sent == "" {
					sent = "nothing"
				}
				if comps == "" {
					comps = "-"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", o.WorkflowID, sent, o.Status, comps, o.Effects.Summary())
			}
			_ = tw.Flush()
		}
		if s := r.Stuck; s != nil {
			fmt.Fprintf(w, "\n%s scenario: %s failed %d attempts (%s) and kept retrying; terminated; its service had %d calls when the run ended and %d after %s more\n",
				r.Scenario, s.Step, s.AttemptsBefore, s.LastError, s.CallsAtEnd, s.CallsAfter, time.Duration(s.WatchedMS*float64(time.Millisecond)))
		}
	}
}

// printScheduleReports prints scheduled_reconciliation's runs and refunds.
func printScheduleReports(w io.Writer, results []demo.Result) {
	for _, r := range results {
		s := r.Schedule
		if s == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s scenario: schedule %s, %q (overlap %s), starting %s\n", r.Scenario, s.ID, s.Cron, s.Overlap, demo.ReconcilePayments.Name())
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  RUN\tTICK\tSTATUS\tREFUNDED")
		for _, run := range s.Runs {
			refunded := "-"
			if len(run.Refunded) > 0 {
				refunded = strings.Join(run.Refunded, ", ")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", run.WorkflowID, run.Tick.Local().Format("15:04:05"), run.Status, refunded)
		}
		_ = tw.Flush()
		standing := make([]string, 0, len(s.Expected))
		for _, c := range s.Expected {
			standing = append(standing, c.String())
		}
		if len(standing) == 0 {
			standing = append(standing, "none")
		}
		fmt.Fprintf(w, "  charges standing (neither shipped nor refunded) when it was created: %s\n", strings.Join(standing, ", "))
		for _, f := range s.Refunds {
			fmt.Fprintf(w, "  refunded %s of order %s (%.2f), by %s\n", f.TransactionID, f.OrderID, f.Amount, f.Run)
		}
		more := "none"
		if n := s.StartedAfter - s.StartedAtPause; n != 0 {
			more = strconv.Itoa(n)
		}
		deleted := "deleted"
		if !s.Deleted {
			deleted = "not deleted"
		}
		fmt.Fprintf(w, "  paused after %d runs, %s started in the %s after; %s; events on jetflow.schedule.<id>.<event>: %s\n",
			s.StartedAtPause, more, time.Duration(s.WatchedMS*float64(time.Millisecond)), deleted, countsText(s.Events))
	}
}

// countsText says a count per name, by name.
func countsText(n map[string]int) string {
	names := make([]string, 0, len(n))
	for k := range n {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

func printBreakerStates(ctx context.Context, w io.Writer, c *workflow.Client) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	states, err := c.Breakers(cctx)
	if err != nil || len(states) == 0 {
		return
	}
	fmt.Fprintln(w, "\nbreakers now (jetflow breakers):")
	for _, s := range states {
		fmt.Fprintf(w, "  %s: %s, %d consecutive failures, opened %d time(s)\n", s.Name, s.State, s.Failures, s.Opens)
	}
}

// printTalk says what the orders were sent and how they took it.
func printTalk(w io.Writer, t demo.TalkReport, l demo.Counts) {
	if t.CancelsSent > 0 {
		late := make([]string, 0, len(t.TooLate))
		for st, n := range t.TooLate {
			late = append(late, fmt.Sprintf("%d %s", n, st))
		}
		sort.Strings(late)
		s := fmt.Sprintf("  cancels: %d sent at a random point (%d %% of orders): %d canceled and compensated", t.CancelsSent, t.CancelPercent, t.Canceled)
		if len(late) > 0 {
			s += fmt.Sprintf(", %d too late (%s)", t.CancelsSent-t.Canceled, strings.Join(late, ", "))
		}
		s += fmt.Sprintf("; %d caught a step in flight, %d effect(s) voided before they were made, %d shipment(s) called back", t.InFlight, l.Voided, l.ShipmentsCanceled)
		if t.NotificationsStopped > 0 {
			s += fmt.Sprintf("; %d notification(s) of completed orders stopped", t.NotificationsStopped)
		}
		fmt.Fprintln(w, s)
	}
	if n := t.Approved + t.Declined + t.Unanswered; n > 0 {
		fmt.Fprintf(w, "  3-D Secure: %d orders (%d %%): %d approved, %d declined, %d never answered\n", n, t.ThreeDSPercent, t.Approved, t.Declined, t.Unanswered)
	}
}

func printOrdersReport(w io.Writer, rep demo.OrdersReport) {
	fmt.Fprintf(w, "\n%d random orders (seed %d) in %s:\n", rep.Orders, rep.Seed, time.Duration(rep.DurationMS*float64(time.Millisecond)).Round(10*time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	statuses := make([]string, 0, len(rep.ByStatus))
	for s := range rep.ByStatus {
		statuses = append(statuses, s)
	}
	sort.Slice(statuses, func(i, j int) bool { return rep.ByStatus[statuses[i]] > rep.ByStatus[statuses[j]] })
	for _, s := range statuses {
		fmt.Fprintf(tw, "  %d\t %s\n", rep.ByStatus[s], s)
	}
	_ = tw.Flush()
	kinds := make([]string, 0, len(rep.ByKind))
	for k, n := range rep.ByKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "  mix: %s\n", strings.Join(kinds, ", "))
	l := rep.Ledger
	fmt.Fprintf(w, "  ledger: %d reserved, %d released, %d charged (%d primary, %d fallback), %d refunded, %d shipped, %d notified\n",
		l.Reserved, l.Released, l.Charged, l.ChargedPrimary, l.ChargedFallback, l.Refunded, l.Shipped, l.Notified)
	pay := rep.Payment
	if charged := l.ChargedPrimary + l.ChargedFallback; charged > 0 {
		fmt.Fprintf(w, "  payment channels: %.1f %% of charges on the primary, %.1f %% on the fallback (%d %% of orders had the primary down)\n",
			100*(1-pay.FallbackShare), 100*pay.FallbackShare, pay.PrimaryDownPercent)
	}
	opens := "could not be read"
	if pay.Opens >= 0 {
		opens = fmt.Sprintf("opened %d time(s) during these orders", pay.Opens)
	}
	fmt.Fprintf(w, "  breaker %s (%s: %s): %s\n", demo.PrimaryBreakerName, pay.Breaker, pay.Policy, opens)
	printTalk(w, rep.Talk, l)
	if len(rep.Unexpected) == 0 {
		fmt.Fprint(w, "  every order ended as its recipe says, each effect once")
		if rep.Talk.Canceled > 0 {
			fmt.Fprint(w, "; every canceled order undid each effect it had made")
		}
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "  %d not as expected:\n", len(rep.Unexpected))
	for i, u := range rep.Unexpected {
		if i == 20 {
			fmt.Fprintf(w, "    ... and %d more\n", len(rep.Unexpected)-20)
			break
		}
		fmt.Fprintf(w, "    %s\n", u)
	}
}

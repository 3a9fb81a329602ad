package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Report is what a chaos run did and found.
type Report struct {
	Workflows int
	Faults    []Fault
	// Lost counts runs that ended otherwise than their order calls for (or
	// vanished) and effects or compensations that are missing.
	Lost int
	// Duplicated counts effects, compensations, step results and closing
	// events beyond the one each may have.
	Duplicated int
	// Unfinished counts runs still open after FinishTimeout (and junk
	// still in the task stream).
	Unfinished int
	// Stuck counts the runs that, at the end, had not moved for the
	// sweeper's grace and waited on something that would not come: what
	// the doctor (Client.Doctor) still finds after the sweepers ran.
	Stuck int
	// Problems names every lost, duplicated, unfinished or stuck item.
	Problems []string
	// ByStatus counts the runs by outcome: an order's final status, a
	// shape's.
	ByStatus map[string]int
	// ByKind counts the runs by recipe (demo.Mix) or exercise shape.
	ByKind map[string]int
	// Repaired counts the runs the workers' sweepers repaired ("repaired"
	// events naming a problem), RepairedBy by problem; Reported those they
	// found but could not repair; Rebuilt the steps run again by a worker
	// that rebuilt a run and found a result gone.
	Repaired   int
	RepairedBy map[string]int
	Reported   map[string]int
	Rebuilt    int
	// Parked counts the messages the workers parked beyond the harness's
	// junk, by reason.
	Parked   map[string]int
	Seed     uint64
	Duration time.Duration
	// Conflicts counts the workflow tasks that lost the race to append to
	// their run's history (from the workers' logs); Tasks the workflow tasks
	// that appended (history batches).
	Conflicts, Tasks int
	// SignalsOnce counts the signals the server accepted (Signal returned
	// nil) that their run's history delivered exactly once, in order, and
	// its code took. SignalsMaybe counts those whose Signal failed in a way
	// that left unknown whether the server stored them (never sent again),
	// SignalsMaybeIn those of them the run received (once each: more is
	// duplicated); SignalsNotStored the sends refused before anything was
	// stored, made again under the same number.
	SignalsOnce, SignalsMaybe, SignalsMaybeIn, SignalsNotStored int
	// Canceled counts the runs the driver canceled that ended canceled with
	// every mark compensated once; CompletedFirst those that completed
	// before their cancel landed, with no compensation.
	Canceled, CompletedFirst int
	// CancelHaltedFirst counts the cancel runs whose code got the failure
	// of the Mark their cancel halted no later than the cancel itself (or
	// without it): those that end failed unless the workflow takes that
	// failure for the cancellation (see doc.go).
	CancelHaltedFirst int
	// Schedule is what the schedule ticking through the window did (nil
	// with Config.NoSchedule).
	Schedule *ScheduleTally
}

// Line is the report's one-line summary.
func (r *Report) Line() string {
	sched := ""
	if r.Schedule != nil {
		sched = ", " + r.Schedule.String()
	}
	return fmt.Sprintf("chaos: %d workflows, %d faults, %d lost, %d duplicated effects, %d unfinished, stuck %d, %d signals delivered exactly once (%d more maybe sent, %d of them delivered), %d runs canceled and compensated; %d history conflicts in %d workflow tasks (%.2f%%); %d repaired by the sweeper%s",
		r.Workflows, len(r.Faults), r.Lost, r.Duplicated, r.Unfinished, r.Stuck, r.SignalsOnce, r.SignalsMaybe, r.SignalsMaybeIn, r.Canceled,
		r.Conflicts, r.Tasks, 100*float64(r.Conflicts)/float64(max(r.Tasks+r.Conflicts, 1)), r.Repaired, sched)
}

// OK reports whether nothing was lost, duplicated, left unfinished or stuck.
func (r *Report) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Unfinished == 0 && r.Stuck == 0 && len(r.Problems) == 0
}

// FaultsByKind counts the injected faults by kind.
func (r *Report) FaultsByKind() map[string]int {
	out := map[string]int{}
	for _, f := range r.Faults {
		out[f.Kind]++
	}
	return out
}

// Build compiles the jetflow command into dir and returns its path. It runs
// `go build`, so it must run inside the jetflow module (a test does).
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "jetflow")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/jetflow-dev/jetflow/cmd/jetflow")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("chaos: go build: %w\n%s", err, out)
	}
	return bin, nil
}

// Run starts a server and cfg.Workers workers, starts cfg.Workflows runs
// over cfg.Window while it injects cfg.Faults faults, waits for every run
// to end (at most cfg.FinishTimeout), stops the processes and checks the
// invariants. The error is for a harness that could not do its job (a
// server that would not restart); what the checks found is in the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	began := time.Now()
	rnd := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5deece66d))
	runs := drawRuns(rnd, &cfg)
	plan := planFaults(rnd, cfg.Faults)
	rep := &Report{Workflows: len(runs), Seed: cfg.Seed, ByKind: map[string]int{}}
	workflows := map[string]string{}
	for _, r := range runs {
		rep.ByKind[r.kind]++
		workflows[r.id] = r.workflow
	}

	c, err := startCluster(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer c.close()
	cfg.Logf("server on %s, %d workers (AckWait %s, latency %s, sweeper every %s after %s), seed %d", c.url, cfg.Workers, cfg.AckWait, cfg.Latency, cfg.SweepInterval, cfg.SweepGrace, cfg.Seed)
	for _, r := range runs {
		if r.shape != nil && r.shape.signals == nil && r.shape.canceler == nil {
			cfg.Logf("exercise run %s: %s", r.id, r.shape)
		}
	}

	nc, err := nats.Connect(c.url, nats.Name("jetflow chaos"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("chaos: connecting: %w", err)
	}
	defer nc.Close()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	client, err := workflow.NewClient(sctx, nc)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("chaos: client: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}

	// Closing events only feed the in-flight figure of the fault log; the
	// checks read the run records.
	var started, closed atomic.Int64
	var seen sync.Map
	sub, err := nc.Subscribe(wire.NewNames("jetflow").StatusFilter("*", "*"), func(m *nats.Msg) {
		if i := strings.LastIndexByte(m.Subject, '.'); i > 0 && kv.Terminal(m.Subject[i+1:]) {
			id := runOfSubject(m.Subject)
			if strings.HasPrefix(id, chaosSchedule+"-") {
				return // started by the schedule, not counted as started
			}
			if _, dup := seen.LoadOrStore(id, true); !dup {
				closed.Add(1)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("chaos: watching events: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	// Runs, their signals and cancels, and faults go side by side over
	// the window.
	start := time.Now()
	deadline := start.Add(cfg.Window + cfg.FinishTimeout)
	if !cfg.NoSchedule {
		if err := startSchedule(ctx, client, &cfg, deadline); err != nil {
			return nil, err
		}
		cfg.Logf("schedule %s: @every 1s, a LongChain of %d steps a tick, overlap allow_all, catch-up window %s", chaosSchedule, scheduledInput.Steps, cfg.ScheduleCatchup)
	}
	done, driven := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		startRuns(ctx, client, runs, start, cfg.Window, deadline, func() { started.Add(1) })
	}()
	go func() {
		defer close(driven)
		drive(ctx, client, nc, runs, cfg.Seed, start.Add(cfg.Window*9/10), deadline)
	}()
	in := &injector{c: c, cfg: &cfg, rnd: rnd, start: start, inFlight: func() int { return int(started.Load() - closed.Load()) },
		js: js, maxPayload: nc.MaxPayload(), runs: runs}
	ferr := in.run(ctx, plan)
	in.wait()
	<-done
	rep.Faults = in.faults
	if ferr != nil {
		return rep, ferr
	}
	cfg.Logf("all %d runs started and %d faults injected after %s; waiting for the runs to end", started.Load(), len(in.faults), time.Since(start).Round(time.Millisecond))

	var scheduled []*run
	var schedEnd scheduleEnd
	if !cfg.NoSchedule {
		if scheduled, schedEnd, err = stopSchedule(ctx, client, js, deadline, cfg.Logf); err != nil {
			return rep, err
		}
		rep.ByKind[shapeScheduled] = len(scheduled)
		for _, r := range scheduled {
			workflows[r.id] = r.workflow
		}
		runs = append(runs, scheduled...)
	}

	<-driven
	cfg.Logf("every signal and cancel sent after %s", time.Since(start).Round(time.Millisecond))
	open := waitTerminal(ctx, client, runs, deadline, cfg.Logf)
	cfg.Logf("%d runs still open after %s", open, time.Since(start).Round(time.Millisecond))

	// Freeze the state: no worker may act while it is checked.
	c.stopWorkers(15 * time.Second)
	cfg.Logf("workers stopped after %s; checking", time.Since(start).Round(time.Millisecond))
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ch, err := newChecker(cctx, client, js)
	if err != nil {
		return rep, err
	}
	v, err := ch.check(cctx, runs)
	if err != nil {
		return rep, err
	}
	if rep.Parked, err = ch.checkJunk(cctx, v, in.junk); err != nil {
		return rep, err
	}
	if rep.Stuck, err = ch.checkStuck(cctx, v, cfg.SweepGrace, workflows); err != nil {
		return rep, err
	}
	sw, err := ch.sweeps(cctx)
	if err != nil {
		return rep, err
	}
	rep.Repaired, rep.RepairedBy, rep.Reported, rep.Rebuilt = sw.total(), sw.repaired, sw.reported, sw.rebuilt
	if !cfg.NoSchedule {
		tally, err := ch.checkSchedule(cctx, v, scheduled, schedEnd, cfg.ScheduleCatchup)
		if err != nil {
			return rep, err
		}
		rep.Schedule = &tally
	}
	rep.Lost, rep.Duplicated, rep.Unfinished = v.lost, v.dup, v.unfinished
	rep.Problems, rep.ByStatus = append(v.problems, c.exitedAlone()...), v.byStatus
	rep.Duration = time.Since(began)
	rep.Tasks = v.tasks
	rep.SignalsOnce, rep.SignalsMaybe, rep.SignalsMaybeIn, rep.SignalsNotStored = v.signals.once, v.signals.maybe, v.signals.maybeIn, v.signals.notStored
	rep.Canceled, rep.CompletedFirst, rep.CancelHaltedFirst = v.cancels.canceled, v.cancels.completed, v.cancels.haltedFirst
	for _, p := range c.procs() {
		rep.Conflicts += p.count(conflictLine)
	}
	cfg.Logf("checked after %s", time.Since(start).Round(time.Millisecond))
	for _, r := range runs {
		if r.shape == nil || r.shape.signals != nil || r.shape.canceler != nil || r.kind == shapeScheduled {
			continue
		}
		if rec, err := client.Record(cctx, r.id); err == nil && rec.Status.Closed() {
			cfg.Logf("exercise run %s (%s): %s after %s, %d executions", r.id, r.shape, rec.Status, rec.ClosedAt.Sub(rec.CreatedAt).Round(time.Millisecond), max(rec.Exec, 1))
		}
	}
	if !rep.OK() {
		for _, p := range c.procs() {
			cfg.Logf("last lines of %s (pid %d, log %s):\n%s", p.name, p.pid(), p.logPath, p.tail(15))
		}
	}
	return rep, nil
}

// waitTerminal polls the runs not yet seen terminal until all are, or the
// deadline passes, and returns how many are still open.
func waitTerminal(ctx context.Context, c *workflow.Client, runs []*run, deadline time.Time, logf func(string, ...any)) int {
	open := map[string]bool{}
	for _, r := range runs {
		if r.startErr == nil {
			open[r.id] = true
		}
	}
	lastLog := time.Now()
	for len(open) > 0 {
		for id := range open {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			d, err := c.Describe(rctx, id)
			cancel()
			if err == nil && d.Status.Closed() || errors.Is(err, workflow.ErrNotFound) {
				delete(open, id)
			}
		}
		if len(open) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		if time.Since(lastLog) > 10*time.Second {
			logf("%d runs still open", len(open))
			lastLog = time.Now()
		}
		_ = sleepUntil(ctx, time.Now().Add(250*time.Millisecond))
	}
	return len(open)
}

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

	"github.com/jetflow-dev/jetflow/internal/demo"
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
	// Unfinished counts runs still open after FinishTimeout.
	Unfinished int
	// Problems names every lost, duplicated or unfinished item.
	Problems []string
	// ByStatus counts the orders by final status.
	ByStatus map[string]int
	// ByKind counts the orders by recipe (demo.Mix).
	ByKind   map[string]int
	Seed     uint64
	Duration time.Duration
	// Conflicts counts the workflow tasks that lost the race to append to
	// their run's history (from the workers' logs); Tasks the workflow tasks
	// that appended (history batches).
	Conflicts, Tasks int
}

// Line is the report's one-line summary.
func (r *Report) Line() string {
	return fmt.Sprintf("chaos: %d workflows, %d faults, %d lost, %d duplicated effects, %d unfinished; %d history conflicts in %d workflow tasks (%.2f%%)",
		r.Workflows, len(r.Faults), r.Lost, r.Duplicated, r.Unfinished, r.Conflicts, r.Tasks, 100*float64(r.Conflicts)/float64(max(r.Tasks+r.Conflicts, 1)))
}

// OK reports whether nothing was lost, duplicated or left unfinished.
func (r *Report) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Unfinished == 0 && len(r.Problems) == 0
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

// Run starts a server and cfg.Workers workers, starts cfg.Workflows orders
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
	orders := drawOrders(rnd, cfg.Workflows)
	plan := planFaults(rnd, cfg.Faults)
	rep := &Report{Workflows: len(orders), Seed: cfg.Seed, ByKind: map[string]int{}}
	for _, o := range orders {
		rep.ByKind[o.kind]++
	}

	c, err := startCluster(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer c.close()
	cfg.Logf("server on %s, %d workers (AckWait %s, latency %s), seed %d", c.url, cfg.Workers, cfg.AckWait, cfg.Latency, cfg.Seed)

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

	// Closing events only feed the in-flight figure of the fault log; the
	// checks read the run records.
	var started, closed atomic.Int64
	var seen sync.Map
	sub, err := nc.Subscribe(wire.NewNames("jetflow").StatusFilter(demo.OrderOrchestration.Name(), "*"), func(m *nats.Msg) {
		if i := strings.LastIndexByte(m.Subject, '.'); i > 0 && kv.Terminal(m.Subject[i+1:]) {
			if _, dup := seen.LoadOrStore(runOfSubject(m.Subject), true); !dup {
				closed.Add(1)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("chaos: watching events: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	// Orders and faults run side by side over the window.
	start := time.Now()
	deadline := start.Add(cfg.Window + cfg.FinishTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		startOrders(ctx, client, orders, cfg.Window, deadline, func() { started.Add(1) })
	}()
	in := &injector{c: c, cfg: &cfg, rnd: rnd, start: start, inFlight: func() int { return int(started.Load() - closed.Load()) }}
	ferr := in.run(ctx, plan)
	in.wait()
	<-done
	rep.Faults = in.faults
	if ferr != nil {
		return rep, ferr
	}
	cfg.Logf("all %d orders started and %d faults injected after %s; waiting for the runs to end", started.Load(), len(in.faults), time.Since(start).Round(time.Millisecond))

	open := waitTerminal(ctx, client, orders, deadline, cfg.Logf)
	cfg.Logf("%d runs still open after %s", open, time.Since(start).Round(time.Millisecond))

	// Freeze the state: no worker may act while it is checked.
	c.stopWorkers(15 * time.Second)
	cfg.Logf("workers stopped after %s; checking", time.Since(start).Round(time.Millisecond))
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		return rep, err
	}
	ch, err := newChecker(cctx, client, js)
	if err != nil {
		return rep, err
	}
	v, err := ch.check(cctx, orders)
	if err != nil {
		return rep, err
	}
	rep.Lost, rep.Duplicated, rep.Unfinished = v.lost, v.dup, v.unfinished
	rep.Problems, rep.ByStatus = append(v.problems, c.exitedAlone()...), v.byStatus
	rep.Duration = time.Since(began)
	rep.Tasks = v.tasks
	for _, p := range c.procs() {
		rep.Conflicts += p.count(conflictLine)
	}
	cfg.Logf("checked after %s", time.Since(start).Round(time.Millisecond))
	if !rep.OK() {
		for _, p := range c.procs() {
			cfg.Logf("last lines of %s (pid %d, log %s):\n%s", p.name, p.pid(), p.logPath, p.tail(15))
		}
	}
	return rep, nil
}

// waitTerminal polls the runs not yet seen terminal until all are, or the
// deadline passes, and returns how many are still open.
func waitTerminal(ctx context.Context, c *workflow.Client, orders []*order, deadline time.Time, logf func(string, ...any)) int {
	open := map[string]bool{}
	for _, o := range orders {
		if o.startErr == nil {
			open[o.id] = true
		}
	}
	lastLog := time.Now()
	for len(open) > 0 {
		for id := range open {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			d, err := c.Describe(rctx, id)
			cancel()
			if err == nil && kv.Terminal(d.Status) || errors.Is(err, workflow.ErrNotFound) {
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

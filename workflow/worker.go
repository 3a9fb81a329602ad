package workflow

import (
	"context"
	"errors"
	"fmt"
	"github.com/jetflow-dev/jetflow/internal/runner"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetflow-dev/jetflow/internal/tracing"
	"github.com/jetflow-dev/jetflow/internal/twogen"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

// Worker runs workflow code and steps. Every worker of a namespace shares one
// durable pull consumer per workflow type and per step, so start as many as
// you like, anywhere: each task goes to one of them, and a task whose worker
// dies goes to another after AckWait. A worker may register only some
// workflows or steps.
type Worker struct {
	cfg config
	env *wire.Env
	// instance names this Worker value on the owner subject (run affinity).
	instance string
	// born and tick detect a frozen worker (see thawed).
	born time.Time
	tick atomic.Int64
	// freezes counts the freezes noticed, so a task cut in two by one
	// knows it whoever noticed it.
	freezes atomic.Int64
	// watching: the freeze watch runs (a worker of workflows).
	watching atomic.Bool
	// reconnects and reconnectedAt follow the connection's failovers (see
	// askOwner).
	reconnects    atomic.Uint64
	reconnectedAt atomic.Int64
	// droppedAt is when the worker last dropped its runs after a freeze or
	// a failover (see mayRace).
	droppedAt atomic.Int64
	// declineWakeups makes the worker answer every wake-up request with
	// "miss", as one that dropped its runs would (tests).
	declineWakeups atomic.Bool
	log            *slog.Logger
	runs           *runCache
	// issued are the step tasks this worker published (see issuedTasks).
	issued issuedTasks
	// early are the timers this worker put back into the server's schedule
	// for their recorded time, by run/exec/seq.
	early  *twogen.Map[string, time.Time]
	runner *runner.Runner
	// tracer makes the spans of workflow tasks, timers and runs.
	tracer trace.Tracer

	defaultStepOptions steps.Options

	mu        sync.Mutex
	workflows map[string]Registrable
	running   bool
	// stop ends the running Run; stopped is closed once it returned.
	stop     context.CancelFunc
	stopped  chan struct{}
	inFlight atomic.Int64

	// maxHistory replaces MaxHistoryEvents in tests.
	maxHistory int
	// maxNotYet replaces maxNotYet in tests.
	maxNotYet int
	// clock replaces time.Now where workflow code decides (the test kit's
	// virtual time); nil in a real worker.
	clock func() time.Time

	// Hooks observe the worker; nil fields are skipped.
	Hooks Hooks
}

// Hooks observe a worker (metrics, tests). They must be safe for concurrent use.
type Hooks struct {
	// RunClosed is called when this worker closes a run.
	RunClosed func(workflow, status string, d time.Duration)
	// WorkflowTaskStarted is called when a workflow task begins, and
	// WorkflowTask after it, once for each start; its err is
	// ErrHandedOver for a task the worker holding the run moved instead.
	WorkflowTaskStarted func(workflow string)
	WorkflowTask        func(workflow string, d time.Duration, err error)
	// WorkflowTaskConflict is called when a task lost the race to append
	// to its run's history: another worker moved the run meanwhile, so
	// this one rebuilds it and tries again.
	WorkflowTaskConflict func(workflow string)
	// RunRebuilt is called when this worker rebuilds a run it did not hold
	// by replaying its history.
	RunRebuilt func(workflow string)
	// StepAttempt is called after each step attempt.
	StepAttempt func(step string, d time.Duration, err error)
	// SweepFinding is called for each run the sweeper found owed progress
	// (see Finding), with whether it repaired it.
	SweepFinding func(problem string, repaired bool)
	// Parked is called for each task message this worker parked on the
	// dead-letter stream (kind "wf" or "step", and the workflow or step).
	Parked func(kind, name string)
}

// NewWorker connects a worker to the engine's streams and buckets over nc,
// creating them when missing and bringing existing ones up to date (the
// task stream's subjects, the limits of the event and dead-letter streams:
// WithEventLimits, WithDeadLetterLimits).
func NewWorker(ctx context.Context, nc *nats.Conn, opts ...Option) (*Worker, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.name == "" {
		host, _ := os.Hostname()
		cfg.name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	env, err := wire.Setup(ctx, nc, cfg.wireConfig())
	if err != nil {
		return nil, err
	}
	if err := adoptShared(ctx, env, &cfg, false); err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:                cfg,
		env:                env,
		log:                cfg.logger,
		runs:               newRunCache(cfg.cacheSize),
		issued:             newIssuedTasks(),
		early:              newEarlyTimers(),
		instance:           newInstance(),
		born:               time.Now(),
		defaultStepOptions: cfg.defaultStepOptions,
		workflows:          map[string]Registrable{},
		tracer:             tracing.Tracer(cfg.tracerProvider),
	}
	w.reconnects.Store(nc.Stats().Reconnects) // only those from now on count
	w.runner = runner.NewRunner(env, runner.RunnerConfig{Worker: cfg.name, Concurrency: cfg.stepConcurrency, AckWait: cfg.ackWait, Logger: cfg.logger,
		Tracer: w.tracer})
	w.runner.Hooks.AttemptDone = func(step string, d time.Duration, err error) {
		if w.Hooks.StepAttempt != nil {
			w.Hooks.StepAttempt(step, d, err)
		}
	}
	w.runner.Hooks.WakeLocal = w.wakeLocal
	w.runner.Hooks.Issued = w.issued.get
	for _, ch := range env.Changes {
		if ch.Action == "updated" {
			cfg.logger.Info("jetflow: brought the deployment up to this worker's settings", "kind", ch.Kind, "name", ch.Name, "change", ch.Detail)
		}
	}
	env.OnPark = func(kind, name string) {
		if w.Hooks.Parked != nil {
			w.Hooks.Parked(kind, name)
		}
	}
	return w, nil
}

// Name is the worker's name in events and logs.
func (w *Worker) Name() string { return w.cfg.name }

// RegisterWorkflow makes this worker run the given workflow's code.
func (w *Worker) RegisterWorkflow(def Registrable) error {
	if !steps.ValidName(def.Name()) {
		return fmt.Errorf("%w: %q", ErrInvalidName, def.Name())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return errors.New("jetflow: register before Run")
	}
	if _, dup := w.workflows[def.Name()]; dup {
		return fmt.Errorf("jetflow: workflow %s registered twice", def.Name())
	}
	w.workflows[def.Name()] = def
	return nil
}

// RegisterStep makes this worker run the given step.
func (w *Worker) RegisterStep(step steps.Handler) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return errors.New("jetflow: register before Run")
	}
	return w.runner.Register(step)
}

// Run serves tasks until ctx is canceled (or Close is called), then drains:
// no new tasks are fetched, tasks in flight get the drain timeout to finish,
// and what is still running after it is released for redelivery to another
// worker. Run returns nil after a clean drain, and a *DrainTimeoutError
// saying how many tasks it handed back otherwise. A Worker runs once at a
// time; Run may be called again after it returned.
func (w *Worker) Run(ctx context.Context) (err error) {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return ErrWorkerRunning
	}
	w.running = true
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	w.stop, w.stopped = stop, done
	defer func() {
		stop()
		w.mu.Lock()
		w.running, w.stop, w.stopped = false, nil, nil
		w.mu.Unlock()
		close(done)
	}()
	wfs := make(map[string]Registrable, len(w.workflows))
	for k, v := range w.workflows {
		wfs[k] = v
	}
	w.mu.Unlock()
	if len(wfs) == 0 && len(w.runner.Names()) == 0 {
		return errors.New("jetflow: worker has nothing registered")
	}

	// work outlives ctx by the drain timeout, so tasks in flight can finish.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var timedOut atomic.Bool
	var handedBack atomic.Int64
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.NewTimer(w.cfg.drainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			handedBack.Store(w.inFlight.Load() + int64(w.runner.InFlight()))
			timedOut.Store(true)
			cancelWork()
		case <-work.Done():
		}
	})
	defer stopDrain()
	defer func() {
		if err == nil && timedOut.Load() {
			err = &DrainTimeoutError{Timeout: w.cfg.drainTimeout, HandedBack: int(handedBack.Load())}
		}
	}()

	if len(wfs) > 0 {
		sub, err := w.serveOwner(work)
		if err != nil {
			return fmt.Errorf("jetflow: serving wake-ups: %w", err)
		}
		// A draining worker takes no more wake-ups: askers move the runs.
		stopServing := context.AfterFunc(ctx, func() { _ = sub.Unsubscribe() })
		defer stopServing()
		defer func() { _ = sub.Unsubscribe() }()
		for _, def := range wfs {
			qsub, err := w.serveQueries(work, def)
			if err != nil {
				return fmt.Errorf("jetflow: serving queries: %w", err)
			}
			stopQueries := context.AfterFunc(ctx, func() { _ = qsub.Unsubscribe() })
			defer stopQueries()
			defer func() { _ = qsub.Unsubscribe() }()
		}
	}
	var wg sync.WaitGroup
	w.alive()
	if len(wfs) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.watchFreeze(ctx)
		}()
		if w.cfg.sweepInterval > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.sweepLoop(ctx)
			}()
		}
	}
	for name, def := range wfs {
		cfg := wire.ConsumerConfig(w.env.Names.WorkflowConsumer(name), w.env.Names.WorkflowSubject(name), w.cfg.ackWait, 10*w.cfg.wfConcurrency+1000,
			w.env.Names.StartSubject(name), w.env.Names.SignalFilter(name))
		wg.Add(1)
		go func() {
			defer wg.Done()
			wire.Consume(ctx, w.env.JS, w.env.Names.TaskStream(), cfg, w.cfg.wfConcurrency, w.log, func(m jetstream.Msg) {
				w.inFlight.Add(1)
				defer w.inFlight.Add(-1)
				w.handleWorkflowTask(work, def, m)
			})
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.runner.Run(ctx, work)
	}()
	wg.Wait()
	w.runs.clear()
	return nil
}

// Close stops a running Worker as canceling Run's context does, and waits
// for Run to return (drain included). It does nothing when the Worker is
// not running.
func (w *Worker) Close() {
	w.mu.Lock()
	stop, stopped := w.stop, w.stopped
	w.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	<-stopped
}

// ErrWorkerRunning is returned by Run while the Worker is running already.
var ErrWorkerRunning = errors.New("jetflow: worker already running")

// DrainTimeoutError is Run's error when tasks were still running at the end
// of the drain timeout: they were abandoned and handed back for redelivery
// (after the ack wait, to another worker).
type DrainTimeoutError struct {
	Timeout    time.Duration
	HandedBack int
}

func (e *DrainTimeoutError) Error() string {
	return fmt.Sprintf("jetflow: drain timed out after %s; %d task(s) in flight handed back for redelivery", e.Timeout, e.HandedBack)
}

func (w *Worker) handleWorkflowTask(ctx context.Context, def Registrable, m jetstream.Msg) {
	freezes := w.freezeCount()
	var t wire.WorkflowTask
	if strings.HasPrefix(m.Subject(), w.env.Names.Prefix+".signal.") {
		// A signal: the worker reads it (and any after it) from the stream
		// in order; the message is only the hint.
		var sm wire.SignalMsg
		err := kv.Unmarshal(m.Data(), &sm)
		if err == nil && (ValidateID(sm.WorkflowID) != nil || sm.Workflow != def.Name()) {
			err = fmt.Errorf("%w: signal naming run %q of %q on the subject of %s", kv.ErrCorrupt, sm.WorkflowID, sm.Workflow, def.Name())
		}
		if err != nil {
			wire.Park(ctx, w.env, m, "wf", def.Name(), err, w.log)
			return
		}
		t = wire.WorkflowTask{WorkflowID: sm.WorkflowID, Workflow: sm.Workflow, Reason: wire.ReasonSignal, Owner: sm.Owner}
	} else if err := kv.Unmarshal(m.Data(), &t); err != nil || ValidateID(t.WorkflowID) != nil {
		if err == nil {
			err = fmt.Errorf("%w: workflow task with invalid workflow ID %q", kv.ErrCorrupt, t.WorkflowID)
		}
		wire.Park(ctx, w.env, m, "wf", def.Name(), err, w.log)
		return
	}
	if m.Subject() == w.env.Names.StartSubject(def.Name()) {
		// Clients publish here, and may not publish workflow tasks: a start
		// hint can only ask for the pending run it names to start, whatever
		// else it says.
		reason := wire.ReasonStart
		if t.Reason == wire.ReasonSchedule {
			reason = wire.ReasonSchedule // a schedule changed: look at it
		}
		t = wire.WorkflowTask{WorkflowID: t.WorkflowID, Workflow: def.Name(), Reason: reason, Inc: t.Inc}
	}
	if t.Reason == wire.ReasonSchedule {
		tk := &ticker{c: &Client{cfg: w.cfg, env: w.env}, log: w.log, worker: w.cfg.name}
		if err := tk.tick(ctx, t.WorkflowID); err != nil {
			w.log.Warn("jetflow: handling a schedule", "schedule", t.WorkflowID, "err", w.env.Explain(ctx, err, ""))
			n := 1
			if md, merr := m.Metadata(); merr == nil {
				n = int(min(md.NumDelivered, 1000))
			}
			_ = m.NakWithDelay(min(time.Duration(n)*500*time.Millisecond, 15*time.Second))
			return
		}
		_ = m.Ack()
		return
	}
	if t.Reason == wire.ReasonPurge {
		if err := w.purge(ctx, &t); err != nil {
			w.log.Warn("jetflow: purging a closed run", "workflow_id", t.WorkflowID, "err", err)
			_ = m.NakWithDelay(5 * time.Second)
			return
		}
		_ = m.Ack()
		return
	}
	switch w.askOwner(ctx, t.Owner, t) {
	case moved:
		_ = m.Ack()
		return
	case unsure:
		_ = m.NakWithDelay(500 * time.Millisecond)
		return
	}
	earlyKey := ""
	if t.Reason == wire.ReasonTimer {
		// A timer task this worker already put back for its recorded time
		// (copies of it, forged or not, need no workflow task).
		earlyKey = t.WorkflowID + "/" + strconv.Itoa(t.Exec) + "/" + strconv.Itoa(t.Seq)
		if at, ok := w.early.Get(earlyKey); ok && time.Until(at) > time.Second {
			_ = m.Ack()
			return
		}
	}
	n := 1 // the delivery
	if md, err := m.Metadata(); err == nil {
		n = int(min(md.NumDelivered, 1000))
	}
	wk := &wakeup{reason: t.Reason, exec: t.Exec, seq: t.Seq, inc: t.Inc, asked: t.Owner, redelivered: n > 1}
	stop := w.keepInProgress(m, freezes)
	err := w.wake(ctx, def, t.WorkflowID, wk)
	stop()
	if err != nil {
		if errors.Is(err, errOwnerUnsure) {
			_ = m.NakWithDelay(500 * time.Millisecond)
			return
		}
		if errors.Is(err, errNotYet) {
			// Back off as the message keeps coming back: a replica
			// catches up within moments, a forged hint never does.
			if n >= w.notYetLimit() {
				wire.Park(ctx, w.env, m, "wf", def.Name(), fmt.Errorf("nothing behind this hint after %d deliveries: %w", n, err), w.log)
				return
			}
			_ = m.NakWithDelay(time.Duration(n) * time.Second)
			return
		}
		if ctx.Err() == nil {
			w.log.Warn("jetflow: workflow task", "workflow", def.Name(), "workflow_id", t.WorkflowID, "delivery", n, "err", w.env.Explain(ctx, err, ""))
		}
		// A store that fails over or is full: try again, less often
		// the longer it lasts.
		_ = m.NakWithDelay(min(time.Duration(n)*500*time.Millisecond, 15*time.Second))
		return
	}
	if wait := time.Until(wk.early); wait > 0 {
		// A timer task before its time (a forged one, or clocks apart):
		// it goes back into the server's schedule for the recorded time
		// rather than into the consumer's window of pending messages.
		if wait <= time.Second {
			_ = m.NakWithDelay(wait)
			return
		}
		if err := w.reschedule(ctx, m, wk); err != nil {
			w.log.Warn("jetflow: putting an early timer task back", "workflow_id", t.WorkflowID, "err", err)
			_ = m.NakWithDelay(time.Second)
			return
		}
		w.early.Put(earlyKey, wk.early)
	}
	_ = m.Ack()
}

// reschedule puts an early timer task back on its timer's schedule subject
// (which rolls up: a schedule still waiting there is replaced by the same).
func (w *Worker) reschedule(ctx context.Context, m jetstream.Msg, wk *wakeup) error {
	data, err := kv.Marshal(wk.earlyTask)
	if err != nil {
		return err
	}
	return w.env.PublishAt(ctx, wk.earlySubj, m.Subject(), "", data, wk.early)
}

// keepInProgress keeps m's workflow task with this worker while it works
// on it (wire.KeepInProgress): a task slowed by its store (a server failing
// over) or queued behind its run's other tasks is then not handed to a
// second worker meanwhile, which would race it for the run's history. A
// worker frozen and thawed since the task arrived does not tell again, and
// none tells past ten ack waits (nothing holds a task for ever).
func (w *Worker) keepInProgress(m jetstream.Msg, freezes int64) (stop func()) {
	deadline := time.Now().Add(10 * w.cfg.ackWait)
	return wire.KeepInProgress(m, w.cfg.ackWait, func() bool {
		return time.Now().Before(deadline) && w.freezeCount() == freezes
	})
}

// wakeLocal moves a run forward right here when this worker runs its
// workflow type: the step that just recorded a result saves the round trip
// of a workflow task (publish, deliver, ack), and the run is usually in this
// worker's memory already. It reports false, and the caller publishes the
// task, when the type is not registered here or the task failed.
func (w *Worker) wakeLocal(ctx context.Context, t *runner.Task, res *kv.Result) bool {
	switch w.askOwner(ctx, t.Owner, wire.WorkflowTask{WorkflowID: t.WorkflowID, Workflow: t.Workflow, Reason: wire.ReasonResult, Seq: t.Seq, Exec: t.Exec}) {
	case moved:
		return true
	case unsure:
		return false // the caller publishes a workflow task, which asks again
	}
	def := w.registered(t.Workflow)
	if def == nil || w.cfg.noLocalWake {
		return false
	}
	wk := &wakeup{reason: wire.ReasonResult, exec: max(t.Exec, 1), seq: t.Seq, res: res, asked: t.Owner}
	if err := w.wake(ctx, def, t.WorkflowID, wk); err != nil {
		if ctx.Err() == nil {
			w.log.Warn("jetflow: workflow task", "workflow", def.Name(), "workflow_id", t.WorkflowID, "err", err)
		}
		return false
	}
	return true
}

// schedulePurge asks the server to hand a closed run back for purging once
// its retention has passed: the whole run, or (exec > 0) only the keys of
// one execution that continued as new. The schedule's subject is the run's
// own and rolls up, so publishing it twice keeps one schedule: no
// deduplication ID is needed. A purge task that finds its run open does
// nothing.
func (w *Worker) schedulePurge(ctx context.Context, run *kv.Run, exec int, closedAt time.Time) error {
	if w.cfg.retention <= 0 {
		return nil
	}
	data, err := kv.Marshal(wire.WorkflowTask{WorkflowID: run.ID, Workflow: run.Workflow, Reason: wire.ReasonPurge, Exec: exec, Inc: run.Inc})
	if err != nil {
		return err
	}
	n := w.env.Names
	return w.env.PublishAt(ctx, n.ScheduleSubject(kv.ExecKey(run.ID, run.Inc, exec), 0, 0), n.WorkflowSubject(run.Workflow),
		"", data, closedAt.Add(w.cfg.retention))
}

// purge removes a closed run: its step results and history, its events,
// then its record (last, so a purge cut short is finished by the redelivered
// task). A purge of one finished execution removes only its keys. A purge of
// a run whose ID a new run has taken since (IDReusePolicy) removes only the
// keys of the closed run's incarnation.
func (w *Worker) purge(ctx context.Context, t *wire.WorkflowTask) error {
	run, _, err := kv.Get[kv.Run](ctx, w.env.Buckets.Runs, t.WorkflowID)
	if errors.Is(err, kv.ErrNotFound) {
		return nil
	}
	if err != nil && !errors.Is(err, kv.ErrCorrupt) {
		return err
	}
	if err == nil && t.Inc != "" && run.Inc != t.Inc {
		return w.env.PurgeIncarnation(ctx, t.WorkflowID, t.Inc)
	}
	if err == nil && t.Inc == "" && run.Inc != "" && kv.Terminal(run.Status) && t.Exec == 0 &&
		time.Since(run.ClosedAt)+time.Minute < w.cfg.retention {
		// A purge published by an older worker, which does not say whose
		// it is, for a run that closed too recently to be its own: the ID
		// was reused. The run gets its own purge (one schedule per run).
		return w.schedulePurge(ctx, &run, 0, run.ClosedAt)
	}
	if t.Exec > 0 {
		if err == nil && max(run.Exec, 1) > t.Exec {
			return w.env.PurgeExec(ctx, kv.ExecKey(t.WorkflowID, run.Inc, t.Exec))
		}
		return nil
	}
	if err == nil && !kv.Terminal(run.Status) {
		return nil // reused ID or a purge published for a close that lost its race
	}
	return w.env.PurgeRun(ctx, t.Workflow, t.WorkflowID)
}

func (w *Worker) notYetLimit() int {
	if w.maxNotYet > 0 {
		return w.maxNotYet
	}
	return maxNotYet
}

// now is the time decisions record (a timer's fire time, a step's
// scheduling): the wall clock, or the test kit's virtual one.
func (w *Worker) now() time.Time {
	if w.clock != nil {
		return w.clock().UTC()
	}
	return time.Now().UTC()
}

func (w *Worker) historyLimit() int {
	if w.maxHistory > 0 {
		return w.maxHistory
	}
	return MaxHistoryEvents
}

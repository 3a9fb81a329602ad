package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Worker runs workflow code and steps. Every worker of a namespace shares one
// durable pull consumer per workflow type and per step, so start as many as
// you like, anywhere: each task goes to one of them, and a task whose worker
// dies goes to another after AckWait. A worker may register only some
// workflows or steps.
type Worker struct {
	cfg    config
	env    *wire.Env
	log    *slog.Logger
	cache  *resultCache
	runner *steps.Runner

	defaultStepOptions steps.Options

	mu        sync.Mutex
	workflows map[string]Registrable
	running   bool

	// Hooks observe the worker; nil fields are skipped.
	Hooks Hooks
}

// Hooks observe a worker (metrics, tests). They must be safe for concurrent use.
type Hooks struct {
	// RunClosed is called when this worker closes a run.
	RunClosed func(workflow, status string, d time.Duration)
	// WorkflowTaskStarted is called when a workflow task begins, and
	// WorkflowTask after it, once for each start.
	WorkflowTaskStarted func(workflow string)
	WorkflowTask        func(workflow string, d time.Duration, err error)
	// StepAttempt is called after each step attempt.
	StepAttempt func(step string, d time.Duration, err error)
}

// NewWorker connects a worker to the engine's streams and buckets over nc,
// creating them when missing.
func NewWorker(ctx context.Context, nc *nats.Conn, opts ...Option) (*Worker, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.name == "" {
		host, _ := os.Hostname()
		cfg.name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	env, err := wire.Setup(ctx, nc, wire.Config{Prefix: cfg.prefix, Replicas: cfg.replicas, Memory: cfg.memory})
	if err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:                cfg,
		env:                env,
		log:                cfg.logger,
		cache:              newResultCache(cfg.cacheSize),
		defaultStepOptions: cfg.defaultStepOptions,
		workflows:          map[string]Registrable{},
	}
	w.runner = steps.NewRunner(env, steps.RunnerConfig{Worker: cfg.name, Concurrency: cfg.stepConcurrency, AckWait: cfg.ackWait, Logger: cfg.logger})
	w.runner.Hooks.AttemptDone = func(step string, d time.Duration, err error) {
		if w.Hooks.StepAttempt != nil {
			w.Hooks.StepAttempt(step, d, err)
		}
	}
	w.runner.Hooks.WakeLocal = w.wakeLocal
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

// Run serves tasks until ctx is canceled, then drains: no new tasks are
// fetched, tasks in flight get the drain timeout to finish, and what is still
// running after it is released for redelivery to another worker. Run returns
// nil after a clean drain.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("jetflow: worker already running")
	}
	w.running = true
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
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.NewTimer(w.cfg.drainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelWork()
		case <-work.Done():
		}
	})
	defer stopDrain()

	var wg sync.WaitGroup
	for name, def := range wfs {
		cfg := wire.ConsumerConfig(w.env.Names.WorkflowConsumer(name), w.env.Names.WorkflowSubject(name), w.cfg.ackWait, 10*w.cfg.wfConcurrency+1000)
		wg.Add(1)
		go func() {
			defer wg.Done()
			wire.Consume(ctx, w.env.JS, w.env.Names.TaskStream(), cfg, w.cfg.wfConcurrency, w.log, func(m jetstream.Msg) {
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
	return nil
}

var (
	errConflict = errors.New("jetflow: run changed concurrently")
	errBehind   = errors.New("jetflow: run record behind the task")
)

// behindWaits is how many times a task waits for the run record to hold
// the position it reports before it replays anyway.
const behindWaits = 4

func (w *Worker) handleWorkflowTask(ctx context.Context, def Registrable, m jetstream.Msg) {
	start := time.Now()
	var t wire.WorkflowTask
	if err := kv.Unmarshal(m.Data(), &t); err != nil || ValidateID(t.WorkflowID) != nil {
		if err == nil {
			err = fmt.Errorf("%w: workflow task with invalid workflow ID %q", kv.ErrCorrupt, t.WorkflowID)
		}
		wire.Park(ctx, w.env, m, "wf", def.Name(), err, w.log)
		return
	}
	if t.Result != nil && t.Seq > 0 {
		w.cache.put(kv.StepKey(t.WorkflowID, t.Seq), t.Result)
	}
	if t.Reason == wire.ReasonTimer && t.Seq > 0 {
		if err := w.fireTimer(ctx, &t); err != nil {
			w.log.Warn("jetflow: recording timer", "workflow_id", t.WorkflowID, "err", err)
			_ = m.NakWithDelay(time.Second)
			return
		}
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
	if err := w.moveRun(ctx, def, &t, start); err != nil {
		if ctx.Err() == nil {
			w.log.Warn("jetflow: workflow task", "workflow", def.Name(), "workflow_id", t.WorkflowID, "err", err)
		}
		_ = m.NakWithDelay(500 * time.Millisecond)
		return
	}
	_ = m.Ack()
}

// wakeLocal moves a run forward right here when this worker runs its
// workflow type: the step that just recorded a result saves the round trip
// of a workflow task (publish, deliver, ack). It reports false, and the
// caller publishes the task, when the type is not registered here or the
// replay could not finish.
func (w *Worker) wakeLocal(ctx context.Context, workflow, id string, seq int, res *kv.Result) bool {
	w.mu.Lock()
	def, ok := w.workflows[workflow]
	w.mu.Unlock()
	if !ok || w.cfg.noLocalWake {
		return false
	}
	w.cache.put(kv.StepKey(id, seq), res)
	t := wire.WorkflowTask{WorkflowID: id, Workflow: workflow, Reason: wire.ReasonResult, Seq: seq, Result: res}
	return w.moveRun(ctx, def, &t, time.Now()) == nil
}

// moveRun is one workflow task: it replays the run and records its
// decisions, trying again while another replay of the same run wins the
// revision check.
func (w *Worker) moveRun(ctx context.Context, def Registrable, t *wire.WorkflowTask, start time.Time) error {
	if w.Hooks.WorkflowTaskStarted != nil {
		w.Hooks.WorkflowTaskStarted(def.Name())
	}
	var err error
	announced := map[string]bool{}
	for try := 0; try < 8; try++ {
		err = w.advance(ctx, def, t, announced, try >= behindWaits)
		if errors.Is(err, errBehind) {
			// 1+2+3+4 ms at most, then decide anyway (see advance).
			if err = wire.Sleep(ctx, time.Duration(try+1)*time.Millisecond); err != nil {
				break
			}
			continue
		}
		if !errors.Is(err, errConflict) {
			break
		}
	}
	if w.Hooks.WorkflowTask != nil {
		w.Hooks.WorkflowTask(def.Name(), time.Since(start), err)
	}
	return err
}

func (w *Worker) fireTimer(ctx context.Context, t *wire.WorkflowTask) error {
	res := kv.Result{Kind: kv.KindTimer, Name: "Sleep", ScheduledAt: t.FireAt, CompletedAt: time.Now().UTC(), Worker: w.cfg.name}
	_, err := kv.Create(ctx, w.env.Buckets.Steps, kv.StepKey(t.WorkflowID, t.Seq), res)
	if errors.Is(err, kv.ErrExists) {
		return nil
	}
	if err == nil {
		w.env.Emit(wire.Event{Event: wire.EventTimerFired, Workflow: t.Workflow, WorkflowID: t.WorkflowID, Seq: t.Seq, Worker: w.cfg.name})
	}
	return err
}

// advance replays the run once and acts on what the code decided: new steps
// and timers are published first (deduplicated by ID, so a crash and a second
// replay publish nothing twice), then the run record is updated with a
// revision check, so of two concurrent replays only one moves the run.
//
// announced remembers, across the retries of one task, which decisions were
// already announced, so a replay that loses the revision check and runs
// again does not announce them twice.
//
// A task for a position the record does not hold yet gives errBehind unless
// lateOK: the decision is being recorded by another replay. After a crash
// between that replay's publish and its update it never will be, so the
// caller sets lateOK after a few short waits and this replay decides again.
func (w *Worker) advance(ctx context.Context, def Registrable, t *wire.WorkflowTask, announced map[string]bool, lateOK bool) error {
	run, rev, err := kv.Get[kv.Run](ctx, w.env.Buckets.Runs, t.WorkflowID)
	if errors.Is(err, kv.ErrNotFound) {
		w.log.Warn("jetflow: workflow task for an unknown run; dropped", "workflow_id", t.WorkflowID)
		return nil
	}
	if err != nil {
		return err
	}
	if kv.Terminal(run.Status) {
		return nil
	}
	if run.Workflow != def.Name() {
		return nil
	}
	if t.Seq > len(run.Commands) && !lateOK {
		// The result of a position the record does not hold yet: the
		// replay that decided it published the task and has not recorded
		// its decision. Replaying now would decide it again and announce
		// it twice; the record catches up within a round trip.
		return errBehind
	}
	e := newExecution(ctx, w, &run)
	e.wakeSeq = t.Seq
	done, out, werr := e.execute(def)
	if e.transient != nil {
		return e.transient
	}
	now := time.Now().UTC()
	// What the code decided is announced and published before it is
	// recorded, so that a watcher sees "started" and "step_scheduled" before
	// the step's own events. A replay that then loses the revision check
	// repeats the announcement; the events stay true (the tasks are out).
	announce := func(ev wire.Event) {
		key := ev.Event + "/" + strconv.Itoa(ev.Seq)
		if announced[key] {
			return
		}
		announced[key] = true
		ev.Workflow, ev.WorkflowID, ev.Worker = run.Workflow, run.ID, w.cfg.name
		w.env.Emit(ev)
	}
	var events []wire.Event
	started := run.Status == kv.StatusPending
	if started {
		run.Status = kv.StatusRunning
		run.StartedAt = now
		// Only the start task announces the start: a result task that read
		// the run before the start was recorded is about to lose its race.
		if t.Reason == wire.ReasonStart {
			announce(wire.Event{Event: wire.EventStarted, Status: kv.StatusRunning})
		}
	}
	for _, ev := range e.events {
		announce(ev)
	}
	changed := false
	for i := range e.newSteps {
		st := &e.newSteps[i]
		if e.results[st.Seq] != nil {
			continue // already ran: another replay scheduled it first
		}
		data, err := kv.Marshal(st)
		if err != nil {
			return err
		}
		announce(wire.Event{Event: wire.EventStepScheduled, Seq: st.Seq, Step: st.Step, Attempt: 1, Compensation: st.Compensation})
		if err := w.env.Publish(ctx, w.env.Names.StepSubject(st.Step), wire.MsgID(run.ID, st.Seq, 1, "step"), data); err != nil {
			return err
		}
	}
	for _, tr := range e.newTimers {
		if e.results[tr.seq] != nil {
			continue
		}
		data, err := kv.Marshal(wire.WorkflowTask{WorkflowID: run.ID, Workflow: run.Workflow, Reason: wire.ReasonTimer, Seq: tr.seq, FireAt: tr.at})
		if err != nil {
			return err
		}
		n := w.env.Names
		announce(wire.Event{Event: wire.EventTimerScheduled, Seq: tr.seq, Step: "Sleep", RetryInMS: float64(time.Until(tr.at).Microseconds()) / 1000})
		if err := w.env.PublishAt(ctx, n.ScheduleSubject(run.ID, tr.seq, 0), n.WorkflowSubject(run.Workflow), wire.MsgID(run.ID, tr.seq, 0, "timer"), data, tr.at); err != nil {
			return err
		}
	}
	if done && e.fatal == nil && e.compensationErr != nil {
		var ce *CompensationError
		if werr == nil || !errors.As(werr, &ce) {
			werr = e.compensationErr
		}
	}
	waiting := ""
	for _, st := range e.newSteps {
		if !w.env.Served(ctx, w.env.Names.StepConsumer(st.Step)) {
			waiting = "no worker has registered step " + st.Step + "; it runs when one does"
			events = append(events, wire.Event{Event: wire.EventNoWorker, Seq: st.Seq, Step: st.Step, Error: waiting})
		}
	}
	if waiting != "" || len(e.newSteps) > 0 || started {
		changed = changed || run.Waiting != waiting
		run.Waiting = waiting
	}
	changed = changed || started || len(e.cmds) != len(run.Commands) || run.CurrentStep != e.blockedOn
	run.Commands = e.cmds
	run.CurrentStep = e.blockedOn
	switch {
	case e.fatal != nil:
		info := errorInfo(e.fatal)
		run.Status, run.Error, run.ClosedAt, changed = kv.StatusFailed, &info, now, true
		var nd *NonDeterminismError
		if errors.As(e.fatal, &nd) {
			events = append(events, wire.Event{Event: wire.EventNonDeterminism, Seq: nd.Seq, Error: nd.Error(), ErrorType: info.Type})
		}
		events = append(events, wire.Event{Event: wire.EventFailed, Status: run.Status, Error: info.Message, ErrorType: info.Type})
	case done && werr == nil:
		run.Status, run.Output, run.ClosedAt, changed = kv.StatusCompleted, out, now, true
		run.CurrentStep = ""
		events = append(events, wire.Event{Event: wire.EventCompleted, Status: run.Status})
	case done:
		info := errorInfo(werr)
		run.Status, run.Error, run.ClosedAt, changed = statusFor(werr), &info, now, true
		if run.Status == kv.StatusCompensationFailed {
			run.Output = out
		}
		run.CurrentStep = ""
		events = append(events, wire.Event{Event: run.Status, Status: run.Status, Error: info.Message, ErrorType: info.Type})
	}
	if !changed {
		return nil
	}
	if kv.Terminal(run.Status) {
		run.Waiting = ""
		if err := w.schedulePurge(ctx, &run); err != nil {
			return err
		}
	}
	run.UpdatedAt = now
	run.Tasks++
	if _, err := kv.Update(ctx, w.env.Buckets.Runs, run.ID, run, rev); err != nil {
		if errors.Is(err, kv.ErrConflict) {
			return errConflict
		}
		return err
	}
	for _, ev := range events {
		ev.Workflow, ev.WorkflowID, ev.Worker = run.Workflow, run.ID, w.cfg.name
		if ev.Event == wire.EventCompleted || ev.Event == wire.EventFailed || ev.Event == kv.StatusCompensationFailed {
			ev.DurationMS = float64(now.Sub(run.CreatedAt).Microseconds()) / 1000
		}
		w.env.Emit(ev)
	}
	if kv.Terminal(run.Status) {
		w.cache.forget(run.ID, len(run.Commands))
		if w.Hooks.RunClosed != nil {
			w.Hooks.RunClosed(run.Workflow, run.Status, now.Sub(run.CreatedAt))
		}
	}
	return nil
}

// statusFor maps the error a workflow returned to the run's final status.
func statusFor(err error) string {
	var ce *CompensationError
	if errors.As(err, &ce) {
		return kv.StatusCompensationFailed
	}
	return kv.StatusFailed
}

// errorInfo stores an error a run ended with.
func errorInfo(err error) kv.ErrorInfo {
	var nd *NonDeterminismError
	if errors.As(err, &nd) {
		d, _ := kv.Marshal(nd)
		return kv.ErrorInfo{Type: "NonDeterminism", Message: nd.Error(), NonRetryable: true, Seq: nd.Seq, Details: d}
	}
	var ce *CompensationError
	if errors.As(err, &ce) {
		d, _ := kv.Marshal(ce)
		return kv.ErrorInfo{Type: "CompensationFailed", Message: ce.Error(), NonRetryable: true, Step: ce.Step, Seq: ce.Seq, Details: d}
	}
	var sterr *StepError
	if errors.As(err, &sterr) {
		return kv.ErrorInfo{Type: sterr.Err.Type, Message: err.Error(), NonRetryable: sterr.Err.NonRetryable, Step: sterr.Step, Seq: sterr.Seq}
	}
	se := steps.AsError(err)
	return kv.ErrorInfo{Type: se.Type, Message: se.Message, NonRetryable: se.NonRetryable, Details: se.Details}
}

// schedulePurge asks the server to hand the closed run back for purging
// once its retention has passed. The schedule's subject is the run's own and
// rolls up, so publishing it twice keeps one schedule: no deduplication ID
// (and no room in the server's ID window) is needed. It is published before the run is
// recorded closed; a purge task that finds its run still open does nothing.
func (w *Worker) schedulePurge(ctx context.Context, run *kv.Run) error {
	if w.cfg.retention <= 0 {
		return nil
	}
	data, err := kv.Marshal(wire.WorkflowTask{WorkflowID: run.ID, Workflow: run.Workflow, Reason: wire.ReasonPurge})
	if err != nil {
		return err
	}
	n := w.env.Names
	return w.env.PublishAt(ctx, n.ScheduleSubject(run.ID, 0, 0), n.WorkflowSubject(run.Workflow),
		"", data, run.ClosedAt.Add(w.cfg.retention))
}

// purge removes a closed run: its step results, its events, then its record
// (last, so a purge cut short is finished by the redelivered task).
func (w *Worker) purge(ctx context.Context, t *wire.WorkflowTask) error {
	run, _, err := kv.Get[kv.Run](ctx, w.env.Buckets.Runs, t.WorkflowID)
	if errors.Is(err, kv.ErrNotFound) {
		return nil
	}
	if err != nil && !errors.Is(err, kv.ErrCorrupt) {
		return err
	}
	if err == nil && !kv.Terminal(run.Status) {
		return nil // reused ID or a purge published for a close that lost its race
	}
	return w.env.PurgeRun(ctx, t.Workflow, t.WorkflowID)
}

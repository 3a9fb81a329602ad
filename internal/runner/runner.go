package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetflow-dev/jetflow/internal/twogen"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

// Runner consumes step tasks and runs their handlers. A workflow.Worker owns
// one; it is exported so the worker (and tests) can drive it.
type Runner struct {
	env     *wire.Env
	log     *slog.Logger
	worker  string
	slots   int
	ackWait time.Duration
	// Hooks let a host observe attempts (metrics). Nil fields are skipped.
	Hooks Hooks

	// breakers is this worker's access to the shared circuit breakers.
	breakers *breakers
	// batches caches the history batches read to check tasks: a fan-out's
	// tasks all name the same few batches, and batches never change.
	batches *twogen.Map[string, *kv.Batch]
	// halts are the attempts in flight by execution key, to cancel when
	// their run is canceled or terminated (see haltRuns).
	haltMu sync.Mutex
	halts  map[string]map[*Task]context.CancelCauseFunc

	mu       sync.Mutex
	handlers map[string]steps.Handler
	// inFlight counts the attempts running now.
	inFlight atomic.Int64
	// tracer makes the attempts' spans (see trace.go).
	tracer trace.Tracer
}

// Hooks observe the runner; they must be safe for concurrent use.
type Hooks struct {
	// AttemptDone is called after each attempt with its outcome.
	AttemptDone func(step string, d time.Duration, err error)
	// WakeLocal, when set, may move the run forward in this process instead
	// of publishing a workflow task: it reports true once the run has seen
	// the result (its decisions published and recorded). The step's message
	// is acked only after that, so a crash in between redelivers the step,
	// which finds its result and wakes the run again.
	WakeLocal func(ctx context.Context, t *Task, res *kv.Result) bool
	// Issued, when set, returns the task this process published for the
	// result key, if it still knows it: the runner then trusts that copy
	// instead of reading the decision back from the run's history.
	Issued func(resultKey string) *Task
}

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Worker      string
	Concurrency int
	AckWait     time.Duration
	Logger      *slog.Logger
	// Tracer makes the spans of attempts whose tasks carry a trace
	// context (nil: none).
	Tracer trace.Tracer
}

// NewRunner returns a runner with no steps registered.
func NewRunner(env *wire.Env, cfg RunnerConfig) *Runner {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runner{env: env, log: cfg.Logger, worker: cfg.Worker, slots: cfg.Concurrency, ackWait: cfg.AckWait, handlers: map[string]steps.Handler{},
		breakers: newBreakers(env, cfg.Worker, cfg.Logger), batches: twogen.New[string, *kv.Batch](256), tracer: cfg.Tracer}
}

// Register adds a step. It fails for an invalid name, a step declared with
// steps.Ref, or a name registered twice.
func (r *Runner) Register(h steps.Handler) error {
	if !steps.ValidName(h.Name()) {
		return fmt.Errorf("%w: %q", steps.ErrInvalidName, h.Name())
	}
	if !h.Implemented() {
		return fmt.Errorf("%w: %s (declared with steps.Ref)", steps.ErrNotImplemented, h.Name())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.handlers[h.Name()]; dup {
		return fmt.Errorf("steps: step %s registered twice", h.Name())
	}
	r.handlers[h.Name()] = h
	return nil
}

// Names lists the registered steps.
// InFlight is how many attempts are running now.
func (r *Runner) InFlight() int { return int(r.inFlight.Load()) }

func (r *Runner) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.handlers))
	for n := range r.handlers {
		out = append(out, n)
	}
	return out
}

// Run consumes the tasks of every registered step until ctx is done, then
// waits for the attempts in flight. work is the context handlers run under;
// cancel it after a drain timeout to abandon them (their messages are then
// redelivered to another worker).
func (r *Runner) Run(ctx, work context.Context) {
	if sub, err := r.env.NC.Subscribe(r.env.Names.HaltSubject(">"), func(m *nats.Msg) {
		r.halt(strings.TrimPrefix(m.Subject, r.env.Names.HaltSubject("")), string(m.Data) == kv.SignalTerminate)
	}); err == nil {
		defer func() { _ = sub.Unsubscribe() }()
	} else {
		r.log.Warn("jetflow: listening for canceled runs", "err", err)
	}
	var wg sync.WaitGroup
	r.mu.Lock()
	for name, h := range r.handlers {
		cfg := wire.ConsumerConfig(r.env.Names.StepConsumer(name), r.env.Names.StepSubject(name), r.ackWait, 10*r.slots+1000)
		wg.Add(1)
		go func() {
			defer wg.Done()
			wire.Consume(ctx, r.env.JS, r.env.Names.TaskStream(), cfg, r.slots, r.log, func(m jetstream.Msg) {
				r.inFlight.Add(1)
				defer r.inFlight.Add(-1)
				r.handle(work, h, m)
			})
		}()
	}
	r.mu.Unlock()
	wg.Wait()
}

func (r *Runner) handle(ctx context.Context, h steps.Handler, m jetstream.Msg) {
	var t Task
	if err := kv.Unmarshal(m.Data(), &t); err != nil || t.WorkflowID == "" || t.Seq <= 0 || t.Attempt <= 0 {
		if err == nil {
			err = fmt.Errorf("%w: step task without workflow ID, seq or attempt", kv.ErrCorrupt)
		}
		wire.Park(ctx, r.env, m, "step", h.Name(), err, r.log)
		return
	}
	if !r.authorize(ctx, h, m, &t) {
		return
	}
	key := t.ResultKey()
	// Another delivery of this attempt may have run when this one is a
	// redelivery, a task published again by a worker that rebuilt the run
	// from its history, or when it comes AckWait or more after the message was
	// stored (its worker may have been paused past AckWait while the server
	// gave the message to another): that worker may have recorded the
	// result and died before waking the workflow. Finish its work instead of
	// running again.
	// A retry, too: its schedule may have fired after the sweeper had it
	// run already.
	if md, err := m.Metadata(); err == nil && (t.Republished || t.Attempt > 1 || md.NumDelivered > 1 || time.Since(md.Timestamp) >= r.ackWait) {
		if res, _, err := kv.Get[kv.Result](ctx, r.env.Buckets.Steps, key); err == nil {
			if r.wake(ctx, &t, &res) == nil {
				_ = m.Ack()
			}
			return
		}
	}
	if t.Attempt > 1 && !r.runOpen(ctx, &t) {
		// A retry of a run that has ended (terminated or canceled while
		// the retry waited): nothing waits for it.
		_ = m.Ack()
		return
	}
	now := time.Now()
	ctx, span := r.startAttempt(ctx, m, &t)
	defer span.End()
	if late := ScheduleToCloseError(&t, now); late != nil {
		r.finish(ctx, m, &t, nil, late, now)
		return
	}
	var permit *breakerPermit
	if t.Breaker != nil {
		// The breaker decides before the handler runs, once per attempt
		// (see admitBreaker); a step without one never touches the breakers
		// bucket.
		var ok bool
		if permit, ok = r.admitBreaker(ctx, m, &t, now); !ok {
			return
		}
	}
	// The message stays in progress until its outcome is stored: through
	// the attempt, and through a result the store takes only later.
	defer wire.KeepInProgress(m, r.ackWait, nil)()
	out, err := r.attempt(ctx, h, m, &t)
	if r.Hooks.AttemptDone != nil {
		r.Hooks.AttemptDone(t.Step, time.Since(now), err)
	}
	abandoned := ctx.Err() != nil && err != nil
	if permit != nil {
		// Before the result is recorded, so the next attempt sees the
		// breaker this one may have opened.
		r.reportBreaker(ctx, permit, &t, err, abandoned)
	}
	if abandoned {
		// Shutting down past the drain timeout: leave the message for
		// redelivery rather than recording a failure the step did not have.
		traceAbandoned(ctx)
		_ = m.Nak()
		return
	}
	r.finish(ctx, m, &t, out, err, now)
}

// resultHeadroom is what a step result needs besides its output.
const resultHeadroom = 2048

type attemptResult struct {
	out []byte
	err error
}

// StartedAfter is how long an attempt runs before step_started announces
// it (stamped with the time it started). A quicker attempt is announced by
// its outcome alone, which carries its duration: most steps take a few
// milliseconds, and their start was a third of the events a run stored.
var StartedAfter = 100 * time.Millisecond

// attempt runs the handler once, bounded by StartToClose even if the
// handler ignores its context (its caller keeps the message in progress).
func (r *Runner) attempt(ctx context.Context, h steps.Handler, m jetstream.Msg, t *Task) ([]byte, error) {
	began := time.Now()
	announce := time.NewTimer(StartedAfter)
	defer announce.Stop()
	hctx, halt := context.WithCancelCause(ctx)
	defer halt(nil)
	r.track(t, halt)
	defer r.untrack(t)
	actx, cancel := context.WithTimeout(hctx, t.StartToClose)
	defer cancel()
	actx = steps.WithInfo(actx, t.Info())
	done := make(chan attemptResult, 1)
	go func() {
		out, err := Invoke(actx, h.Invoke, t.Input)
		done <- attemptResult{out, err}
	}()
	for {
		select {
		case res := <-done:
			if res.err == nil && actx.Err() != nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
				// Finished, but too late: the attempt is already abandoned.
				return nil, startToCloseError(t)
			}
			return res.out, res.err
		case <-announce.C:
			r.env.Emit(wire.Event{Event: wire.EventStepStarted, Workflow: t.Workflow, WorkflowID: t.WorkflowID, Seq: t.Seq, Step: t.Step,
				Attempt: t.Attempt, Compensation: t.Compensation, Worker: r.worker, Time: began.UTC()})
		case <-actx.Done():
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(context.Cause(hctx), errHalted) {
				return nil, HaltedError(t)
			}
			return nil, startToCloseError(t)
		}
	}
}

// errHalted is the cause of an attempt's context when its run stops.
var errHalted = errors.New("steps: the run was canceled or terminated")

func (r *Runner) track(t *Task, halt context.CancelCauseFunc) {
	r.haltMu.Lock()
	defer r.haltMu.Unlock()
	if r.halts == nil {
		r.halts = map[string]map[*Task]context.CancelCauseFunc{}
	}
	ek := t.ExecKey()
	if r.halts[ek] == nil {
		r.halts[ek] = map[*Task]context.CancelCauseFunc{}
	}
	r.halts[ek][t] = halt
}

func (r *Runner) untrack(t *Task) {
	r.haltMu.Lock()
	defer r.haltMu.Unlock()
	ek := t.ExecKey()
	delete(r.halts[ek], t)
	if len(r.halts[ek]) == 0 {
		delete(r.halts, ek)
	}
}

// halt cancels the attempts in flight of one execution: all of them when
// the run is terminated, all but its compensations when it is canceled
// (those are what a cancellation runs).
func (r *Runner) halt(execKey string, terminate bool) {
	r.haltMu.Lock()
	defer r.haltMu.Unlock()
	for t, halt := range r.halts[execKey] {
		if terminate || !t.Compensation {
			halt(errHalted)
		}
	}
}

func startToCloseError(t *Task) *steps.Error {
	return &steps.Error{Type: steps.TypeStartToCloseTimeout, Message: fmt.Sprintf("attempt %d of step %s ran past %s", t.Attempt, t.Step, t.StartToClose)}
}

// finish records the attempt's outcome: a result (success or final failure)
// or a retry scheduled after the policy's backoff.
func (r *Runner) finish(ctx context.Context, m jetstream.Msg, t *Task, out []byte, err error, started time.Time) {
	now := time.Now()
	base := wire.Event{Workflow: t.Workflow, WorkflowID: t.WorkflowID, Seq: t.Seq, Step: t.Step, Attempt: t.Attempt,
		DurationMS: float64(now.Sub(started).Microseconds()) / 1000, Compensation: t.Compensation, Worker: r.worker}
	res, retry, next := Settle(t, out, err, r.env.MaxPayload, started, now, r.worker)
	traceSettled(ctx, &res, retry)
	if retry != nil && !r.runOpen(ctx, t) {
		// The run has ended (terminated or canceled): no retry, and
		// nothing waits for a result.
		_ = m.Ack()
		return
	}
	if retry != nil {
		perr := r.persist(ctx, t, "scheduling retry", "", func() error { return r.retry(ctx, t, traceHeader(m), next, retry) })
		if perr != nil {
			_ = m.NakWithDelay(time.Second)
			return
		}
		ev := base
		// The type has a field of its own: the message is said once.
		ev.Event, ev.Error, ev.ErrorType = wire.EventStepRetrying, retry.Message, retry.Type
		ev.RetryInMS = float64(next.Sub(now).Microseconds()) / 1000
		r.env.Emit(ev)
		_ = m.Ack()
		return
	}
	cerr := r.persist(ctx, t, "recording step result", "KV_"+r.env.Buckets.Steps.Bucket(), func() error {
		_, err := kv.Create(ctx, r.env.Buckets.Steps, t.ResultKey(), res)
		return err
	})
	switch {
	case cerr == nil:
		ev := base
		if res.Error == nil {
			ev.Event = wire.EventStepCompleted
		} else {
			ev.Event, ev.Error, ev.ErrorType = wire.EventStepFailed, res.Error.Message, res.Error.Type
		}
		r.env.Emit(ev)
	case errors.Is(cerr, kv.ErrExists):
		// Another attempt (a redelivery, a zombie) recorded first; ours is discarded.
	default:
		_ = m.NakWithDelay(time.Second)
		return
	}
	var recorded *kv.Result
	if cerr == nil {
		recorded = &res
	}
	endAttempt(ctx)
	if err := r.wake(ctx, t, recorded); err != nil {
		r.log.Warn("jetflow: waking workflow", "workflow_id", t.WorkflowID, "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	_ = m.Ack()
}

// RecordPatience is how long a runner keeps trying to store what an attempt
// settled (its result, or its retry) before it gives the message back. The
// step is not run again meanwhile: a full store or a server restarting
// delays the result, and the attempt's message stays in progress.
var RecordPatience = time.Minute

// persist runs write until it succeeds, reports kv.ErrExists, the runner
// shuts down or RecordPatience has passed, backing off from 100 ms to 2 s.
// It says what failed when write first fails, and again when it gives up
// after RecordPatience (a shutdown hands the message back unsaid); store
// names the stream an error is explained for.
func (r *Runner) persist(ctx context.Context, t *Task, what, store string, write func() error) error {
	err := write()
	if err == nil || errors.Is(err, kv.ErrExists) {
		return err
	}
	r.log.Warn("jetflow: "+what+", trying again", "workflow_id", t.WorkflowID, "step", t.Step, "for", RecordPatience, "err", r.env.Explain(ctx, err, store))
	deadline := time.Now().Add(RecordPatience)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		timer := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
		if err = write(); err == nil || errors.Is(err, kv.ErrExists) {
			return err
		}
		if !time.Now().Before(deadline) {
			r.log.Warn("jetflow: "+what+", giving the attempt back", "workflow_id", t.WorkflowID, "step", t.Step, "err", r.env.Explain(ctx, err, store))
			return err
		}
	}
}

// runOpen reports whether the execution t belongs to is still open: a
// retry is neither run nor scheduled for one that has ended (its schedules
// were dropped when it closed; a retry already queued must not schedule
// another). Only retries pay for the read. When the record cannot be read,
// the run counts as open.
func (r *Runner) runOpen(ctx context.Context, t *Task) bool {
	run, _, err := kv.Get[kv.Run](ctx, r.env.Buckets.Runs, t.WorkflowID)
	if errors.Is(err, kv.ErrNotFound) {
		return false
	}
	if err != nil {
		return true
	}
	return !kv.Terminal(run.Status) && run.Inc == t.Inc && max(run.Exec, 1) == max(t.Exec, 1)
}

// Settle says what an attempt of t that ran from started to now, with
// output out or error err, makes of its step: the result to record, or,
// when the retry policy retries it, the error to retry (retry non-nil) and
// when the next attempt is due. The runner and the test kit's simulation
// both settle attempts here, so they follow one policy.
func Settle(t *Task, out []byte, err error, maxPayload int64, started, now time.Time, worker string) (res kv.Result, retry *steps.Error, next time.Time) {
	res = kv.Result{Kind: kv.KindStep, Name: t.Step, Attempts: t.Attempt, ScheduledAt: t.ScheduledAt, StartedAt: started, CompletedAt: now, Worker: worker}
	if limit := maxPayload - resultHeadroom; err == nil && maxPayload > 0 && int64(len(out)) > limit {
		// It could never be recorded: running the step again would not
		// help, so the step fails, and its workflow can handle that.
		err = steps.NonRetryable(steps.TypePayloadTooLarge, "the output of step %s is %d bytes, over the %d a result can hold (the server's max_payload is %d)",
			t.Step, len(out), limit, maxPayload)
	}
	if err == nil {
		res.Output = out
		return res, nil, time.Time{}
	}
	se := steps.AsError(err)
	if next, ok := retryAt(t, se, now); ok {
		return kv.Result{}, se, next
	}
	res.Error = &kv.ErrorInfo{Type: se.Type, Message: se.Message, NonRetryable: se.NonRetryable, Step: t.Step, Seq: t.Seq,
		Exhausted: t.Retry.Retryable(se), Details: se.Details}
	return res, nil, time.Time{}
}

// retryAt says whether a failed attempt is retried, and when.
func retryAt(t *Task, e *steps.Error, now time.Time) (time.Time, bool) {
	if !t.Retry.Retryable(e) {
		return time.Time{}, false
	}
	if t.Retry.MaxAttempts > 0 && t.Attempt >= t.Retry.MaxAttempts {
		return time.Time{}, false
	}
	next := now.Add(t.Retry.Backoff(t.Attempt))
	if t.ScheduleToClose > 0 && next.After(t.ScheduledAt.Add(t.ScheduleToClose)) {
		return time.Time{}, false
	}
	return next, true
}

// ScheduleToCloseError is the error of an attempt of t that would start at
// now, past the step's schedule-to-close timeout; nil when it is in time.
func ScheduleToCloseError(t *Task, now time.Time) *steps.Error {
	if t.ScheduleToClose <= 0 || !now.After(t.ScheduledAt.Add(t.ScheduleToClose)) {
		return nil
	}
	return &steps.Error{Type: steps.TypeScheduleToCloseTimeout, Message: fmt.Sprintf("step %s did not complete within %s", t.Step, t.ScheduleToClose), NonRetryable: true}
}

// StartToCloseError is the error of an attempt of t that ran past its
// start-to-close timeout.
func StartToCloseError(t *Task) *steps.Error { return startToCloseError(t) }

// HaltedError is the error of an attempt of t stopped because its run was
// canceled or terminated.
func HaltedError(t *Task) *steps.Error {
	return &steps.Error{Type: steps.TypeCanceled, Message: fmt.Sprintf("attempt %d of step %s stopped: its run was canceled or terminated", t.Attempt, t.Step), NonRetryable: true}
}

// Invoke calls a step handler once, turning a panic into an error of type
// Panic.
func Invoke(ctx context.Context, invoke func(context.Context, []byte) ([]byte, error), input []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, &steps.Error{Type: steps.TypePanic, Message: fmt.Sprintf("%v\n%s", p, debug.Stack())}
		}
	}()
	return invoke(ctx, input)
}

// retry schedules the next attempt of t at at: first its record (create-only,
// so a second delivery of this attempt keeps the first one's time), which is
// what makes the attempt real to the runner that gets it, then its task.
// The next attempt's task carries hdr, the trace context of this one's.
func (r *Runner) retry(ctx context.Context, t *Task, hdr nats.Header, at time.Time, why *steps.Error) error {
	nt := *t
	nt.Attempt++
	rec := kv.Retry{Attempt: nt.Attempt, NotBefore: at, Worker: r.worker, At: time.Now().UTC(),
		Error: &kv.ErrorInfo{Type: why.Type, Message: why.Message, Step: t.Step, Seq: t.Seq}}
	if _, err := kv.Create(ctx, r.env.Buckets.Steps, kv.RetryKey(t.ExecKey(), t.Seq, nt.Attempt), rec); errors.Is(err, kv.ErrExists) {
		if rec, _, err = kv.Get[kv.Retry](ctx, r.env.Buckets.Steps, kv.RetryKey(t.ExecKey(), t.Seq, nt.Attempt)); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	nt.NotBefore = rec.NotBefore
	data, err := kv.Marshal(nt)
	if err != nil {
		return err
	}
	n := r.env.Names
	return r.env.PublishAtHeader(ctx, n.ScheduleSubject(t.ExecKey(), t.Seq, nt.Attempt), n.StepSubject(t.Step),
		wire.MsgID(t.ExecKey(), t.Seq, nt.Attempt, "step"), hdr, data, rec.NotBefore)
}

// wake publishes the workflow task that lets the run see this result.
// The recorded result travels inline, so the replay need not read it back.
// A duplicate wake-up only costs a replay that decides nothing new, so it
// is published without a deduplication ID.
func (r *Runner) wake(ctx context.Context, t *Task, res *kv.Result) error {
	if res != nil && r.Hooks.WakeLocal != nil && r.Hooks.WakeLocal(ctx, t, res) {
		return nil
	}
	return r.env.PublishWorkflowTask(ctx, wire.WorkflowTask{WorkflowID: t.WorkflowID, Workflow: t.Workflow, Reason: wire.ReasonResult, Seq: t.Seq, Exec: t.Exec},
		"")
}

package workflowtest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/jetflow-dev/jetflow/workflow/internal/kit"
)

// Env is one test's engine: the workflows and steps it knows, the fakes that
// replace some of them, a virtual clock, and a record of every step attempt.
// Create one with NewEnv per test; run workflows in it with
// ExecuteWorkflow. An Env is used from the test's goroutine only (the
// callbacks, fakes and handlers it calls run there too).
type Env struct {
	t testing.TB
	e kit.Engine
	// pending are callbacks for the next run, by offset from its start.
	pending []pendingAt
	// current is the run ExecuteWorkflow is executing (running), or
	// executed last.
	current string
	running bool
	runs    int
}

type pendingAt struct {
	d  time.Duration
	fn func()
	// when, if set, makes it a callback of When.
	when func() bool
}

// DefaultMaxPayload is the max_payload an Env checks sizes against unless
// WithMaxPayload says otherwise: a NATS server's default, 1 MiB.
const DefaultMaxPayload = 1 << 20

// NewEnv returns an empty Env whose clock starts at the wall clock's time
// (WithStartTime to choose it). What workflow code logs goes to t.Log.
// The goroutines of workflow code still waiting are ended in t.Cleanup.
func NewEnv(t testing.TB, opts ...Option) *Env {
	t.Helper()
	cfg := config{maxPayload: DefaultMaxPayload}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			t.Fatalf("workflowtest.NewEnv: %v", err)
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	e := kit.New(kit.Config{Start: cfg.start, Logger: cfg.logger, MaxPayload: cfg.maxPayload, StepOptions: cfg.stepOptions,
		ReplayEveryTask: cfg.replayEveryTask})
	t.Cleanup(e.Close)
	return &Env{t: t, e: e}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// WorkflowID is the ID of the run ExecuteWorkflow is executing, or executed
// last ("" before the first).
func (env *Env) WorkflowID() string { return env.current }

// Now reads the virtual clock.
func (env *Env) Now() time.Time { return env.e.Now() }

// Advance moves the virtual clock d forward between runs (a breaker's reset
// timeout, a schedule's ticks), doing whatever falls due meanwhile: the
// runs a schedule starts run then. A run that ends meanwhile has its
// history replayed, as ExecuteWorkflow's (a replay that fails fails the
// test).
func (env *Env) Advance(d time.Duration) {
	env.t.Helper()
	replay, err := env.e.Advance(d)
	for _, err := range replay {
		env.t.Errorf("workflowtest: a worker rebuilding a run from its history would fail: %v", err)
	}
	if err != nil {
		env.t.Fatal(err)
	}
}

// RegisterWorkflow makes defs run for real when workflow code starts them as
// child workflows (workflow.ExecuteChild). ExecuteWorkflow needs no
// registration.
func (env *Env) RegisterWorkflow(defs ...workflow.Registrable) {
	env.t.Helper()
	for _, def := range defs {
		if err := env.e.Register(def); err != nil {
			env.t.Fatalf("workflowtest: registering %s: %v", def.Name(), err)
		}
	}
}

// RegisterStep makes h run for real, in the test's goroutine, when workflow
// code executes its step (unless OnStep fakes it later), and returns its
// Handler, to set how long its calls take.
func (env *Env) RegisterStep(h steps.Handler) *Handler {
	env.t.Helper()
	if !steps.ValidName(h.Name()) {
		env.t.Fatalf("workflowtest: registering step %q: %v", h.Name(), steps.ErrInvalidName)
	}
	if !h.Implemented() {
		env.t.Fatalf("workflowtest: registering step %s: %v (declared with steps.Ref: fake it with OnStep)", h.Name(), steps.ErrNotImplemented)
	}
	r := &Handler{env: env, name: h.Name(), h: kit.Handler{Invoke: h.Invoke}}
	r.set()
	return r
}

// RegisterSteps registers each of handlers with RegisterStep.
func (env *Env) RegisterSteps(handlers ...steps.Handler) {
	env.t.Helper()
	for _, h := range handlers {
		env.RegisterStep(h)
	}
}

// Handler is a step's handler or a fake in an Env. Its calls take no
// virtual time unless Takes says otherwise.
type Handler struct {
	env   *Env
	name  string
	child bool
	h     kit.Handler
}

// Takes makes each call last d of virtual time: the attempt's outcome
// reaches the run d after it started, or the attempt fails with
// StartToCloseTimeout at its start-to-close timeout when that is shorter.
// The function itself runs when the attempt starts.
func (h *Handler) Takes(d time.Duration) *Handler {
	h.h.Takes = d
	h.set()
	return h
}

func (h *Handler) set() {
	if h.child {
		h.env.e.SetChild(h.name, h.h)
	} else {
		h.env.e.SetStep(h.name, h.h)
	}
}

// OnStep replaces the step with fn in env: workflow code that executes
// step calls fn instead of a registered handler, with the same input and
// output types, under a context that carries the attempt's steps.Info (its
// attempt number, its idempotency key). It replaces whatever env had for
// the step. (A function, not a method: Go methods take no type parameters.)
func OnStep[I, O any](env *Env, step *steps.Definition[I, O], fn func(ctx context.Context, in I) (O, error)) *Handler {
	h := &Handler{env: env, name: step.Name(), h: kit.Handler{Invoke: steps.New(step.Name(), fn).Invoke}}
	h.set()
	return h
}

// OnChild replaces the child workflow def with fn in env: a child of def
// that workflow code starts is a call of fn, which ends the child with
// fn's output (completed) or error (failed; canceled for a
// *workflow.CanceledError). Canceling or terminating such a child ends it
// at once.
func OnChild[I, O any](env *Env, def *workflow.Definition[I, O], fn func(ctx context.Context, in I) (O, error)) *Handler {
	h := &Handler{env: env, name: def.Name(), child: true, h: kit.Handler{Invoke: steps.New(def.Name(), fn).Invoke}}
	h.set()
	return h
}

// At calls fn when the virtual clock reaches d past the start of the run
// that ExecuteWorkflow starts next; called from a callback, a fake or a
// handler (while a run is executing), d past now. A callback still due when
// its run ends is dropped. Inside fn, Signal, Cancel, Terminate and Query
// talk to the run.
func (env *Env) At(d time.Duration, fn func()) {
	if env.running {
		env.e.At(env.e.Now().Add(d), env.current, fn)
		return
	}
	env.pending = append(env.pending, pendingAt{d: d, fn: fn})
}

// When calls fn once, as soon as cond holds after something happened in
// the run that ExecuteWorkflow starts next (called while a run executes:
// in that run) — a task ran, a step attempt started or ended, a timer
// fired — at that virtual time, before anything else happens. It talks to
// a run at a point of its progress rather than at a fixed time: cancel
// once the history shows a timer, terminate after the third failed
// attempt of a step. It is dropped if the run ends first. cond is called
// after every event: keep it cheap.
//
//	env.When(func() bool { c := env.CallsOf("CreateShipment"); return len(c) == 3 && !c[2].Ended.IsZero() },
//		func() { env.Terminate("the carrier is down") })
func (env *Env) When(cond func() bool, fn func()) {
	if env.running {
		env.e.When(env.current, cond, fn)
		return
	}
	env.pending = append(env.pending, pendingAt{fn: fn, when: cond})
}

// Signal sends v to the run that ExecuteWorkflow is executing, now, as
// workflow.Signal does: an ended run gives a *workflow.RunClosedError.
func Signal[T any](env *Env, sig *workflow.SignalDef[T], v T) error {
	payload, err := kv.MarshalPayload(v)
	if err != nil {
		return fmt.Errorf("jetflow: encoding signal %s: %w", sig.Name(), err)
	}
	return env.e.Signal(env.current, sig.Name(), payload)
}

// SignalAt sends v as sig d after the start of the next run (see At: due
// after the run has ended, it is dropped). The test fails if the signal is
// refused (an invalid name, a payload over the max payload).
func SignalAt[T any](env *Env, d time.Duration, sig *workflow.SignalDef[T], v T) {
	env.At(d, func() {
		if err := Signal(env, sig, v); err != nil {
			env.t.Errorf("workflowtest: signal %s at %s: %v", sig.Name(), d, err)
		}
	})
}

// Cancel cancels the run that ExecuteWorkflow is executing, now, as
// Client.Cancel does.
func (env *Env) Cancel(reason string) error { return env.e.Cancel(env.current, reason) }

// CancelAt cancels the next run d after its start (see At: due after the
// run has ended, it is dropped).
func (env *Env) CancelAt(d time.Duration, reason string) {
	env.At(d, func() {
		if err := env.Cancel(reason); err != nil {
			env.t.Errorf("workflowtest: cancel at %s: %v", d, err)
		}
	})
}

// Terminate terminates the run that ExecuteWorkflow is executing, now, as
// Client.Terminate does: nothing more of its code runs, nothing is
// compensated.
func (env *Env) Terminate(reason string) error { return env.e.Terminate(env.current, reason) }

// TerminateAt terminates the next run d after its start (see At: due
// after the run has ended, it is dropped).
func (env *Env) TerminateAt(d time.Duration, reason string) {
	env.At(d, func() {
		if err := env.Terminate(reason); err != nil {
			env.t.Errorf("workflowtest: terminate at %s: %v", d, err)
		}
	})
}

// Query asks the run that ExecuteWorkflow is executing the query name (see
// workflow.SetQueryHandler) and decodes the answer into T, as
// workflow.Query does: call it from a callback (At). An ended run gives a
// *workflow.RunClosedError; no handler, or one that failed, a
// *workflow.QueryError.
func Query[T any](env *Env, name string) (T, error) {
	var v T
	data, err := env.e.Query(env.current, name)
	if err != nil {
		return v, err
	}
	err = env.e.Decode("the answer to query "+name, data, &v)
	return v, err
}

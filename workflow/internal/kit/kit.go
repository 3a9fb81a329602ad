// Package kit is the seam between package workflow's in-memory engine (its
// file simulate.go) and package workflowtest, which users call: workflow
// sets New in its init, workflowtest calls it. Through it workflowtest
// drives the engine's own execution code without package workflow
// exporting anything that users should not see. Types here use only
// standard and engine-neutral types, so that workflow can import kit.
//
// Nothing here is part of jetflow's public API.
package kit

import (
	"context"
	"log/slog"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
)

// New returns an engine; package workflow sets it in its init.
var New func(Config) Engine

// Config configures an engine.
type Config struct {
	// Start is the virtual clock's first reading.
	Start time.Time
	// Logger receives what workflow code logs (workflow.Logger).
	Logger *slog.Logger
	// MaxPayload is the max_payload the engine checks sizes against, as a
	// server's.
	MaxPayload int64
	// StepOptions are the step options workflow code starts with.
	StepOptions steps.Options
	// ReplayEveryTask replays a run's history after each of its tasks,
	// instead of only once it is closed.
	ReplayEveryTask bool
}

// Engine runs workflows in memory, in virtual time. It is used from one
// goroutine (the test's), callbacks and handlers included.
type Engine interface {
	// Register makes def (a workflow.Registrable) run as a child workflow.
	Register(def any) error
	// SetStep gives the step name its handler.
	SetStep(name string, h Handler)
	// SetChild replaces the child workflow name with h.
	SetChild(name string, h Handler)
	// Start starts a run of def (a workflow.Registrable) with ID id.
	Start(def any, id string, input []byte) error
	// Run moves the runs until run id has closed and every run it started
	// is closed or waits with nothing scheduled, or nothing is left to do.
	Run(id string) Outcome
	// Advance moves the clock d forward, doing what falls due meanwhile;
	// replay are the errors replaying the histories of runs that closed
	// meanwhile gave, err a fault that stopped it.
	Advance(d time.Duration) (replay []error, err error)
	// At calls fn when the clock reaches t; owner is the run whose close
	// drops fn ("" for none).
	At(t time.Time, owner string, fn func())
	// When calls fn once, right after the first event after which cond
	// holds; owner as for At.
	When(owner string, cond func() bool, fn func())
	// Now reads the virtual clock.
	Now() time.Time
	// Signal, Cancel and Terminate send to run id, as a client does.
	Signal(id, name string, payload []byte) error
	Cancel(id, reason string) error
	Terminate(id, reason string) error
	// Query asks run id the query name.
	Query(id, name string) ([]byte, error)
	// Decode decodes a payload as the engine does (what names it in the
	// *workflow.PayloadDecodeError).
	Decode(what string, data []byte, v any) error
	// History is the timeline of run id's current execution, a
	// []workflow.HistoryEntry as Client.History returns it (kit cannot
	// name the type: workflow imports kit), nil for an unknown run.
	History(id string) any
	// Record is run id's record, a workflow.Record as Client.Record
	// returns it; false for an unknown run.
	Record(id string) (any, bool)
	// Result is how run id ended so far (Blocked set while it is open:
	// what it waits on); false for an unknown run.
	Result(id string) (Outcome, bool)
	// CreateSchedule creates schedule id from a workflow.ScheduleSpec,
	// ScheduleAction and SchedulePolicies, as Client.CreateSchedule does.
	CreateSchedule(id string, spec, action, policies any) error
	// DescribeSchedule is a workflow.ScheduleDescription, as
	// Client.DescribeSchedule returns it, but with every run the schedule
	// started (Recent), oldest first.
	DescribeSchedule(id string) (any, error)
	// Calls are the step attempts so far, in the order they started.
	Calls() []Call
	// BreakerEvents are the circuit breaker transitions so far.
	BreakerEvents() []steps.BreakerEvent
	// Close ends the goroutines of the workflow code still waiting.
	Close()
}

// Handler is a step's or a fake child workflow's function on payloads,
// with the virtual time each call takes.
type Handler struct {
	Invoke func(ctx context.Context, input []byte) ([]byte, error)
	Takes  time.Duration
}

// Call is one step attempt.
type Call struct {
	WorkflowID   string
	Step         string
	Seq          int
	Attempt      int
	Compensation bool
	Input        []byte
	// At is when the attempt started, Ended when its outcome reached the run.
	At, Ended time.Time
	Output    []byte
	Err       *steps.Error
	// Refused is set when the engine failed the attempt without calling the
	// handler (an open breaker, a schedule-to-close timeout).
	Refused bool
}

// Outcome is how a run ended.
type Outcome struct {
	Status string
	Output []byte
	// Err is what workflow.Run.Result returns for the run: nil when it
	// completed, a *workflow.RunError otherwise.
	Err error
	// Blocked is set when the run is still open and nothing is scheduled:
	// what its code waits on.
	Blocked string
	// Replay are the errors replaying the histories gave (a
	// *workflow.NonDeterminismError for code that did not decide the same).
	Replay []error
	// Fault is set when the simulation could not go on (a step with no
	// handler, a run that never stops).
	Fault error
}

package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// The exercise workflows are the shapes the chaos harness runs beside the
// order saga, so that its faults also hit a long run that continues as new,
// a wide fan-out, a selector's choice, a run fed by signals
// (SignalCollector, exercise_signal.go) and one that is canceled
// (CancelChain, exercise_cancel.go). They are not part of `jetflow demo`:
// `jetflow worker --exercise` registers them, with their steps Tally, Mark
// and Unmark. Each step records an effect under its idempotency key in the
// same Ledger as the saga's services, so a checker can prove that each
// position had its effect once and that the run's output adds up.

// Tally is the exercise workflows' step: it records the effect "n was
// counted" under its idempotency key and returns n (the stored n, when the
// key had an effect already).
var Tally = steps.Ref[TallyInput, int]("Tally")

// The exercise workflows.
var (
	// LongChain counts 1..Steps, one step after the other, and continues as
	// new every Batch steps.
	LongChain = workflow.New("LongChain", LongChainWorkflow)
	// FanOut counts 1..Width with every step started at once, then waits for
	// all of them.
	FanOut = workflow.New("FanOut", FanOutWorkflow)
	// StepOrTimer races a step against a timer in a selector, then records
	// its choice with a step of its own.
	StepOrTimer = workflow.New("StepOrTimer", StepOrTimerWorkflow)
)

// EffectTally is the kind of the effects Tally records.
const EffectTally = "tally"

// What StepOrTimer's selector can choose (StepOrTimerOutput.Winner), and
// what its choice step (position 3) counts for each choice.
const (
	WinnerStep  = "step"
	WinnerTimer = "timer"
	ChoseStep   = 1_000_001
	ChoseTimer  = 1_000_002
)

// TallyInput is what one Tally step counts.
type TallyInput struct {
	N int `json:"n"`
	// Delay is how long the simulated service takes before it records.
	Delay time.Duration `json:"delay,omitempty"`
}

// LongInput is LongChain's input, and the state it carries from one
// execution to the next.
type LongInput struct {
	Steps int `json:"steps"`
	// Batch is how many steps one execution runs before it continues as
	// new; 0 runs them all in one.
	Batch int           `json:"batch"`
	Delay time.Duration `json:"delay,omitempty"`
	// Done and Sum are the progress of the executions before this one.
	Done int `json:"done,omitempty"`
	Sum  int `json:"sum,omitempty"`
}

// FanOutInput is FanOut's input.
type FanOutInput struct {
	Width int           `json:"width"`
	Delay time.Duration `json:"delay,omitempty"`
}

// StepOrTimerInput is StepOrTimer's input: the raced step counts N after
// StepDelay, the timer fires after Timer, and the step that records the
// choice takes ChoiceDelay.
type StepOrTimerInput struct {
	N           int           `json:"n"`
	StepDelay   time.Duration `json:"step_delay,omitempty"`
	Timer       time.Duration `json:"timer"`
	ChoiceDelay time.Duration `json:"choice_delay,omitempty"`
}

// Tallied is the output of LongChain and FanOut: how many steps ran and the
// sum of what they counted (n(n+1)/2 when all went well).
type Tallied struct {
	Steps int `json:"steps"`
	Sum   int `json:"sum"`
}

// StepOrTimerOutput is StepOrTimer's output.
type StepOrTimerOutput struct {
	// Winner is WinnerStep or WinnerTimer: what the selector chose.
	Winner string `json:"winner"`
	// Chosen is what the choice step counted (ChoseStep or ChoseTimer), and
	// Counted what the raced step counted (it is waited for either way).
	Chosen  int `json:"chosen"`
	Counted int `json:"counted"`
}

// Exercises returns the exercise workflows.
func Exercises() []workflow.Registrable {
	return []workflow.Registrable{LongChain, FanOut, StepOrTimer, SignalCollector, CancelChain}
}

// ExerciseHandlers returns the exercise workflows' steps, implemented by s.
func (s *Services) ExerciseHandlers() []steps.Handler {
	return []steps.Handler{implement(Tally, s.TallyHandler), implement(Mark, s.MarkHandler), implement(Unmark, s.UnmarkHandler)}
}

// RegisterExercises registers the exercise workflows and their step on w.
func RegisterExercises(w *workflow.Worker, svc *Services) error {
	for _, d := range Exercises() {
		if err := w.RegisterWorkflow(d); err != nil {
			return fmt.Errorf("demo: registering workflow %s: %w", d.Name(), err)
		}
	}
	for _, h := range svc.ExerciseHandlers() {
		if err := w.RegisterStep(h); err != nil {
			return fmt.Errorf("demo: registering step %s: %w", h.Name(), err)
		}
	}
	return nil
}

// TallyHandler waits in.Delay, as a remote service would, then records
// in.N under the attempt's idempotency key and returns the recorded value.
func (s *Services) TallyHandler(ctx context.Context, in TallyInput) (int, error) {
	return s.count(ctx, Tally.Name(), EffectTally, "TLY", in)
}

// count is the exercise steps' service: it waits in.Delay (less when the
// attempt is halted), then records an effect of kind counting in.N under
// the attempt's idempotency key and returns the recorded value.
func (s *Services) count(ctx context.Context, step, kind, prefix string, in TallyInput) (int, error) {
	s.called(step)
	if in.Delay > 0 {
		t := time.NewTimer(in.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	key := s.key(ctx)
	info, _ := steps.InfoFrom(ctx)
	e, err := s.Ledger.Record(ctx, Effect{Key: key, Kind: kind, Run: info.WorkflowID, Ref: ref(prefix, key), Amount: float64(in.N), At: time.Now().UTC()})
	if err != nil {
		return 0, err
	}
	return int(e.Amount), nil
}

// exerciseOptions retry a Tally that failed (the ledger unreachable while
// the server restarts) quickly and for as long as it takes.
func exerciseOptions() steps.Options {
	return steps.Options{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &steps.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaxInterval: 2 * time.Second, BackoffCoefficient: 2},
	}
}

// LongChainWorkflow counts in.Done+1 .. in.Done+in.Batch one step at a time,
// then continues as new with its progress, until in.Steps are counted.
func LongChainWorkflow(ctx workflow.Context, in LongInput) (Tallied, error) {
	ctx = workflow.WithStepOptions(ctx, exerciseOptions())
	end := in.Steps
	if in.Batch > 0 {
		end = min(in.Done+in.Batch, in.Steps)
	}
	for n := in.Done + 1; n <= end; n++ {
		v, err := workflow.ExecuteStep(ctx, Tally, TallyInput{N: n, Delay: in.Delay}).Get(ctx)
		if err != nil {
			return Tallied{}, err
		}
		in.Sum += v
	}
	in.Done = end
	if in.Done < in.Steps {
		return Tallied{}, workflow.ContinueAsNew(ctx, in)
	}
	return Tallied{Steps: in.Done, Sum: in.Sum}, nil
}

// FanOutWorkflow starts in.Width steps counting 1..Width, then waits for
// all of them.
func FanOutWorkflow(ctx workflow.Context, in FanOutInput) (Tallied, error) {
	ctx = workflow.WithStepOptions(ctx, exerciseOptions())
	fs := make([]workflow.Future[int], in.Width)
	for i := range fs {
		fs[i] = workflow.ExecuteStep(ctx, Tally, TallyInput{N: i + 1, Delay: in.Delay})
	}
	out := Tallied{Steps: in.Width}
	for _, f := range fs {
		v, err := f.Get(ctx)
		if err != nil {
			return Tallied{}, err
		}
		out.Sum += v
	}
	return out, nil
}

// StepOrTimerWorkflow races a step (position 1) against a timer (position
// 2) and records which won with a step (position 3) whose count says so:
// a choice made twice would show in the ledger as a second choice effect,
// or as a position 3 that counts the other value. It then waits for the
// raced step whatever won, so that its effect is in before the run ends.
func StepOrTimerWorkflow(ctx workflow.Context, in StepOrTimerInput) (StepOrTimerOutput, error) {
	ctx = workflow.WithStepOptions(ctx, exerciseOptions())
	step := workflow.ExecuteStep(ctx, Tally, TallyInput{N: in.N, Delay: in.StepDelay})
	timer := workflow.NewTimer(ctx, in.Timer)
	var out StepOrTimerOutput
	workflow.NewSelector(ctx).
		AddFuture(step, func() { out.Winner = WinnerStep }).
		AddFuture(timer, func() { out.Winner = WinnerTimer }).
		Select(ctx)
	choice := ChoseStep
	if out.Winner == WinnerTimer {
		choice = ChoseTimer
	}
	var err error
	if out.Chosen, err = workflow.ExecuteStep(ctx, Tally, TallyInput{N: choice, Delay: in.ChoiceDelay}).Get(ctx); err != nil {
		return StepOrTimerOutput{}, err
	}
	if out.Counted, err = step.Get(ctx); err != nil {
		return StepOrTimerOutput{}, err
	}
	return out, nil
}

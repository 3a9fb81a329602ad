package demo

import (
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

// SignalCollector receives numbered signals (Notes) until one marked Last,
// and returns their numbers in the order it received them. The chaos
// harness sends each number once, in increasing order, while it kills
// processes: a number missing from the output, there twice or out of order
// is a signal the engine lost, duplicated or reordered.
var SignalCollector = workflow.New("SignalCollector", SignalCollectorWorkflow)

// Notes is the signal SignalCollector receives.
var Notes = workflow.NewSignal[Note]("note")

// Note is one numbered signal. The numbers are unique per run; Last asks the
// run to end once it has it.
type Note struct {
	N    int  `json:"n"`
	Last bool `json:"last,omitempty"`
}

// CollectInput is SignalCollector's input.
type CollectInput struct {
	// Every: after every Every-th note the run counts that note's number
	// with a Tally step (that takes Delay), so that signals arrive while a
	// step is in flight; 0 runs no step.
	Every int           `json:"every,omitempty"`
	Delay time.Duration `json:"delay,omitempty"`
	// Tick, when set, makes the run wait in a selector that also holds a
	// timer of Tick, renewed each time it fires, instead of in Receive:
	// signals then race timers for the selector's choice.
	Tick time.Duration `json:"tick,omitempty"`
}

// Collected is SignalCollector's output.
type Collected struct {
	// Received are the numbers of the notes the run took, in order, the
	// Last one included.
	Received []int `json:"received"`
	// Counted is the sum of what the Tally steps returned; Ticks how many
	// times the timer fired.
	Counted int `json:"counted,omitempty"`
	Ticks   int `json:"ticks,omitempty"`
}

// SignalCollectorWorkflow takes notes until one is marked Last.
func SignalCollectorWorkflow(ctx workflow.Context, in CollectInput) (Collected, error) {
	ctx = workflow.WithStepOptions(ctx, exerciseOptions())
	var out Collected
	var tick workflow.Future[struct{}]
	if in.Tick > 0 {
		tick = workflow.NewTimer(ctx, in.Tick)
	}
	for {
		var note Note
		var err error
		if in.Tick > 0 {
			took := false
			workflow.NewSelector(ctx).
				AddSignal(Notes, func() { note, err = Notes.Receive(ctx); took = true }).
				AddFuture(tick, func() { out.Ticks++; tick = workflow.NewTimer(ctx, in.Tick) }).
				Select(ctx)
			if !took {
				if err := ctx.Err(); err != nil {
					return out, err
				}
				continue
			}
		} else {
			note, err = Notes.Receive(ctx)
		}
		if err != nil {
			return out, err
		}
		out.Received = append(out.Received, note.N)
		if in.Every > 0 && len(out.Received)%in.Every == 0 {
			v, err := workflow.ExecuteStep(ctx, Tally, TallyInput{N: note.N, Delay: in.Delay}).Get(ctx)
			if err != nil {
				return out, err
			}
			out.Counted += v
		}
		if note.Last {
			return out, nil
		}
	}
}

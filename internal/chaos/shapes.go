package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

// Shapes: runs of the exercise workflows (demo.Exercises) beside the orders.
const (
	shapeLong      = "long"
	shapeFanOut    = "fanout"
	shapeRaceStep  = "race_step"  // a StepOrTimer run meant to be won by the step
	shapeRaceTimer = "race_timer" // ... and one meant to be won by the timer
	shapeSignals   = "signals"    // a SignalCollector the driver sends numbered signals
	shapeCancel    = "cancel"     // a CancelChain the driver cancels at a random point
)

// Delays of the exercise steps: short enough that a 2,000-step run ends
// within the window's order of magnitude, long enough that faults find
// steps in flight. A raced step or timer of 2 s loses to one of 0.2 s even
// on a busy machine; under faults either may win, and the checks only ask
// that the choice was made once and acted on.
const (
	longDelay   = 5 * time.Millisecond
	fanOutDelay = 20 * time.Millisecond
	raceSlow    = 2 * time.Second
	raceFast    = 200 * time.Millisecond
	// A SignalCollector counts every fifth note with a step of collectDelay;
	// with Config.SignalTick, every other one waits in a selector beside a
	// timer of collectTick.
	collectEvery = 5
	collectDelay = 50 * time.Millisecond
	collectTick  = 2 * time.Second
	// A CancelChain marks 3 to 8 times, each mark taking markDelay, with a
	// timer of markPause after every second one: long enough that cancels
	// find marks and timers in flight.
	markDelay = 150 * time.Millisecond
	markPause = 300 * time.Millisecond
)

// shapeSpec is the input of an exercise run; exactly one of the inputs is
// set. A signal run's driver keeps what it sent in signals, a cancel run's
// in cancel.
type shapeSpec struct {
	long    *demo.LongInput
	fan     *demo.FanOutInput
	race    *demo.StepOrTimerInput
	collect *demo.CollectInput
	cancel  *demo.CancelInput

	signals  *signalLog
	canceler *cancelLog
}

// drawShapes draws the exercise runs of cfg.
func drawShapes(rnd *rand.Rand, cfg *Config) []*run {
	var out []*run
	for i := range max(cfg.Long, 0) {
		n := cfg.LongSteps
		if i > 0 {
			n = 300 + rnd.IntN(max(cfg.LongSteps-300, 0)+1)
		}
		in := demo.LongInput{Steps: n, Batch: 150 + rnd.IntN(151), Delay: longDelay}
		out = append(out, &run{id: fmt.Sprintf("chaos-long-%d", i+1), kind: shapeLong, workflow: demo.LongChain.Name(), shape: &shapeSpec{long: &in}})
	}
	for i := range max(cfg.FanOuts, 0) {
		n := cfg.FanOutWidth
		if i > 0 {
			n = 200 + rnd.IntN(max(cfg.FanOutWidth-200, 0)+1)
		}
		in := demo.FanOutInput{Width: n, Delay: fanOutDelay}
		out = append(out, &run{id: fmt.Sprintf("chaos-fan-%d", i+1), kind: shapeFanOut, workflow: demo.FanOut.Name(), shape: &shapeSpec{fan: &in}})
	}
	for i := range max(cfg.Races, 0) {
		in, kind := demo.StepOrTimerInput{N: i + 1, StepDelay: 0, Timer: raceSlow}, shapeRaceStep
		if i%2 == 1 {
			in, kind = demo.StepOrTimerInput{N: i + 1, StepDelay: raceSlow, Timer: raceFast}, shapeRaceTimer
		}
		out = append(out, &run{id: fmt.Sprintf("chaos-race-%d", i+1), kind: kind, workflow: demo.StepOrTimer.Name(), shape: &shapeSpec{race: &in}})
	}
	for i := range max(cfg.Signalers, 0) {
		in := demo.CollectInput{Every: collectEvery, Delay: collectDelay}
		if cfg.SignalTick && i%2 == 1 {
			in.Tick = collectTick
		}
		n := cfg.SignalsPerRun/2 + rnd.IntN(cfg.SignalsPerRun+1)
		out = append(out, &run{id: fmt.Sprintf("chaos-signals-%d", i+1), kind: shapeSignals, workflow: demo.SignalCollector.Name(),
			shape: &shapeSpec{collect: &in, signals: &signalLog{want: max(n, 1)}}})
	}
	for i := range max(cfg.Cancels, 0) {
		in := demo.CancelInput{Steps: 3 + rnd.IntN(6), Delay: markDelay, Pause: markPause, StepError: cfg.CancelStepError}
		// Somewhere from before the run's first task to a little past its
		// expected end (a task's round trip taken as 50 ms), so that some
		// runs complete before their cancel.
		expected := time.Duration(in.Steps)*(in.Delay+50*time.Millisecond) + time.Duration(in.Steps/2)*in.Pause
		after := time.Duration(rnd.Int64N(int64(expected) * 6 / 5))
		out = append(out, &run{id: fmt.Sprintf("chaos-cancel-%d", i+1), kind: shapeCancel, workflow: demo.CancelChain.Name(),
			shape: &shapeSpec{cancel: &in, canceler: &cancelLog{after: after}}})
	}
	return out
}

func (s *shapeSpec) String() string {
	switch {
	case s.long != nil:
		return fmt.Sprintf("LongChain of %d steps, continuing as new every %d (%d executions)", s.long.Steps, s.long.Batch, s.executions())
	case s.fan != nil:
		return fmt.Sprintf("FanOut of %d parallel steps", s.fan.Width)
	case s.race != nil:
		return fmt.Sprintf("StepOrTimer: a step of %s against a timer of %s", s.race.StepDelay, s.race.Timer)
	case s.collect != nil:
		return fmt.Sprintf("SignalCollector of %d signals (tick %s)", s.signals.want, s.collect.Tick)
	case s.cancel != nil:
		return fmt.Sprintf("CancelChain of %d marks, canceled after %s", s.cancel.Steps, s.canceler.after)
	}
	return "?"
}

// executions is how many executions a run has when all goes well (a long
// run continues as new every Batch steps).
func (s *shapeSpec) executions() int {
	if s.long == nil || s.long.Batch <= 0 {
		return 1
	}
	return (s.long.Steps + s.long.Batch - 1) / s.long.Batch
}

// announcements is how many times the result of position seq may be
// announced (step_completed): once per execution that has that position.
// Events name the workflow ID and the position, not the execution.
func (s *shapeSpec) announcements(seq int) int {
	if s.long == nil || s.long.Batch <= 0 {
		return 1
	}
	n := 0
	for done := 0; done < s.long.Steps; done += s.long.Batch {
		if min(s.long.Batch, s.long.Steps-done) >= seq {
			n++
		}
	}
	return n
}

// checkShape checks one exercise run: it completed, its output is right,
// and the ledger holds each of its positions' effects once: the values
// 1..n once each for a long run or a fan-out; for a race, the raced step's
// value and the choice's, which agrees with the output and with the order
// in which the history delivered the step and the timer. Signal and cancel
// runs have checks of their own (checkSignals, checkCancel).
func (ch *checker) checkShape(ctx context.Context, v *verdict, r *run, effects []demo.Effect) error {
	switch {
	case r.shape.collect != nil:
		return ch.checkSignals(ctx, v, r, effects)
	case r.shape.cancel != nil:
		return ch.checkCancel(ctx, v, r, effects)
	}
	rec, ok, err := ch.closedRecord(ctx, v, r)
	if err != nil || !ok {
		if err == nil {
			ch.tallyBounds(v, r, effects)
		}
		return err
	}
	if rec.Status != workflow.StatusCompleted {
		v.byStatus[string(rec.Status)]++
		why := ""
		if rec.Error != nil {
			why = fmt.Sprintf(" (%s: %s)", rec.Error.Type, rec.Error.Message)
		}
		v.addLost(1, "%s (%s) ended %s%s, want completed", r.id, r.kind, rec.Status, why)
		ch.tallyBounds(v, r, effects)
		return nil
	}
	if got, want := rec.Exec, r.shape.executions(); got != want {
		if got > want {
			v.addDup(got-want, "%s (%s): %d executions, want %d", r.id, r.kind, got, want)
		} else {
			v.addLost(want-got, "%s (%s): %d executions, want %d", r.id, r.kind, got, want)
		}
	}
	counted := map[int]int{}
	for _, e := range effects {
		counted[int(e.Amount)]++
	}
	switch s := r.shape; {
	case s.long != nil || s.fan != nil:
		n := 0
		if s.long != nil {
			n = s.long.Steps
		} else {
			n = s.fan.Width
		}
		var out demo.Tallied
		if err := kv.UnmarshalPayload(rec.Output, &out); err != nil {
			v.addLost(1, "%s (%s): output does not decode: %v", r.id, r.kind, err)
			return nil
		}
		v.byStatus[r.kind+" completed"]++
		if want := (demo.Tallied{Steps: n, Sum: n * (n + 1) / 2}); out != want {
			v.addLost(1, "%s (%s): output %+v, want %+v", r.id, r.kind, out, want)
		}
		want := map[int]int{}
		for i := 1; i <= n; i++ {
			want[i] = 1
		}
		compareCounts(v, r, counted, want)
	case s.race != nil:
		var out demo.StepOrTimerOutput
		if err := kv.UnmarshalPayload(rec.Output, &out); err != nil {
			v.addLost(1, "%s (%s): output does not decode: %v", r.id, r.kind, err)
			return nil
		}
		v.byStatus["race won by the "+out.Winner]++
		chosen := map[string]int{demo.WinnerStep: demo.ChoseStep, demo.WinnerTimer: demo.ChoseTimer}[out.Winner]
		if chosen == 0 || out.Chosen != chosen || out.Counted != s.race.N {
			v.addLost(1, "%s (%s): output %+v: the choice step counted %d for winner %q (want %d), the raced step %d (want %d)",
				r.id, r.kind, out, out.Chosen, out.Winner, chosen, out.Counted, s.race.N)
		}
		want := map[int]int{s.race.N: 1}
		if chosen != 0 {
			want[chosen] = 1
		}
		compareCounts(v, r, counted, want)
		if err := ch.checkChoice(ctx, v, r, rec, out.Winner); err != nil {
			return err
		}
	}
	return nil
}

// closedRecord reads a run's record; ok says it is terminal. A run that is
// gone, never started or still open is counted here.
func (ch *checker) closedRecord(ctx context.Context, v *verdict, r *run) (workflow.Record, bool, error) {
	if r.startErr != nil {
		v.addLost(1, "%s (%s) was never started: %v", r.id, r.kind, r.startErr)
		return workflow.Record{}, false, nil
	}
	rec, err := ch.client.Record(ctx, r.id)
	if errors.Is(err, workflow.ErrNotFound) {
		v.addLost(1, "%s (%s): started, but its run record is gone", r.id, r.kind)
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("chaos: reading run %s: %w", r.id, err)
	}
	if !rec.Status.Closed() {
		v.unfinished++
		v.byStatus[string(rec.Status)]++
		where := ""
		if d, err := ch.client.Describe(ctx, r.id); err == nil {
			where = d.CurrentStep
		}
		v.problems = append(v.problems, fmt.Sprintf("unfinished: %s (%s) is still %s (execution %d), waiting on %q %s", r.id, r.kind, rec.Status, rec.Exec, where, rec.Waiting))
		return rec, false, nil
	}
	return rec, true, nil
}

// compareCounts checks the values a run's effects counted against those it
// should have, each as many times as want says.
func compareCounts(v *verdict, r *run, got, want map[int]int) {
	var missing, extra []int
	nMissing, nExtra := 0, 0
	for val, n := range want {
		if got[val] < n {
			missing = append(missing, val)
			nMissing += n - got[val]
		}
	}
	for val, n := range got {
		if n > want[val] {
			extra = append(extra, val)
			nExtra += n - want[val]
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if nMissing > 0 {
		v.addLost(nMissing, "%s (%s): %d effects missing, of values %v", r.id, r.kind, nMissing, head(missing))
	}
	if nExtra > 0 {
		v.addDup(nExtra, "%s (%s): %d effects too many, of values %v", r.id, r.kind, nExtra, head(extra))
	}
}

// tallyBounds applies, to a run that did not complete, what holds at any
// moment: no value counted twice.
func (ch *checker) tallyBounds(v *verdict, r *run, effects []demo.Effect) {
	counted := map[int]int{}
	for _, e := range effects {
		counted[int(e.Amount)]++
	}
	for val, n := range counted {
		if n > 1 {
			v.addDup(n-1, "%s (%s): %d counted %d times", r.id, r.kind, val, n)
		}
	}
}

func head(xs []int) []int {
	if len(xs) > 10 {
		return xs[:10]
	}
	return xs
}

// checkChoice reads a race's history: the selector chose what the history
// delivered first of the step (position 1) and the timer (position 2), and
// no position, the choice step (position 3) among them, was decided twice.
func (ch *checker) checkChoice(ctx context.Context, v *verdict, r *run, _ workflow.Record, winner string) error {
	batches, err := ch.batches(ctx, r.id)
	if err != nil {
		return err
	}
	if first := firstDelivered(batches); first != winner {
		v.addLost(1, "%s (%s): the selector chose the %s, but the history delivered the %q first", r.id, r.kind, winner, first)
	}
	decided := map[int]int{}
	for _, b := range batches {
		for _, d := range b.Decisions {
			decided[d.Seq]++
		}
	}
	for seq, n := range decided {
		if n > 1 {
			v.addDup(n-1, "%s (%s): position %d decided %d times in the history", r.id, r.kind, seq, n)
		}
	}
	if decided[3] == 0 {
		v.addLost(1, "%s (%s): the history has no choice step (position 3)", r.id, r.kind)
	}
	return nil
}

// firstDelivered is what a StepOrTimer history delivered first of the
// raced step (position 1) and the timer (position 2): the selector's
// choice, as a replay must make it again.
func firstDelivered(batches []kv.Batch) string {
	for _, b := range batches {
		for _, seq := range b.Deliveries {
			switch seq {
			case 1:
				return demo.WinnerStep
			case 2:
				return demo.WinnerTimer
			}
		}
	}
	return ""
}

// decidedAt counts the decisions of position seq in a history.
func decidedAt(batches []kv.Batch, seq int) int {
	n := 0
	for _, b := range batches {
		for _, d := range b.Decisions {
			if d.Seq == seq {
				n++
			}
		}
	}
	return n
}

// historyBatches reads an execution's history batches in order.
func historyBatches(ctx context.Context, steps jetstream.KeyValue, execKey string) ([]kv.Batch, error) {
	var out []kv.Batch
	for n := 1; ; n++ {
		b, _, err := kv.Get[kv.Batch](ctx, steps, kv.HistoryKey(execKey, n))
		if errors.Is(err, kv.ErrNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("chaos: reading history batch %s: %w", kv.HistoryKey(execKey, n), err)
		}
		out = append(out, b)
	}
}

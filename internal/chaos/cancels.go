package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// cancelLog is what the driver did to one CancelChain run.
type cancelLog struct {
	// after is how long after the run's start the driver cancels it.
	after time.Duration
	// accepted: a Cancel returned nil; closedFirst: Cancel said the run had
	// ended (it completed before the cancel).
	accepted, closedFirst bool
	// maybe counts the calls that failed after they may have been stored,
	// notStored those refused before; both are made again, which is
	// honest for a cancel: canceling twice is canceling once.
	maybe, notStored int
	gaveUp           error
}

// sendCancel cancels the run after its delay, again until a call is
// accepted or says the run has ended.
func (s *sender) sendCancel(ctx context.Context, r *run) {
	l := r.shape.canceler
	_ = sleepUntil(ctx, time.Now().Add(l.after))
	for {
		o, err := s.send(ctx, func(ctx context.Context) error { return s.c.Cancel(ctx, r.id, "canceled by the chaos driver") })
		switch o {
		case accepted:
			l.accepted = true
			return
		case runClosed:
			l.closedFirst = true
			return
		case maybeStored:
			l.maybe++
		case notStored:
			l.notStored++
		}
		if ctx.Err() != nil || time.Now().After(s.deadline) {
			l.gaveUp = fmt.Errorf("canceling: %v", err)
			return
		}
		_ = sleepUntil(ctx, time.Now().Add(200*time.Millisecond))
	}
}

// cancelTally is what the cancel runs added up to: canceled and
// compensated with nothing wrong, completed before their cancel (Cancel
// said so, or accepted it as the run closed), and those whose code got the
// failure of the Mark their cancel halted before the cancel (haltedFirst).
type cancelTally struct {
	canceled, completed, haltedFirst int
}

// checkCancel checks one CancelChain run against the ledger (each Mark and
// Unmark effect counts its N) and its history.
//
// Canceled: the run registered the compensations of marks 1..k (k is how
// many compensations its history ran) and must have undone exactly those:
// unmarks 1..k once each, run in reverse order and succeeded. Marks
// 1..k-1 were awaited, so each had its effect; mark k may have none (the
// cancel stopped it before it recorded) or may have landed after the
// cancel, even after its unmark: either way it is paired with its unmark.
// No mark beyond k, none twice.
//
// Completed (the cancel came too late): marks 1..Steps once each, no
// unmark, no compensation.
func (ch *checker) checkCancel(ctx context.Context, v *verdict, r *run, effects []demo.Effect) error {
	l := r.shape.canceler
	if l.gaveUp != nil {
		v.addLost(1, "%s (%s): the driver gave up %s", r.id, r.kind, l.gaveUp)
	}
	marks, unmarks := amounts(effects, demo.EffectMark), amounts(effects, demo.EffectUnmark)
	for what, counts := range map[string]map[int]int{"marked": marks, "unmarked": unmarks} {
		for n, c := range counts {
			if c > 1 {
				v.addDup(c-1, "%s (%s): %d %s %d times", r.id, r.kind, n, what, c)
			}
		}
	}
	rec, ok, err := ch.closedRecord(ctx, v, r)
	if err != nil || !ok {
		return err
	}
	problems := len(v.problems)
	hist, err := ch.client.History(ctx, r.id)
	if err != nil {
		return fmt.Errorf("chaos: reading the history of %s: %w", r.id, err)
	}
	var undid []int
	for _, h := range hist {
		if !h.Compensation {
			continue
		}
		n := 0
		switch {
		case h.Name != demo.Unmark.Name():
			v.addDup(1, "%s (%s): compensation %s at position %d", r.id, r.kind, h.Name, h.Seq)
		case !h.Done:
			v.addLost(1, "%s (%s): compensation at position %d has no recorded result", r.id, r.kind, h.Seq)
		case h.Error != nil:
			v.addLost(1, "%s (%s): compensation at position %d failed: %s", r.id, r.kind, h.Seq, h.Error)
		default:
			if err := kv.UnmarshalPayload(h.Output, &n); err != nil {
				v.addLost(1, "%s (%s): compensation at position %d: output does not decode: %v", r.id, r.kind, h.Seq, err)
			}
		}
		undid = append(undid, n)
	}
	haltedFirst, err := ch.haltedFirst(ctx, r, hist)
	if err != nil {
		return err
	}
	if haltedFirst != "" {
		v.cancels.haltedFirst++
	}
	steps := r.shape.cancel.Steps
	switch rec.Status {
	case workflow.StatusCompleted:
		v.byStatus["cancel: completed before its cancel"]++
		if len(undid) > 0 {
			v.addDup(len(undid), "%s (%s) completed, yet compensated %v", r.id, r.kind, undid)
		}
		want := map[int]int{}
		for n := 1; n <= steps; n++ {
			want[n] = 1
		}
		compareCounts(v, r, marks, want)
		for n := range unmarks {
			v.addDup(1, "%s (%s) completed, yet %d was unmarked", r.id, r.kind, n)
		}
		if len(v.problems) == problems {
			v.cancels.completed++
		}
	case workflow.StatusCanceled:
		v.byStatus["cancel: canceled"]++
		if !l.accepted && l.maybe == 0 {
			v.addDup(1, "%s (%s) ended canceled, but no cancel was sent to it", r.id, r.kind)
		}
		k := len(undid)
		for i, n := range undid {
			if n != k-i {
				v.addLost(1, "%s (%s): compensations undid %v, want %d down to 1", r.id, r.kind, undid, k)
				break
			}
		}
		for n := 1; n <= k; n++ {
			if unmarks[n] == 0 {
				v.addLost(1, "%s (%s): mark %d registered its compensation, but was never unmarked", r.id, r.kind, n)
			}
			if n < k && marks[n] == 0 {
				v.addLost(1, "%s (%s): mark %d was awaited, but has no effect", r.id, r.kind, n)
			}
		}
		for n := range marks {
			if n < 1 || n > k {
				v.addLost(1, "%s (%s): mark %d has no compensation (%d ran)", r.id, r.kind, n, k)
			}
		}
		for n := range unmarks {
			if n < 1 || n > k {
				v.addDup(1, "%s (%s): %d unmarked, beyond the %d compensations the history ran", r.id, r.kind, n, k)
			}
		}
		if len(v.problems) == problems {
			v.cancels.canceled++
		}
	default:
		v.byStatus["cancel: "+string(rec.Status)]++
		v.addLost(1, "%s (%s) ended %s%s, want canceled or completed", r.id, r.kind, rec.Status, why(rec))
		if haltedFirst != "" {
			v.problems = append(v.problems, fmt.Sprintf("history of %s (its code got the failure of the Mark its cancel halted before the cancel): %s", r.id, haltedFirst))
		}
	}
	return nil
}

// haltedFirst reports whether the run's code got the failure of a Mark its
// cancel halted no later than the cancel itself: in an earlier workflow
// task's batch, in the same one, or with no cancel in the history at all.
// It then returns the run's history batches, for a report; "" otherwise.
func (ch *checker) haltedFirst(ctx context.Context, r *run, hist []workflow.HistoryEntry) (string, error) {
	batches, err := ch.batches(ctx, r.id)
	if err != nil {
		return "", err
	}
	halted := map[int]bool{}
	for _, h := range hist {
		if h.Name == demo.Mark.Name() && h.Error != nil && h.Error.Type == steps.TypeCanceled {
			halted[h.Seq] = true
		}
	}
	for _, b := range batches {
		if slices.ContainsFunc(b.Deliveries, func(seq int) bool { return halted[seq] }) {
			parts := make([]string, len(batches))
			for i, b := range batches {
				parts[i] = describeBatch(b)
			}
			return strings.Join(parts, "\n\t"), nil
		}
		if slices.ContainsFunc(b.Signals, func(s kv.SignalIn) bool { return s.Name == kv.SignalCancel }) {
			return "", nil
		}
	}
	return "", nil
}

// describeBatch is one history batch for a problem report.
func describeBatch(b kv.Batch) string {
	s := fmt.Sprintf("batch %d at %s by %s:", b.N, b.At.UTC().Format("15:04:05.000"), b.Worker)
	for _, sig := range b.Signals {
		s += fmt.Sprintf(" signal %s (stream %d)", sig.Name, sig.Seq)
	}
	if len(b.Deliveries) > 0 {
		s += fmt.Sprintf(" delivered %v", b.Deliveries)
	}
	for _, d := range b.Decisions {
		s += fmt.Sprintf(" decided %d:%s", d.Seq, d.Name)
	}
	if b.Closing != nil {
		s += " closing " + b.Closing.Status
	}
	return s
}

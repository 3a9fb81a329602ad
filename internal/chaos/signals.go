package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
)

// signalLog is what the driver sent to one SignalCollector run. Each number
// is sent at most once under one of three fates: accepted, maybe stored,
// or not stored (and then sent again under the same number).
type signalLog struct {
	// want is how many signals must be accepted, the Last one included.
	want int
	// accepted are the numbers Signal returned nil for, in send order;
	// maybe those whose Signal failed after they may have been stored.
	accepted, maybe []int
	// notStored counts the sends the server refused before storing.
	notStored int
	// closed: the run had ended when the driver sent (a maybe-stored Last
	// had reached it first); gaveUp: the deadline passed first.
	closed bool
	gaveUp error
}

// sendSignals sends the run's numbered signals one at a time, each after
// the previous call returned, at random gaps that spread them over what is
// left of the window: 1, 2, 3, ... in increasing order, the one that makes
// want accepted marked Last. A number whose fate is unknown is never sent
// again: the next send uses the next number, so that a second copy in the
// history can only be the engine's.
func (s *sender) sendSignals(ctx context.Context, r *run, rnd *rand.Rand, windowEnd time.Time) {
	l := r.shape.signals
	next := 1
	for len(l.accepted) < l.want {
		left := l.want - len(l.accepted)
		if span := time.Until(windowEnd); span > 0 {
			_ = sleepUntil(ctx, time.Now().Add(time.Duration(rnd.Int64N(int64(2*span/time.Duration(left))+1))))
		}
		note := demo.Note{N: next, Last: left == 1}
		o, err := s.send(ctx, func(ctx context.Context) error { return workflow.Signal(ctx, s.c, r.id, demo.Notes, note) })
		switch o {
		case accepted:
			l.accepted = append(l.accepted, next)
			next++
		case maybeStored:
			l.maybe = append(l.maybe, next)
			next++
		case notStored:
			l.notStored++
		case runClosed:
			l.closed = true
			return
		}
		if len(l.accepted) < l.want && (ctx.Err() != nil || time.Now().After(s.deadline)) {
			l.gaveUp = fmt.Errorf("after %d of %d signals: %v", len(l.accepted), l.want, err)
			return
		}
		if o != accepted {
			_ = sleepUntil(ctx, time.Now().Add(200*time.Millisecond))
		}
	}
}

// signalTally is what the signal runs added up to.
type signalTally struct {
	// once counts the accepted signals delivered exactly once; maybe the
	// signals sent maybe stored, maybeIn those of them the run received;
	// notStored the sends refused and made again.
	once, maybe, maybeIn, notStored int
}

// checkSignals checks one SignalCollector run against what the driver
// sent. The history (the Signals of its batches, in order) is the
// engine's record of what it delivered; the output is what the code took.
//
//   - the run completed, and its history delivered each stream message
//     once (no sequence twice) and each number at most once;
//   - in increasing order: the driver sent them so, one after the other;
//   - only numbers the driver sent, accepted or maybe stored;
//   - the code took exactly what the history delivered, up to the first
//     Last;
//   - every accepted number up to that Last was delivered: an accepted
//     signal after it exists only when a maybe-stored Last came first,
//     and the run may end without it;
//   - every fifth number taken was counted once in the ledger.
func (ch *checker) checkSignals(ctx context.Context, v *verdict, r *run, effects []demo.Effect) error {
	l := r.shape.signals
	v.signals.maybe += len(l.maybe)
	v.signals.notStored += l.notStored
	if l.gaveUp != nil {
		v.addLost(1, "%s (%s): the driver gave up sending %s", r.id, r.kind, l.gaveUp)
	}
	rec, ok, err := ch.closedRecord(ctx, v, r)
	if err != nil || !ok {
		return err
	}
	v.byStatus[r.kind+" "+string(rec.Status)]++
	if rec.Status != workflow.StatusCompleted {
		v.addLost(1, "%s (%s) ended %s%s, want completed", r.id, r.kind, rec.Status, why(rec))
		return nil
	}
	var out demo.Collected
	if err := kv.UnmarshalPayload(rec.Output, &out); err != nil {
		v.addLost(1, "%s (%s): output does not decode: %v", r.id, r.kind, err)
		return nil
	}
	notes, err := ch.deliveredNotes(ctx, v, r)
	if err != nil {
		return err
	}

	sent := map[int]string{}
	for _, n := range l.accepted {
		sent[n] = "accepted"
	}
	for _, n := range l.maybe {
		sent[n] = "maybe"
	}
	seen, seqOf := map[int]int{}, map[int]uint64{}
	var numbers []int
	stop := -1
	for i, d := range notes {
		numbers = append(numbers, d.N)
		seen[d.N]++
		if seen[d.N] == 2 {
			// Two stream messages carry it: the server stored it twice, which
			// only a send the driver took for not stored and made again can do.
			v.addDup(1, "%s (%s): signal %d delivered twice, from stream messages %d and %d", r.id, r.kind, d.N, seqOf[d.N], d.seq)
		}
		seqOf[d.N] = d.seq
		if sent[d.N] == "" {
			v.addDup(1, "%s (%s): signal %d delivered, but the driver never sent it, or was told it was not stored", r.id, r.kind, d.N)
		}
		if i > 0 && d.N <= notes[i-1].N {
			v.addLost(1, "%s (%s): signal %d delivered after %d, out of the order they were sent in", r.id, r.kind, d.N, notes[i-1].N)
		}
		if d.Last && stop < 0 {
			stop = i
		}
	}
	if stop < 0 {
		v.addLost(1, "%s (%s) completed, but its history delivered no Last signal: %v", r.id, r.kind, head(numbers))
		return nil
	}
	if took := numbers[:stop+1]; !slices.Equal(out.Received, took) {
		v.addLost(1, "%s (%s): the code took %v, the history delivered %v up to the Last", r.id, r.kind, head(out.Received), head(took))
	}
	last := numbers[stop]
	for _, n := range l.accepted {
		switch {
		case n > last:
		case seen[n] == 0:
			v.addLost(1, "%s (%s): accepted signal %d never delivered (the run took %d signals up to %d)", r.id, r.kind, n, stop+1, last)
		case seen[n] == 1:
			v.signals.once++
		}
	}
	for _, n := range l.maybe {
		if seen[n] > 0 {
			v.signals.maybeIn++
		}
	}

	want, sum := map[int]int{}, 0
	for i, n := range out.Received {
		if every := r.shape.collect.Every; every > 0 && (i+1)%every == 0 {
			want[n]++
			sum += n
		}
	}
	if out.Counted != sum {
		v.addLost(1, "%s (%s): the Tally steps returned %d in all, want %d", r.id, r.kind, out.Counted, sum)
	}
	compareCounts(v, r, amounts(effects, demo.EffectTally), want)
	return nil
}

// delivered is a note as a history delivered it, with its stream sequence.
type delivered struct {
	demo.Note
	seq uint64
}

// deliveredNotes reads the notes a run's history delivered, in order, and
// counts a stream message delivered twice (by its sequence) as duplicated.
func (ch *checker) deliveredNotes(ctx context.Context, v *verdict, r *run) ([]delivered, error) {
	batches, err := ch.batches(ctx, r.id)
	if err != nil {
		return nil, err
	}
	var out []delivered
	seqs := map[uint64]bool{}
	for _, b := range batches {
		for _, sig := range b.Signals {
			if seqs[sig.Seq] {
				v.addDup(1, "%s (%s): stream message %d delivered twice", r.id, r.kind, sig.Seq)
				continue
			}
			seqs[sig.Seq] = true
			if sig.Name != demo.Notes.Name() {
				continue
			}
			var note demo.Note
			if err := kv.UnmarshalPayload(sig.Payload, &note); err != nil {
				v.addLost(1, "%s (%s): signal %d does not decode: %v", r.id, r.kind, sig.Seq, err)
				continue
			}
			out = append(out, delivered{Note: note, seq: sig.Seq})
		}
	}
	return out, nil
}

// batches reads the history batches of a run's first execution.
func (ch *checker) batches(ctx context.Context, id string) ([]kv.Batch, error) {
	runs, err := ch.js.KeyValue(ctx, "jetflow_runs")
	if err != nil {
		return nil, fmt.Errorf("chaos: opening the runs bucket: %w", err)
	}
	rec, _, err := kv.Get[kv.Run](ctx, runs, id)
	if err != nil {
		return nil, fmt.Errorf("chaos: reading run %s: %w", id, err)
	}
	return historyBatches(ctx, ch.steps, kv.ExecKey(id, rec.Inc, 1))
}

// amounts counts the effects of one kind by the value they counted.
func amounts(effects []demo.Effect, kind string) map[int]int {
	out := map[int]int{}
	for _, e := range effects {
		if e.Kind == kind {
			out[int(e.Amount)]++
		}
	}
	return out
}

// why is a closed run's error, for a problem report.
func why(rec workflow.Record) string {
	if rec.Error == nil {
		return ""
	}
	return fmt.Sprintf(" (%s: %s)", rec.Error.Type, rec.Error.Message)
}

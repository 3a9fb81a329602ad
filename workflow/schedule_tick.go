package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cron"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
)

// recentRuns is how many of its last runs a schedule's record keeps.
const recentRuns = 10

// maxTicksPerPass bounds the ticks one pass over a schedule looks at (a
// long outage of an @every 1s schedule counts its missed ticks over several
// passes rather than in one long one).
const maxTicksPerPass = 100_000

// ticker handles schedules: the worker of their workflow type does, on each
// wake-up.
type ticker struct {
	c      *Client
	log    *slog.Logger
	worker string
}

// tick handles a wake-up of schedule id: it decides, in one
// revision-checked write of the schedule's record, what every tick due
// since the last one does (start a run, skip, wait in the buffer, or count
// as missed), then starts the runs decided and arms the next wake-up. The
// runs decided are in the record (Pending) before any starts, and are
// started by whoever handles the schedule next if this worker dies first;
// their IDs come from the ticks, so no tick starts two runs.
func (tk *ticker) tick(ctx context.Context, id string) error {
	runs := tk.c.env.Buckets.Runs
	for try := 0; ; try++ {
		s, rev, err := kv.Get[kv.Schedule](ctx, runs, kv.ScheduleKey(id))
		if errors.Is(err, kv.ErrNotFound) {
			return nil // deleted: its last wake-up arms nothing
		}
		if errors.Is(err, kv.ErrCorrupt) {
			tk.log.Error("jetflow: a schedule's record does not decode; it is left alone", "schedule", id, "err", err)
			return nil
		}
		if err != nil {
			return err
		}
		cs, err := specOf(&s)
		if err != nil {
			tk.log.Error("jetflow: a schedule's spec no longer compiles; it is left alone", "schedule", id, "err", err)
			return nil
		}
		p := &pass{tk: tk, s: &s, spec: cs, now: time.Now().UTC()}
		if err := p.plan(ctx); err != nil {
			return err
		}
		if p.changed {
			s.UpdatedAt = p.now
			if _, err := kv.Update(ctx, runs, kv.ScheduleKey(id), s, rev); err != nil {
				if errors.Is(err, kv.ErrConflict) && try < 10 {
					continue // another worker or a client changed it: plan again
				}
				return err
			}
			for _, ev := range p.events {
				ev.Schedule, ev.Workflow, ev.Worker = id, s.Workflow, tk.worker
				emitSchedule(tk.c.env, ev)
			}
		}
		if err := tk.startPending(ctx, &s); err != nil {
			return err
		}
		return tk.arm(ctx, &s, cs)
	}
}

// pass is one planning pass over a schedule's record.
type pass struct {
	tk      *ticker
	s       *kv.Schedule
	spec    *cron.Schedule
	now     time.Time
	changed bool
	events  []wire.ScheduleEvent
	// open is the run the schedule last decided to start, while it is
	// open (or not started yet).
	open string
	// load reads a run's record; nil reads the runs bucket (the test kit
	// reads its runs in memory).
	load func(ctx context.Context, id string) (kv.Run, error)
}

func (p *pass) event(ev wire.ScheduleEvent) { p.events = append(p.events, ev) }

// plan decides what every tick due now does.
func (p *pass) plan(ctx context.Context) error {
	s := p.s
	if err := p.findOpen(ctx); err != nil {
		return err
	}
	// A run ended: the ticks waiting for it go, one at a time.
	for p.open == "" && len(s.Buffered) > 0 {
		t := s.Buffered[0]
		s.Buffered = s.Buffered[1:]
		p.changed = true
		p.start(t, "", "")
	}
	// Ticks asked for by hand, however old.
	if len(s.Requested) > 0 {
		req := s.Requested
		s.Requested, p.changed = nil, true
		for _, t := range req {
			p.handle(t)
		}
	}
	if s.Paused || s.Done != "" {
		return nil
	}
	window := s.Catchup
	if window <= 0 {
		window = DefaultCatchupWindow
	}
	for n := 0; n < maxTicksPerPass; n++ {
		t, ok := p.spec.Next(s.Last)
		if !ok {
			s.Done, p.changed = "end", true
			p.event(wire.ScheduleEvent{Event: wire.EventScheduleDone, Detail: "no tick after " + s.Last.Format(time.RFC3339)})
			return nil
		}
		if t.Add(p.spec.Jitter(s.ID, t)).After(p.now) {
			return nil // not due yet
		}
		s.Last, p.changed = t, true
		if p.now.Sub(t) > window {
			s.Missed++
			if s.Missed <= 100 || s.Missed%100 == 0 {
				p.event(wire.ScheduleEvent{Event: wire.EventScheduleMissed, Nominal: t,
					Detail: fmt.Sprintf("handled %s after its time, past the catch-up window of %s", p.now.Sub(t).Round(time.Second), window)})
			}
			continue
		}
		p.handle(kv.ScheduleTick{At: t})
		if s.Done != "" {
			return nil
		}
	}
	return nil
}

// findOpen looks for the schedule's open run: the last one it decided to
// start, unless that run has ended.
func (p *pass) findOpen(ctx context.Context) error {
	s := p.s
	last := ""
	switch {
	case len(s.Pending) > 0:
		p.open = s.Pending[len(s.Pending)-1].WorkflowID
		return nil
	case len(s.Recent) > 0:
		last = s.Recent[len(s.Recent)-1].WorkflowID
	default:
		return nil
	}
	var run kv.Run
	var err error
	if p.load != nil {
		run, err = p.load(ctx, last)
	} else {
		run, _, err = kv.Get[kv.Run](ctx, p.tk.c.env.Buckets.Runs, last)
	}
	switch {
	case errors.Is(err, kv.ErrNotFound), errors.Is(err, kv.ErrCorrupt):
		return nil
	case err != nil:
		return err
	}
	if !kv.Terminal(run.Status) && run.Schedule == s.ID {
		p.open = last
	}
	return nil
}

// handle decides what tick t does under the overlap policy.
func (p *pass) handle(t kv.ScheduleTick) {
	s := p.s
	if s.Limit > 0 && s.Started >= s.Limit {
		if s.Done == "" {
			s.Done = "limit"
			p.event(wire.ScheduleEvent{Event: wire.EventScheduleDone, Detail: fmt.Sprintf("started its limit of %d runs", s.Limit)})
		}
		return
	}
	if p.open == "" {
		p.start(t, "", "")
		return
	}
	skip := func(why string) {
		s.Skipped++
		p.event(wire.ScheduleEvent{Event: wire.EventScheduleSkipped, Nominal: t.At, WorkflowID: tickRunID(s.ID, s.IDTemplate, t), Detail: why})
	}
	switch OverlapPolicy(s.Overlap) {
	case OverlapAllowAll:
		p.start(t, "", "")
	case OverlapCancelOther:
		p.start(t, kv.SignalCancel, p.open)
	case OverlapTerminateOther:
		p.start(t, kv.SignalTerminate, p.open)
	case OverlapBufferOne:
		if len(s.Buffered) > 0 {
			skip("run " + p.open + " is still open and a tick waits already (buffer_one)")
			return
		}
		s.Buffered = append(s.Buffered, t)
		p.event(wire.ScheduleEvent{Event: wire.EventScheduleBuffered, Nominal: t.At, Detail: "waits for run " + p.open})
	case OverlapBufferAll:
		if len(s.Buffered) >= maxBuffered {
			skip(fmt.Sprintf("run %s is still open and %d ticks wait already", p.open, maxBuffered))
			return
		}
		s.Buffered = append(s.Buffered, t)
		p.event(wire.ScheduleEvent{Event: wire.EventScheduleBuffered, Nominal: t.At, Detail: "waits for run " + p.open})
	default:
		skip("run " + p.open + " is still open (overlap skip)")
	}
}

// start decides to start the run of tick t, after stopping the open one
// (stop: cancel or terminate) when the policy says so.
func (p *pass) start(t kv.ScheduleTick, stop, stopID string) {
	s := p.s
	id := tickRunID(s.ID, s.IDTemplate, t)
	r := kv.ScheduleRun{WorkflowID: id, Nominal: t.At, Decided: p.now, Stop: stop, StopID: stopID}
	s.Pending = append(s.Pending, r)
	s.Recent = append(s.Recent, r)
	if len(s.Recent) > recentRuns {
		s.Recent = s.Recent[len(s.Recent)-recentRuns:]
	}
	s.Started++
	p.open, p.changed = id, true
	detail := ""
	if t.Trigger {
		detail = "triggered by hand"
	}
	if stop != "" {
		detail = "after asking " + stopID + " to stop (" + stop + ")"
	}
	p.event(wire.ScheduleEvent{Event: wire.EventScheduleFired, Nominal: t.At, WorkflowID: id, Detail: detail})
}

// startPending starts the runs the record says are decided, then takes
// them out of it.
func (tk *ticker) startPending(ctx context.Context, s *kv.Schedule) error {
	if len(s.Pending) == 0 {
		return nil
	}
	c := tk.c
	var failed []wire.ScheduleEvent
	for _, r := range s.Pending {
		if r.StopID != "" {
			err := c.send(ctx, r.StopID, r.Stop, []byte("schedule "+s.ID+" started "+r.WorkflowID))
			if err != nil && !errors.Is(err, ErrRunClosed) && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		err := c.start(ctx, s.Workflow, r.WorkflowID, s.Input, nil, []StartOption{fromSchedule(s.ID)})
		var ae *AlreadyStartedError
		switch {
		case err == nil:
		case errors.As(err, &ae) && ae.Workflow == s.Workflow:
			// Started before with an input since changed (UpdateSchedule):
			// the tick has its run.
		case errors.As(err, &ae), errors.Is(err, ErrInvalidID):
			failed = append(failed, wire.ScheduleEvent{Event: wire.EventScheduleStartFailed, Schedule: s.ID, Workflow: s.Workflow,
				WorkflowID: r.WorkflowID, Nominal: r.Nominal, Detail: err.Error(), Worker: tk.worker})
		default:
			return fmt.Errorf("starting run %s of schedule %s: %w", r.WorkflowID, s.ID, err)
		}
	}
	done := map[string]bool{}
	for _, r := range s.Pending {
		done[r.WorkflowID] = true
	}
	_, err := c.changeSchedule(ctx, s.ID, func(cur *kv.Schedule) error {
		kept := cur.Pending[:0]
		for _, r := range cur.Pending {
			if !done[r.WorkflowID] {
				kept = append(kept, r)
			}
		}
		cur.Pending = kept
		cur.Missed += len(failed)
		*s = *cur
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	for _, ev := range failed {
		emitSchedule(c.env, ev)
	}
	return err
}

// arm asks the server for the schedule's next wake-up: a message schedule
// on its tick subject (one per schedule: a new one replaces the old) that
// fires into the workflow type's task subject at the next tick, jitter
// included. A paused or finished schedule arms nothing.
func (tk *ticker) arm(ctx context.Context, s *kv.Schedule, cs *cron.Schedule) error {
	if s.Paused || s.Done != "" {
		return nil
	}
	next, ok := cs.Next(s.Last)
	if !ok {
		return nil
	}
	at := next.Add(cs.Jitter(s.ID, next))
	data, err := kv.Marshal(wire.WorkflowTask{WorkflowID: s.ID, Workflow: s.Workflow, Reason: wire.ReasonSchedule})
	if err != nil {
		return err
	}
	n := tk.c.env.Names
	// The server fires no earlier than asked, and up to a few hundred
	// milliseconds later; a wake-up a hair early would find nothing due
	// and arm the same tick again.
	return tk.c.env.PublishAt(ctx, n.TickSubject(s.ID), n.WorkflowSubject(s.Workflow), "", data, at.Add(5*time.Millisecond))
}

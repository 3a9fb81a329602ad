package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/cron"
	"github.com/jetflow-dev/jetflow/kv"
)

// Schedules in the test kit's engine: the record a Worker keeps in the
// runs bucket, kept in memory, and planned by the ticker's own pass
// (schedule_tick.go: overlap policies, buffers, limit, end) at each
// wake-up. The server's message schedule that wakes a Worker at the next
// tick is an event on the virtual clock, due exactly at the tick (jitter
// included); a run the schedule started wakes it when it closes, as
// closeRun does. Ticks are thus never late, and never missed.

// simSchedule is one schedule of the simulation.
type simSchedule struct {
	rec  kv.Schedule
	spec *cron.Schedule
	// wake is the armed wake-up: one at a time, a new one replaces it.
	wake *simEvent
	// runs are all the runs the schedule started, oldest first (the
	// record keeps the last few only).
	runs []kv.ScheduleRun
}

func (s *sim) CreateSchedule(id string, spec, action, policies any) error {
	sp, ok1 := spec.(ScheduleSpec)
	ac, ok2 := action.(ScheduleAction)
	pol, ok3 := policies.(SchedulePolicies)
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("jetflow: schedule %s: %T, %T, %T are not a spec, an action and policies", id, spec, action, policies)
	}
	cs, err := compileSchedule(id, sp, ac, pol, s.now)
	if err != nil {
		return err
	}
	if s.defs[ac.Workflow] == nil {
		// Client.CreateSchedule refuses a type no worker serves.
		return &ScheduleError{Schedule: id, Field: "workflow", Err: fmt.Errorf("workflow %s is not registered (RegisterWorkflow)", ac.Workflow)}
	}
	if s.schedules[id] != nil {
		return fmt.Errorf("%w: %s", ErrScheduleExists, id)
	}
	rec := kv.Schedule{ID: id, CreatedAt: s.now, UpdatedAt: s.now, Last: s.now}
	setSchedule(&rec, sp, ac, pol)
	sc := &simSchedule{rec: rec, spec: cs}
	s.schedules[id] = sc
	s.wakeSchedule(sc)
	return nil
}

// wakeSchedule is the hint Client.CreateSchedule publishes: a pass now.
func (s *sim) wakeSchedule(sc *simSchedule) {
	s.after(s.now, nil, func() { s.tickSchedule(sc) })
}

// scheduleRunClosed wakes the schedule whose run has closed: ticks may
// wait for it (overlap buffer).
func (s *sim) scheduleRunClosed(id string) {
	if sc := s.schedules[id]; sc != nil {
		s.wakeSchedule(sc)
	}
}

// tickSchedule is ticker.tick: plan what every tick due does, start the
// runs decided, arm the next wake-up.
func (s *sim) tickSchedule(sc *simSchedule) {
	p := &pass{s: &sc.rec, spec: sc.spec, now: s.now, load: s.loadRun}
	if err := p.plan(context.Background()); err != nil {
		s.fault = fmt.Errorf("workflowtest: schedule %s: %w", sc.rec.ID, err)
		return
	}
	if p.changed {
		sc.rec.UpdatedAt = s.now
	}
	for _, r := range sc.rec.Pending {
		if r.StopID != "" {
			// As the ticker does: a run that ended meanwhile is fine.
			_ = s.sendTo(r.StopID, r.Stop, []byte("schedule "+sc.rec.ID+" started "+r.WorkflowID))
		}
		var ae *AlreadyStartedError
		switch err := s.startScheduled(sc, r); {
		case err == nil:
			sc.runs = append(sc.runs, r)
		case errors.As(err, &ae) && ae.Workflow == sc.rec.Workflow:
		default:
			// The ticker counts a tick whose run cannot start as missed.
			sc.rec.Missed++
			s.cfg.Logger.Warn("workflowtest: a schedule's run could not start", "schedule", sc.rec.ID, "workflow_id", r.WorkflowID, "err", err)
		}
	}
	sc.rec.Pending = nil
	s.armSchedule(sc)
}

// startScheduled starts the run r of schedule sc, its record naming the
// schedule (fromSchedule).
func (s *sim) startScheduled(sc *simSchedule, r kv.ScheduleRun) error {
	if err := ValidateID(r.WorkflowID); err != nil {
		return err
	}
	if old := s.runs[r.WorkflowID]; old != nil {
		return &AlreadyStartedError{WorkflowID: r.WorkflowID, Workflow: old.run.Workflow, Status: old.status()}
	}
	rec := s.record(r.WorkflowID, sc.rec.Workflow, sc.rec.Input, nil)
	rec.Schedule = sc.rec.ID
	run := s.newRun(s.defs[sc.rec.Workflow], rec)
	run.root = run
	s.wake(run)
	return nil
}

// armSchedule is ticker.arm: the next wake-up, at the next tick plus its
// jitter, replacing the one armed before.
func (s *sim) armSchedule(sc *simSchedule) {
	if sc.wake != nil {
		sc.wake.off = true
		sc.wake = nil
	}
	if sc.rec.Paused || sc.rec.Done != "" {
		return
	}
	next, ok := sc.spec.Next(sc.rec.Last)
	if !ok {
		return
	}
	ev := &simEvent{at: next.Add(sc.spec.Jitter(sc.rec.ID, next)).UTC(), fn: func() { s.tickSchedule(sc) }}
	s.push(ev)
	sc.wake = ev
}

// loadRun reads a run's record for the ticker's pass.
func (s *sim) loadRun(_ context.Context, id string) (kv.Run, error) {
	r := s.runs[id]
	if r == nil {
		return kv.Run{}, kv.ErrNotFound
	}
	run := r.run
	run.Status = r.status()
	return run, nil
}

func (s *sim) DescribeSchedule(id string) (any, error) {
	sc := s.schedules[id]
	if sc == nil {
		return ScheduleDescription{}, fmt.Errorf("%w: schedule %s", ErrNotFound, id)
	}
	d := describeSchedule(&sc.rec)
	// describeSchedule lists the next ticks after the wall clock's now.
	d.NextFires = nil
	if sc.rec.Done == "" && !sc.rec.Paused {
		after := sc.rec.Last
		if s.now.After(after) {
			after = s.now
		}
		for t, ok := sc.spec.Next(after); ok && len(d.NextFires) < 5; t, ok = sc.spec.Next(t) {
			d.NextFires = append(d.NextFires, t)
		}
	}
	for _, r := range sc.runs {
		st := Status("unknown")
		if run := s.runs[r.WorkflowID]; run != nil {
			st = Status(run.status())
		}
		d.Recent = append(d.Recent, ScheduleRun{WorkflowID: r.WorkflowID, Nominal: r.Nominal, Status: st})
	}
	return d, nil
}

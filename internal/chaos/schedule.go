package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go/jetstream"
)

// The chaos run's schedule: an @every 1s schedule of a small LongChain (two
// Tally steps), created as the window opens and paused as it closes, so
// that its ticks come due while workers and the server are killed. Its
// overlap policy is allow_all: under skip, ticks handled together after an
// outage would rightly skip while the first of them runs, and the check is
// that every tick started its run. Its catch-up window is
// Config.ScheduleCatchup: a tick handled later than that is missed, not
// started, and counted apart.

// chaosSchedule is the schedule's ID; its runs are chaosSchedule-<time>.
const chaosSchedule = "chaos-tick"

// shapeScheduled is the kind of the schedule's runs.
const shapeScheduled = "scheduled"

// scheduledInput is what each tick starts.
var scheduledInput = demo.LongInput{Steps: 2, Delay: longDelay}

// ScheduleTally is what the schedule did over the window, as the check
// found it.
type ScheduleTally struct {
	// Ticks counts the ticks from the first after the schedule was created
	// to the last it handled before it was paused; Runs the runs they
	// started; Twice the ticks that started (or fired) more than one run.
	Ticks, Runs, Twice int
	// Missed counts the ticks handled later than Catchup after their time:
	// counted, not started, as the policy says.
	Missed  int
	Catchup time.Duration
}

func (s ScheduleTally) String() string {
	return fmt.Sprintf("schedule: %d ticks, %d runs, %d twice, %d missed (past its %s catch-up window)", s.Ticks, s.Runs, s.Twice, s.Missed, s.Catchup)
}

// startSchedule creates the schedule, trying again while the server is
// unreachable.
func startSchedule(ctx context.Context, c *workflow.Client, cfg *Config, deadline time.Time) error {
	action, err := workflow.NewScheduleAction(demo.LongChain, scheduledInput)
	if err != nil {
		return err
	}
	spec := workflow.ScheduleSpec{Cron: []string{"@every 1s"}}
	pol := workflow.SchedulePolicies{Overlap: workflow.OverlapAllowAll, CatchupWindow: cfg.ScheduleCatchup}
	return retry(ctx, deadline, "creating the schedule", func(ctx context.Context) error {
		err := c.CreateSchedule(ctx, chaosSchedule, spec, action, pol)
		if errors.Is(err, workflow.ErrScheduleExists) {
			return nil // an earlier try's answer was lost
		}
		return err
	})
}

// stopSchedule waits until the schedule has handled the tick due as the
// window closes (a schedule that stopped ticking after a fault does not),
// pauses it, waits until it has started every run it decided (a worker
// killed between the decision and the start leaves that to the next
// wake-up, or to the sweeper), and returns its runs, for the checks of
// every exercise run, and the tick the window closed on.
func stopSchedule(ctx context.Context, c *workflow.Client, js jetstream.JetStream, deadline time.Time, logf func(string, ...any)) ([]*run, scheduleEnd, error) {
	end := scheduleEnd{due: time.Now().Truncate(time.Second)}
	runsName, _, _ := kv.BucketNames("jetflow")
	waitUntil := time.Now().Add(30 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var s kv.Schedule
		bucket, err := js.KeyValue(rctx, runsName)
		if err == nil {
			s, _, err = kv.Get[kv.Schedule](rctx, bucket, kv.ScheduleKey(chaosSchedule))
		}
		cancel()
		if err == nil && !s.Last.Before(end.due) {
			break
		}
		if time.Now().After(waitUntil) || ctx.Err() != nil {
			end.stalled = fmt.Sprintf("the tick due at %s was not handled 30 s later (last tick handled %s: %v)",
				end.due.UTC().Format(time.TimeOnly), s.Last.UTC().Format(time.TimeOnly), err)
			logf("schedule %s: %s", chaosSchedule, end.stalled)
			break
		}
		_ = sleepUntil(ctx, time.Now().Add(100*time.Millisecond))
	}
	err := retry(ctx, deadline, "pausing the schedule", func(ctx context.Context) error {
		return c.PauseSchedule(ctx, chaosSchedule, "chaos window over")
	})
	if err != nil {
		return nil, end, err
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := c.DescribeSchedule(rctx, chaosSchedule)
		var res workflow.ListResult
		if err == nil {
			res, err = c.List(rctx, workflow.ListFilter{IDPrefix: chaosSchedule + "-"})
		}
		cancel()
		if err == nil && len(res.Runs) == d.Started {
			logf("schedule %s paused: %d runs started, %d missed", chaosSchedule, d.Started, d.Missed)
			var out []*run
			for _, r := range res.Runs {
				in := scheduledInput
				started := make(chan struct{})
				close(started)
				out = append(out, &run{id: r.ID, kind: shapeScheduled, workflow: demo.LongChain.Name(), shape: &shapeSpec{long: &in}, started: started, began: true})
			}
			return out, end, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, end, fmt.Errorf("chaos: schedule %s: its runs decided never all started (%d runs, %d started: %v)", chaosSchedule, len(res.Runs), d.Started, err)
		}
		_ = sleepUntil(ctx, time.Now().Add(250*time.Millisecond))
	}
}

// scheduleEnd is where the schedule's window closed: the tick due then,
// and, if it was not handled, why the schedule is taken to have stalled.
type scheduleEnd struct {
	due     time.Time
	stalled string
}

// retry calls fn until it succeeds, with a bound of 5 s a call, until
// deadline.
func retry(ctx context.Context, deadline time.Time, what string, fn func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("chaos: %s: %w", what, err)
		}
		_ = sleepUntil(ctx, time.Now().Add(200*time.Millisecond))
	}
}

// checkSchedule checks the schedule's ticks: it kept ticking to the end of
// the window, and every tick from the first after its creation to the last
// it handled (the one due as the window closed, or one after) started
// exactly one run, whose
// record names the schedule, but the ticks it counted missed, each handled
// past the catch-up window; no tick fired twice. The runs themselves are
// checked with the other exercise runs (completed, each step's effect
// once).
func (ch *checker) checkSchedule(ctx context.Context, v *verdict, runs []*run, end scheduleEnd, catchup time.Duration) (ScheduleTally, error) {
	tally := ScheduleTally{Runs: len(runs), Catchup: catchup}
	if end.stalled != "" {
		v.addLost(1, "schedule %s stopped ticking: %s", chaosSchedule, end.stalled)
	}
	runsName, _, _ := kv.BucketNames("jetflow")
	bucket, err := ch.js.KeyValue(ctx, runsName)
	if err != nil {
		return tally, fmt.Errorf("chaos: opening %s: %w", runsName, err)
	}
	s, _, err := kv.Get[kv.Schedule](ctx, bucket, kv.ScheduleKey(chaosSchedule))
	if err != nil {
		return tally, fmt.Errorf("chaos: reading schedule %s: %w", chaosSchedule, err)
	}
	// @every 1s ticks on whole seconds: the first is the next one after
	// the schedule was created.
	first := s.CreatedAt.Truncate(time.Second).Add(time.Second)
	tally.Ticks = max(int(s.Last.Sub(first)/time.Second)+1, 0)
	ran := map[int64]string{}
	for _, r := range runs {
		at, err := time.Parse("20060102T150405Z", strings.TrimPrefix(r.id, chaosSchedule+"-"))
		if err != nil || at.Before(first) || at.After(s.Last) {
			v.addDup(1, "schedule %s: run %s is of no tick from %s to %s", chaosSchedule, r.id, first.Format(time.TimeOnly), s.Last.Format(time.TimeOnly))
			continue
		}
		ran[at.Unix()] = r.id
		run, _, err := kv.Get[kv.Run](ctx, bucket, r.id)
		if err != nil {
			return tally, fmt.Errorf("chaos: reading run %s: %w", r.id, err)
		}
		if run.Schedule != chaosSchedule {
			v.addLost(1, "schedule %s: run %s's record names schedule %q", chaosSchedule, r.id, run.Schedule)
		}
	}
	var notRun []string
	for at := first; !at.After(s.Last); at = at.Add(time.Second) {
		if ran[at.Unix()] == "" {
			notRun = append(notRun, at.UTC().Format(time.TimeOnly))
		}
	}
	tally.Missed = s.Missed
	if len(notRun) != s.Missed {
		v.addLost(max(len(notRun)-s.Missed, 1), "schedule %s: %d ticks started no run (%s), the schedule counts %d missed",
			chaosSchedule, len(notRun), strings.Join(headStrings(notRun), " "), s.Missed)
	}
	if s.Started != len(runs) || s.Skipped != 0 {
		v.addLost(1, "schedule %s: its record says %d started and %d skipped; %d runs are there", chaosSchedule, s.Started, s.Skipped, len(runs))
	}

	names := wire.NewNames("jetflow")
	data, err := streamData(ctx, ch.js, names.EventStream(), names.ScheduleEventSubject(chaosSchedule, "*"))
	if err != nil {
		return tally, err
	}
	fired := map[int64][]string{}
	for _, d := range data {
		var ev wire.ScheduleEvent
		if err := json.Unmarshal(d, &ev); err != nil {
			return tally, fmt.Errorf("chaos: schedule event %q: %w", d, err)
		}
		switch ev.Event {
		case wire.EventScheduleFired:
			fired[ev.Nominal.Unix()] = append(fired[ev.Nominal.Unix()], ev.WorkflowID+" by "+ev.Worker)
		case wire.EventScheduleMissed:
			if late := ev.Time.Sub(ev.Nominal); late <= catchup {
				v.addLost(1, "schedule %s: tick %s missed %s late, within its catch-up window of %s", chaosSchedule, ev.Nominal.Format(time.TimeOnly), late, catchup)
			}
		case wire.EventScheduleStartFailed, wire.EventScheduleSkipped:
			v.addLost(1, "schedule %s: %s event %+v", chaosSchedule, ev.Event, ev)
		}
	}
	for at, fs := range fired {
		if len(fs) > 1 {
			tally.Twice++
			v.addDup(len(fs)-1, "schedule %s: tick %s fired %d times: %s", chaosSchedule, time.Unix(at, 0).UTC().Format(time.TimeOnly), len(fs), strings.Join(fs, ", "))
		}
	}
	return tally, nil
}

func headStrings(xs []string) []string {
	return slices.Clip(xs[:min(len(xs), 10)])
}

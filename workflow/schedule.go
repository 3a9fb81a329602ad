package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cron"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go/jetstream"
)

// A schedule starts runs of a workflow on a timetable: a named, durable
// object in the runs bucket (key "sched.<id>") that the workers of its
// workflow type look after. The server holds its next wake-up (a message
// schedule on <prefix>.tick.<id>, fired at the next tick's time into the
// workflow type's task subject); the worker that gets it starts the runs
// that are due and arms the next one. Each tick's run has an ID derived
// from the schedule and the tick's nominal time, and every decision is a
// revision-checked write of the schedule's record made before the runs
// start, so a tick fired twice, or handled by two workers at once, starts
// one run.

// ScheduleSpec is when a schedule fires.
type ScheduleSpec struct {
	// Cron holds one or more expressions: 6-field cron with seconds
	// ("0 30 2 * * *": 02:30:00 every day), descriptors (@daily, @hourly,
	// ...) or "@every 30s" (at least 1s, aligned to the Unix epoch). The
	// schedule fires at the earliest time any of them gives.
	Cron []string
	// TimeZone is the IANA zone the cron expressions read their fields in
	// (default UTC).
	TimeZone string
	// Start and End bound the ticks (zero: no bound).
	Start, End time.Time
	// Jitter delays each tick's run by up to this much (the same for every
	// worker: derived from the schedule ID and the tick), to spread runs
	// that many schedules would start at one instant.
	Jitter time.Duration
}

// ScheduleAction is what a schedule starts on each tick: a run of Workflow
// with Input (the payload encoding; NewScheduleAction makes one from a
// typed input), whose ID is IDTemplate with "{schedule}" replaced by the
// schedule's ID and "{time}" by the tick's nominal time in UTC as
// 20060102T150405Z (default "{schedule}-{time}"; it must hold "{time}").
type ScheduleAction struct {
	Workflow   string
	Input      []byte
	IDTemplate string
}

// NewScheduleAction is the action that starts def with in.
func NewScheduleAction[I, O any](def *Definition[I, O], in I) (ScheduleAction, error) {
	data, err := kv.MarshalPayload(in)
	if err != nil {
		return ScheduleAction{}, fmt.Errorf("jetflow: encoding the input of %s: %w", def.Name(), err)
	}
	return ScheduleAction{Workflow: def.Name(), Input: data}, nil
}

// OverlapPolicy says what a tick does while the schedule's last run is
// still open.
type OverlapPolicy string

const (
	// OverlapSkip (default): the tick starts nothing and is counted skipped.
	OverlapSkip OverlapPolicy = "skip"
	// OverlapBufferOne: the tick waits for the open run to end, then
	// starts; one tick waits at most, later ones are skipped.
	OverlapBufferOne OverlapPolicy = "buffer_one"
	// OverlapBufferAll: every tick waits its turn (at most 1,000).
	OverlapBufferAll OverlapPolicy = "buffer_all"
	// OverlapCancelOther: the open run is canceled and the tick starts.
	OverlapCancelOther OverlapPolicy = "cancel_other"
	// OverlapTerminateOther: the open run is terminated and the tick starts.
	OverlapTerminateOther OverlapPolicy = "terminate_other"
	// OverlapAllowAll: the tick starts, whatever is open.
	OverlapAllowAll OverlapPolicy = "allow_all"
)

// SchedulePolicies are how a schedule behaves beyond its timetable.
type SchedulePolicies struct {
	// Overlap is what a tick does while the last run is open (default
	// OverlapSkip).
	Overlap OverlapPolicy
	// CatchupWindow: a tick handled later than this after its time (the
	// server or every worker was down) is missed and counted, not started
	// (default 1 minute).
	CatchupWindow time.Duration
	// Limit is the most runs the schedule starts; then it is done (0: no
	// limit).
	Limit int
}

// DefaultCatchupWindow is the catch-up window of a schedule that sets none.
const DefaultCatchupWindow = time.Minute

// maxBuffered bounds the ticks a schedule keeps waiting (buffer_all) or
// handles in one go (catch-up, backfill).
const maxBuffered = 1000

// ScheduleError is a schedule that cannot be created or changed as asked:
// Field names what is wrong ("cron[0]", "time_zone", "workflow", ...).
type ScheduleError struct {
	Schedule string
	Field    string
	Err      error
}

func (e *ScheduleError) Error() string {
	return fmt.Sprintf("jetflow: schedule %s: %s: %v", e.Schedule, e.Field, e.Err)
}

func (e *ScheduleError) Unwrap() error { return e.Err }

// ErrScheduleExists matches (errors.Is) CreateSchedule of an ID that has a
// schedule.
var ErrScheduleExists = errors.New("jetflow: schedule exists")

// ScheduleRun is a run a schedule started.
type ScheduleRun struct {
	WorkflowID string
	// Nominal is the tick's time (for a trigger, when it was asked for).
	Nominal time.Time
	Status  Status
}

// ScheduleDescription is a schedule as Describe and List show it.
type ScheduleDescription struct {
	ID       string
	Spec     ScheduleSpec
	Action   ScheduleAction
	Policies SchedulePolicies
	Paused   bool
	Note     string
	// Done says why the schedule starts nothing more: "limit" (Limit runs
	// started) or "end" (no tick before End); empty while it goes on.
	Done string
	// NextFires are the next (up to 5) tick times, jitter left out.
	NextFires []time.Time
	// Recent are the last (up to 10) runs it started, newest first, with
	// their status (DescribeSchedule only).
	Recent                   []ScheduleRun
	Started, Missed, Skipped int
	// Buffered counts ticks waiting for the open run to end.
	Buffered  int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// compileSchedule checks a schedule's spec and action and returns its
// timetable, which must have a tick after now.
func compileSchedule(id string, spec ScheduleSpec, action ScheduleAction, pol SchedulePolicies, now time.Time) (*cron.Schedule, error) {
	bad := func(field string, err error) error { return &ScheduleError{Schedule: id, Field: field, Err: err} }
	if err := ValidateID(id); err != nil {
		return nil, bad("id", err)
	}
	if len(spec.Cron) == 0 {
		return nil, bad("cron", errors.New("no expression: give at least one (\"0 30 2 * * *\", \"@every 1h\", \"@daily\")"))
	}
	cs, err := cron.New(cron.Spec{Exprs: spec.Cron, TimeZone: spec.TimeZone, Start: spec.Start, End: spec.End, Jitter: spec.Jitter})
	if err != nil {
		var se *cron.SpecError
		if !errors.As(err, &se) {
			return nil, bad("cron", err)
		}
		field := string(se.Field)
		if i := slices.Index(spec.Cron, se.Expr); se.Expr != "" && i >= 0 {
			field = fmt.Sprintf("cron[%d] %s", i, se.Field)
		}
		return nil, bad(field, err)
	}
	if !steps.ValidName(action.Workflow) {
		return nil, bad("workflow", fmt.Errorf("%w: %q", ErrInvalidName, action.Workflow))
	}
	tpl := action.IDTemplate
	if tpl == "" {
		tpl = defaultIDTemplate
	}
	if !strings.Contains(tpl, "{time}") {
		return nil, bad("id_template", fmt.Errorf("%q has no {time}: every tick needs a run ID of its own", tpl))
	}
	if err := ValidateID(runIDFor(id, tpl, time.Unix(0, 0))); err != nil {
		return nil, bad("id_template", err)
	}
	switch pol.Overlap {
	case "", OverlapSkip, OverlapBufferOne, OverlapBufferAll, OverlapCancelOther, OverlapTerminateOther, OverlapAllowAll:
	default:
		return nil, bad("overlap", fmt.Errorf("%q: want skip, buffer_one, buffer_all, cancel_other, terminate_other or allow_all", pol.Overlap))
	}
	if pol.CatchupWindow < 0 || pol.Limit < 0 {
		return nil, bad("policies", fmt.Errorf("catch-up window %s and limit %d: want 0 (the default) or more", pol.CatchupWindow, pol.Limit))
	}
	if _, ok := cs.Next(now); !ok {
		return nil, bad("cron", errors.New("no tick from now on (an impossible date, or End passed)"))
	}
	return cs, nil
}

const defaultIDTemplate = "{schedule}-{time}"

// tickRunID is the run ID of tick t: the timetable's ID of its time, or for
// a trigger that ID with "-t<milliseconds>" after it, so that a trigger
// never takes the run of the tick of the same second.
func tickRunID(schedule, tpl string, t kv.ScheduleTick) string {
	id := runIDFor(schedule, tpl, t.At)
	if t.Trigger {
		id += fmt.Sprintf("-t%03d", t.At.Nanosecond()/int(time.Millisecond))
	}
	return id
}

// runIDFor is the run ID of the tick at nominal.
func runIDFor(schedule, tpl string, nominal time.Time) string {
	if tpl == "" {
		tpl = defaultIDTemplate
	}
	return strings.NewReplacer("{schedule}", schedule, "{time}", nominal.UTC().Format("20060102T150405Z")).Replace(tpl)
}

// specOf reads a schedule record's timetable.
func specOf(s *kv.Schedule) (*cron.Schedule, error) {
	return cron.New(cron.Spec{Exprs: s.Cron, TimeZone: s.TimeZone, Start: s.Start, End: s.End, Jitter: s.Jitter})
}

// CreateSchedule creates the schedule id: from now on, the workers of the
// action's workflow start a run on every tick of spec. A schedule ID that
// has a schedule gives ErrScheduleExists; what is wrong with spec, action or
// policies a *ScheduleError naming the field. A workflow type no worker has
// served yet is refused too: its ticks would wait for a worker that may
// never come.
func (c *Client) CreateSchedule(ctx context.Context, id string, spec ScheduleSpec, action ScheduleAction, pol SchedulePolicies) error {
	if _, err := compileSchedule(id, spec, action, pol, time.Now()); err != nil {
		return err
	}
	if !c.env.Served(ctx, c.env.Names.WorkflowConsumer(action.Workflow)) {
		return &ScheduleError{Schedule: id, Field: "workflow", Err: fmt.Errorf("no worker has ever served workflow %s in namespace %s", action.Workflow, c.env.Names.Prefix)}
	}
	now := time.Now().UTC()
	s := kv.Schedule{ID: id, CreatedAt: now, UpdatedAt: now, Last: now}
	setSchedule(&s, spec, action, pol)
	if _, err := kv.Create(ctx, c.env.Buckets.Runs, kv.ScheduleKey(id), s); err != nil {
		if errors.Is(err, kv.ErrExists) {
			return fmt.Errorf("%w: %s", ErrScheduleExists, id)
		}
		return err
	}
	c.scheduleEvent(id, action.Workflow, wire.EventScheduleCreated, "", "")
	return c.wakeSchedule(ctx, id, action.Workflow)
}

func setSchedule(s *kv.Schedule, spec ScheduleSpec, action ScheduleAction, pol SchedulePolicies) {
	s.Cron, s.TimeZone, s.Start, s.End, s.Jitter = spec.Cron, spec.TimeZone, spec.Start, spec.End, spec.Jitter
	s.Workflow, s.Input, s.IDTemplate = action.Workflow, action.Input, action.IDTemplate
	s.Overlap, s.Catchup, s.Limit = string(pol.Overlap), pol.CatchupWindow, pol.Limit
}

// UpdateSchedule replaces the schedule's spec, action and policies; its
// state (counts, runs, pause) is kept, and the next tick follows the new
// spec.
func (c *Client) UpdateSchedule(ctx context.Context, id string, spec ScheduleSpec, action ScheduleAction, pol SchedulePolicies) error {
	if _, err := compileSchedule(id, spec, action, pol, time.Now()); err != nil {
		return err
	}
	s, err := c.changeSchedule(ctx, id, func(s *kv.Schedule) error {
		setSchedule(s, spec, action, pol)
		if s.Done == "end" || s.Done == "limit" && (s.Limit == 0 || s.Started < s.Limit) {
			s.Done = ""
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.scheduleEvent(id, s.Workflow, wire.EventScheduleUpdated, "", "")
	return c.wakeSchedule(ctx, id, s.Workflow)
}

// PauseSchedule stops the schedule's ticks until UnpauseSchedule; the note
// says why. Ticks while it is paused are not started later (UnpauseSchedule
// counts them skipped).
func (c *Client) PauseSchedule(ctx context.Context, id, note string) error {
	s, err := c.changeSchedule(ctx, id, func(s *kv.Schedule) error {
		s.Paused, s.Note = true, note
		return nil
	})
	if err == nil {
		c.scheduleEvent(id, s.Workflow, wire.EventSchedulePaused, "", note)
	}
	return err
}

// UnpauseSchedule lets a paused schedule tick again, from now on. The ticks
// it did not handle meanwhile (while paused, and any still due when it was
// paused) are counted skipped, not started later.
func (c *Client) UnpauseSchedule(ctx context.Context, id, note string) error {
	s, err := c.changeSchedule(ctx, id, func(s *kv.Schedule) error {
		if s.Paused {
			now := time.Now().UTC()
			if cs, err := specOf(s); err == nil {
				n := 0 // bounded: a long pause of an @every 1s schedule
				for t, ok := cs.Next(s.Last); ok && !t.After(now) && n < maxTicksPerPass; t, ok = cs.Next(t) {
					n++
				}
				s.Skipped += n
			}
			s.Last = now
		}
		s.Paused, s.Note = false, note
		return nil
	})
	if err != nil {
		return err
	}
	c.scheduleEvent(id, s.Workflow, wire.EventScheduleUnpaused, "", note)
	return c.wakeSchedule(ctx, id, s.Workflow)
}

// TriggerSchedule starts the schedule's action now (the overlap policy
// applies; a paused schedule triggers too). Its run ID is the one a tick of
// this second would get with "-t<milliseconds>" after it, apart from the
// timetable's runs; it is returned. The run is started by a worker of the
// workflow type once it handles the trigger: until then Describe and Wait
// of that ID give ErrNotFound. Backfilled ticks take the timetable's IDs:
// a backfilled tick that ran already starts nothing more. A schedule
// that has started its limit of runs gives a *ScheduleError on "limit".
func (c *Client) TriggerSchedule(ctx context.Context, id string) (string, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	t := kv.ScheduleTick{At: now, Trigger: true}
	s, err := c.changeSchedule(ctx, id, func(s *kv.Schedule) error {
		if err := limitReached(s); err != nil {
			return err
		}
		if len(s.Requested) >= maxBuffered {
			return fmt.Errorf("jetflow: schedule %s has %d requested ticks waiting already", id, len(s.Requested))
		}
		s.Requested = append(s.Requested, t)
		return nil
	})
	if err != nil {
		return "", err
	}
	run := tickRunID(s.ID, s.IDTemplate, t)
	c.scheduleEvent(id, s.Workflow, wire.EventScheduleTriggered, run, "")
	return run, c.wakeSchedule(ctx, id, s.Workflow)
}

// BackfillSchedule starts a run for every tick of the schedule's spec in
// (from, to], however old (at most 1,000 at a time); the overlap policy
// applies. It returns how many ticks it asked for. A schedule that has
// started its limit of runs gives a *ScheduleError on "limit".
func (c *Client) BackfillSchedule(ctx context.Context, id string, from, to time.Time) (int, error) {
	var n int
	s, err := c.changeSchedule(ctx, id, func(s *kv.Schedule) error {
		if err := limitReached(s); err != nil {
			return err
		}
		cs, err := specOf(s)
		if err != nil {
			return err
		}
		n = 0
		for t, ok := cs.Next(from); ok && !t.After(to); t, ok = cs.Next(t) {
			if len(s.Requested) >= maxBuffered {
				return &ScheduleError{Schedule: id, Field: "backfill", Err: fmt.Errorf("over %d ticks waiting; backfill a shorter range", maxBuffered)}
			}
			s.Requested = append(s.Requested, kv.ScheduleTick{At: t})
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	c.scheduleEvent(id, s.Workflow, wire.EventScheduleBackfill, "", fmt.Sprintf("%d ticks in (%s, %s]", n, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339)))
	return n, c.wakeSchedule(ctx, id, s.Workflow)
}

// limitReached refuses ticks asked for by hand once the schedule has
// started its limit of runs: the tick's pass would drop them without a run
// or an event, and the caller would hold the ID of a run that never comes.
func limitReached(s *kv.Schedule) error {
	if s.Limit > 0 && s.Started >= s.Limit {
		return &ScheduleError{Schedule: s.ID, Field: "limit", Err: fmt.Errorf("started its limit of %d runs: raise the limit (an update) to start more", s.Limit)}
	}
	return nil
}

// DeleteSchedule removes the schedule; the runs it started go on, and so
// does a run it decided to start (its fired event is out) that no worker
// started yet: DeleteSchedule starts it. Its pending wake-up finds nothing
// and arms nothing.
func (c *Client) DeleteSchedule(ctx context.Context, id string) error {
	s, err := c.loadSchedule(ctx, id)
	if err != nil {
		return err
	}
	// Runs the schedule decided (its fired events are out) and a worker
	// has not started yet are started here: with the record gone, no
	// worker would.
	tk := &ticker{c: c, log: c.cfg.logger, worker: "client"}
	if err := tk.startPending(ctx, &s); err != nil {
		return err
	}
	if err := c.env.Buckets.Runs.Delete(ctx, kv.ScheduleKey(id)); err != nil {
		return err
	}
	c.scheduleEvent(id, s.Workflow, wire.EventScheduleDeleted, "", "")
	return nil
}

// DescribeSchedule returns the schedule with its next fire times and its
// last runs' statuses. A missing schedule gives ErrNotFound.
func (c *Client) DescribeSchedule(ctx context.Context, id string) (ScheduleDescription, error) {
	s, err := c.loadSchedule(ctx, id)
	if err != nil {
		return ScheduleDescription{}, err
	}
	d := describeSchedule(&s)
	for i := len(s.Recent) - 1; i >= 0; i-- {
		r := s.Recent[i]
		st := Status("unknown")
		if run, _, err := kv.Get[kv.Run](ctx, c.env.Buckets.Runs, r.WorkflowID); err == nil {
			st = Status(run.Status)
		} else if errors.Is(err, kv.ErrNotFound) {
			st = "purged"
		}
		d.Recent = append(d.Recent, ScheduleRun{WorkflowID: r.WorkflowID, Nominal: r.Nominal, Status: st})
	}
	return d, nil
}

func describeSchedule(s *kv.Schedule) ScheduleDescription {
	d := ScheduleDescription{ID: s.ID,
		Spec:     ScheduleSpec{Cron: s.Cron, TimeZone: s.TimeZone, Start: s.Start, End: s.End, Jitter: s.Jitter},
		Action:   ScheduleAction{Workflow: s.Workflow, Input: s.Input, IDTemplate: s.IDTemplate},
		Policies: SchedulePolicies{Overlap: OverlapPolicy(s.Overlap), CatchupWindow: s.Catchup, Limit: s.Limit},
		Paused:   s.Paused, Note: s.Note, Done: s.Done, Started: s.Started, Missed: s.Missed, Skipped: s.Skipped,
		Buffered: len(s.Buffered), CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	if d.Policies.Overlap == "" {
		d.Policies.Overlap = OverlapSkip
	}
	if d.Policies.CatchupWindow == 0 {
		d.Policies.CatchupWindow = DefaultCatchupWindow
	}
	if cs, err := specOf(s); err == nil && s.Done == "" && !s.Paused {
		after := s.Last
		if now := time.Now(); now.After(after) {
			after = now
		}
		for t, ok := cs.Next(after); ok && len(d.NextFires) < 5; t, ok = cs.Next(t) {
			d.NextFires = append(d.NextFires, t)
		}
	}
	return d
}

// ListSchedules returns every schedule, by ID.
func (c *Client) ListSchedules(ctx context.Context) ([]ScheduleDescription, error) {
	lister, err := c.env.Buckets.Runs.ListKeysFiltered(ctx, kv.ScheduleKeyPrefix+"*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, err
	}
	var out []ScheduleDescription
	for key := range lister.Keys() {
		s, _, err := kv.Get[kv.Schedule](ctx, c.env.Buckets.Runs, key)
		if err != nil {
			continue // deleted meanwhile, or not a schedule's record
		}
		out = append(out, describeSchedule(&s))
	}
	return out, nil
}

func (c *Client) loadSchedule(ctx context.Context, id string) (kv.Schedule, error) {
	if err := ValidateID(id); err != nil {
		return kv.Schedule{}, err
	}
	s, _, err := kv.Get[kv.Schedule](ctx, c.env.Buckets.Runs, kv.ScheduleKey(id))
	if errors.Is(err, kv.ErrNotFound) {
		return s, fmt.Errorf("%w: schedule %s", ErrNotFound, id)
	}
	return s, err
}

// changeSchedule applies fn to the schedule's record with a revision check,
// again when another writer changed it meanwhile.
func (c *Client) changeSchedule(ctx context.Context, id string, fn func(*kv.Schedule) error) (kv.Schedule, error) {
	if err := ValidateID(id); err != nil {
		return kv.Schedule{}, err
	}
	for try := 0; ; try++ {
		s, rev, err := kv.Get[kv.Schedule](ctx, c.env.Buckets.Runs, kv.ScheduleKey(id))
		if errors.Is(err, kv.ErrNotFound) {
			return s, fmt.Errorf("%w: schedule %s", ErrNotFound, id)
		}
		if err != nil {
			return s, err
		}
		if err := fn(&s); err != nil {
			return s, err
		}
		s.UpdatedAt = time.Now().UTC()
		_, err = kv.Update(ctx, c.env.Buckets.Runs, kv.ScheduleKey(id), s, rev)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, kv.ErrConflict) || try >= 10 {
			return s, err
		}
	}
}

// wakeSchedule asks the workers of the schedule's workflow type to look at
// it now: a hint on the type's start subject (clients do not arm wake-ups).
func (c *Client) wakeSchedule(ctx context.Context, id, workflow string) error {
	hint, err := kv.Marshal(wire.WorkflowTask{WorkflowID: id, Workflow: workflow, Reason: wire.ReasonSchedule})
	if err != nil {
		return err
	}
	return c.env.Publish(ctx, c.env.Names.StartSubject(workflow), "", hint)
}

func (c *Client) scheduleEvent(id, workflow, event, runID, detail string) {
	emitSchedule(c.env, wire.ScheduleEvent{Event: event, Schedule: id, Workflow: workflow, WorkflowID: runID, Detail: detail})
}

func emitSchedule(env *wire.Env, ev wire.ScheduleEvent) {
	env.EmitSchedule(ev)
}

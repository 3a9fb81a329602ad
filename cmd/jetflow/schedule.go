package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cron"
	"github.com/jetflow-dev/jetflow/workflow"
)

func init() {
	register(command{name: "schedule", summary: "start runs on a timetable: schedule create|list|describe|pause|unpause|trigger|backfill|update|delete", run: runSchedule})
}

const scheduleUsage = `usage: jetflow schedule <command> [flags]

commands:
  create ID --workflow NAME --cron EXPR [--cron EXPR...] [--input JSON] [--tz ZONE]
            [--start T] [--end T] [--jitter D] [--id-template T]
            [--overlap skip|buffer_one|buffer_all|cancel_other|terminate_other|allow_all]
            [--catchup D] [--limit N]
  update ID   the same flags as create; replaces spec, action and policies
  list        every schedule
  describe ID next fire times, last runs, counts
  pause ID [--note N]     unpause ID [--note N]
  trigger ID              start the action now
  backfill ID --from T --to T   start a run for every tick in (from, to]
  delete ID

Times are RFC 3339 (2026-11-29T02:30:00Z). Cron expressions have six fields,
seconds first ("0 30 2 * * *"), or are @every D, @daily, @hourly, ...`

func runSchedule(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, scheduleUsage)
		if len(args) == 0 {
			return usagef("missing schedule command")
		}
		return &exitError{code: 0}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create", "update":
		return scheduleSet(ctx, sub, args)
	case "list":
		return scheduleList(ctx, args)
	case "describe":
		return scheduleDescribe(ctx, args)
	case "pause", "unpause":
		return schedulePause(ctx, sub, args)
	case "trigger":
		return scheduleSimple(ctx, sub, args, func(ctx context.Context, c *workflow.Client, id string) (any, string, error) {
			run, err := c.TriggerSchedule(ctx, id)
			if err != nil {
				return nil, "", err
			}
			// The trigger is recorded; a worker of the workflow type starts
			// its run in a moment, unless the overlap policy holds it back.
			text := fmt.Sprintf("schedule %s triggered: run %s starts in a moment (jetflow status %s)", id, run, run)
			if d, err := c.DescribeSchedule(ctx, id); err == nil {
				text += overlapNote(d.Policies.Overlap, "it")
			}
			return map[string]any{"id": id, "workflow_id": run}, text, nil
		})
	case "delete":
		return scheduleSimple(ctx, sub, args, func(ctx context.Context, c *workflow.Client, id string) (any, string, error) {
			return map[string]any{"id": id, "deleted": true}, "schedule " + id + " deleted", c.DeleteSchedule(ctx, id)
		})
	case "backfill":
		return scheduleBackfill(ctx, args)
	}
	fmt.Fprintln(os.Stderr, scheduleUsage)
	return usagef("unknown schedule command %q", sub)
}

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// timeFlag is an RFC 3339 time flag; zero when not given.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(v string) error {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time such as 2026-11-29T02:30:00Z: %v", err)
	}
	f.t = t
	return nil
}

func scheduleSet(ctx context.Context, verb string, args []string) error {
	var f clientFlags
	var (
		wf, input, tz, tpl, overlap string
		crons                       stringList
		start, end                  timeFlag
		jitter, catchup             time.Duration
		limit                       int
	)
	fs := newFlagSet("schedule "+verb, os.Stderr)
	f.register(fs)
	fs.StringVar(&wf, "workflow", "", "the workflow each tick starts")
	fs.Var(&crons, "cron", "when it fires: a 6-field cron expression with seconds, @every D, @daily...; give it several times for several")
	fs.StringVar(&input, "input", "null", "the runs' input as JSON, or @file, or @- for standard input")
	fs.StringVar(&tz, "tz", "", "IANA time zone the cron fields are read in (default UTC)")
	fs.Var(&start, "start", "no tick before this time (RFC 3339)")
	fs.Var(&end, "end", "no tick after this time (RFC 3339)")
	fs.DurationVar(&jitter, "jitter", 0, "delay each tick's run by up to this much")
	fs.StringVar(&tpl, "id-template", "", "the runs' IDs: {schedule} and {time} replaced (default {schedule}-{time})")
	fs.StringVar(&overlap, "overlap", "skip", "while the last run is open: skip, buffer_one, buffer_all, cancel_other, terminate_other or allow_all")
	fs.DurationVar(&catchup, "catchup", workflow.DefaultCatchupWindow, "ticks handled later than this after their time are missed, not started")
	fs.IntVar(&limit, "limit", 0, "start at most this many runs (0: no limit)")
	id, err := runIDArg(fs, args, "schedule ID: jetflow schedule "+verb+" ID --workflow NAME --cron EXPR")
	if err != nil {
		return err
	}
	if wf == "" {
		return usagef("missing --workflow: the workflow each tick starts (update replaces every setting: give them all)")
	}
	data, src, err := readInput(input)
	if err != nil {
		return err
	}
	in, err := inputFromJSON(wf, data)
	if err != nil {
		return usagef("%s: %v", src, err)
	}
	spec := workflow.ScheduleSpec{Cron: crons, TimeZone: tz, Start: start.t, End: end.t, Jitter: jitter}
	action := workflow.ScheduleAction{Workflow: wf, Input: in, IDTemplate: tpl}
	pol := workflow.SchedulePolicies{Overlap: workflow.OverlapPolicy(overlap), CatchupWindow: catchup, Limit: limit}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if verb == "create" {
		err = s.client.CreateSchedule(cctx, id, spec, action, pol)
	} else {
		err = s.client.UpdateSchedule(cctx, id, spec, action, pol)
	}
	if err != nil {
		return scheduleError(err, id)
	}
	d, err := s.client.DescribeSchedule(cctx, id)
	if err != nil {
		return scheduleError(err, id)
	}
	if f.json {
		return printJSON(os.Stdout, scheduleJSONOf(d))
	}
	fmt.Printf("schedule %s %sd: %s on %s, overlap %s", id, verb, wf, timetable(d.Spec), d.Policies.Overlap)
	if len(d.NextFires) > 0 {
		fmt.Printf("; next at %s", schedStamp(d.NextFires[0], d.Spec.TimeZone))
	}
	fmt.Println()
	return nil
}

// timetable says a schedule's cron expressions with their time zone.
func timetable(spec workflow.ScheduleSpec) string {
	zone := spec.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	return strings.Join(spec.Cron, ", ") + " (" + zone + ")"
}

// schedStamp shows a schedule's time in its own zone, which its cron
// fields are read in, with the zone's abbreviation: "02:30 Europe/Berlin"
// is what the user wrote, not the machine's local time.
func schedStamp(t time.Time, zone string) string {
	if t.IsZero() {
		return "-"
	}
	loc := time.UTC
	if l, err := time.LoadLocation(zone); err == nil && zone != "" {
		loc = l
	}
	return t.In(loc).Format("2006-01-02 15:04:05.999 MST")
}

// overlapNote warns, after a trigger or a backfill, that the overlap
// policy may start fewer runs than were asked for.
func overlapNote(p workflow.OverlapPolicy, what string) string {
	switch p {
	case workflow.OverlapSkip:
		return fmt.Sprintf("; with overlap skip, %s starts nothing while the schedule's last run is open (describe counts it skipped)", what)
	case workflow.OverlapBufferOne:
		return "; with overlap buffer_one, while the last run is open one tick waits and the others are skipped"
	case workflow.OverlapBufferAll:
		return "; with overlap buffer_all, the runs start one after the other"
	}
	return ""
}

// scheduleError maps what the schedule calls refuse to exit statuses, and
// names the flag at fault rather than the API's field.
func scheduleError(err error, id string) error {
	var se *workflow.ScheduleError
	var ce *cron.SpecError
	switch {
	case errors.As(err, &se) && se.Field == "limit":
		return &exitError{code: 1, msg: fmt.Sprintf("schedule %s %v (jetflow schedule update %s … --limit N)", id, se.Err, id)}
	case errors.As(err, &se) && errors.As(err, &ce):
		what := "--cron"
		switch {
		case ce.Expr != "":
			what += fmt.Sprintf(" %q", ce.Expr)
		case ce.Field == cron.FieldTimeZone:
			what = "--tz"
		case ce.Field == cron.FieldEnd:
			what = "--start/--end"
		case ce.Field == cron.FieldJitter:
			what = "--jitter"
		}
		msg := string(ce.Field) + ": "
		if ce.Value != "" {
			msg += ce.Value + " "
		}
		return usagef("schedule %s: %s: %s%s", id, what, msg, ce.Reason)
	case errors.As(err, &se):
		flags := map[string]string{"cron": "--cron", "workflow": "--workflow", "id_template": "--id-template", "overlap": "--overlap",
			"policies": "--catchup/--limit", "backfill": "--from/--to", "id": "schedule ID"}
		if f, ok := flags[se.Field]; ok {
			return usagef("schedule %s: %s: %v", id, f, se.Err)
		}
		return usagef("%v", err)
	case errors.Is(err, workflow.ErrInvalidID):
		return usagef("%v", err)
	case errors.Is(err, workflow.ErrScheduleExists):
		return &exitError{code: 1, msg: err.Error() + " (update changes it)"}
	case errors.Is(err, workflow.ErrNotFound):
		return &exitError{code: 1, msg: fmt.Sprintf("no schedule with ID %q", id)}
	}
	return err
}

func scheduleSimple(ctx context.Context, verb string, args []string, do func(context.Context, *workflow.Client, string) (any, string, error)) error {
	return scheduleSimpleWith(ctx, verb, args, func(*flag.FlagSet) {}, do)
}

func schedulePause(ctx context.Context, verb string, args []string) error {
	var note string
	return scheduleSimpleWith(ctx, verb, args, func(fs *flag.FlagSet) {
		fs.StringVar(&note, "note", "", "why, shown by describe")
	}, func(ctx context.Context, c *workflow.Client, id string) (any, string, error) {
		var err error
		if verb == "pause" {
			err = c.PauseSchedule(ctx, id, note)
		} else {
			err = c.UnpauseSchedule(ctx, id, note)
		}
		return map[string]any{"id": id, "paused": verb == "pause"}, "schedule " + id + " " + verb + "d", err
	})
}

func scheduleBackfill(ctx context.Context, args []string) error {
	var from, to timeFlag
	return scheduleSimpleWith(ctx, "backfill", args, func(fs *flag.FlagSet) {
		fs.Var(&from, "from", "start of the range, exclusive (RFC 3339)")
		fs.Var(&to, "to", "end of the range, inclusive (RFC 3339)")
	}, func(ctx context.Context, c *workflow.Client, id string) (any, string, error) {
		if from.t.IsZero() || to.t.IsZero() || !to.t.After(from.t) {
			return nil, "", &workflow.ScheduleError{Schedule: id, Field: "backfill", Err: errors.New("--from and --to, with --to after --from")}
		}
		n, err := c.BackfillSchedule(ctx, id, from.t, to.t)
		if err != nil {
			return nil, "", err
		}
		text := fmt.Sprintf("schedule %s: %d ticks in (%s, %s] asked for, started by a worker in a moment under the timetable's run IDs", id, n,
			from.t.UTC().Format(time.RFC3339), to.t.UTC().Format(time.RFC3339))
		if d, err := c.DescribeSchedule(ctx, id); err == nil && n > 1 {
			text += overlapNote(d.Policies.Overlap, "a tick")
		}
		return map[string]any{"id": id, "ticks": n}, text, nil
	})
}

func scheduleSimpleWith(ctx context.Context, verb string, args []string, flags func(*flag.FlagSet), do func(context.Context, *workflow.Client, string) (any, string, error)) error {
	var f clientFlags
	fs := newFlagSet("schedule "+verb, os.Stderr)
	f.register(fs)
	flags(fs)
	id, err := runIDArg(fs, args, "schedule ID: jetflow schedule "+verb+" ID")
	if err != nil {
		return err
	}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	out, text, err := do(cctx, s.client, id)
	if err != nil {
		return scheduleError(err, id)
	}
	if f.json {
		return printJSON(os.Stdout, out)
	}
	fmt.Println(text)
	return nil
}

// scheduleJSON is a schedule as describe and list --json print it.
type scheduleJSON struct {
	ID         string            `json:"id"`
	Workflow   string            `json:"workflow"`
	Input      json.RawMessage   `json:"input"`
	Cron       []string          `json:"cron"`
	TimeZone   string            `json:"time_zone,omitempty"`
	Start      *time.Time        `json:"start,omitempty"`
	End        *time.Time        `json:"end,omitempty"`
	JitterMS   float64           `json:"jitter_ms,omitempty"`
	IDTemplate string            `json:"id_template,omitempty"`
	Overlap    string            `json:"overlap"`
	CatchupMS  float64           `json:"catchup_ms"`
	Limit      int               `json:"limit,omitempty"`
	Paused     bool              `json:"paused"`
	Note       string            `json:"note,omitempty"`
	Done       string            `json:"done,omitempty"`
	NextFires  []time.Time       `json:"next_fires"`
	Recent     []scheduleRunJSON `json:"recent_runs"`
	Started    int               `json:"started"`
	Missed     int               `json:"missed"`
	Skipped    int               `json:"skipped"`
	Buffered   int               `json:"buffered"`
	CreatedAt  time.Time         `json:"created_at"`
}

type scheduleRunJSON struct {
	WorkflowID string    `json:"workflow_id"`
	Nominal    time.Time `json:"nominal"`
	Status     string    `json:"status"`
}

func scheduleJSONOf(d workflow.ScheduleDescription) scheduleJSON {
	j := scheduleJSON{ID: d.ID, Workflow: d.Action.Workflow, Cron: d.Spec.Cron, TimeZone: d.Spec.TimeZone, Start: optTime(d.Spec.Start), End: optTime(d.Spec.End),
		JitterMS: ms(d.Spec.Jitter), IDTemplate: d.Action.IDTemplate, Overlap: string(d.Policies.Overlap), CatchupMS: ms(d.Policies.CatchupWindow),
		Limit: d.Policies.Limit, Paused: d.Paused, Note: d.Note, Done: d.Done, NextFires: d.NextFires, Started: d.Started, Missed: d.Missed,
		Skipped: d.Skipped, Buffered: d.Buffered, CreatedAt: d.CreatedAt, Recent: []scheduleRunJSON{}}
	if in, err := inputJSON(d.Action.Workflow, d.Action.Input); err == nil && len(in) > 0 {
		j.Input = in
	} else {
		j.Input = json.RawMessage("null")
	}
	if j.NextFires == nil {
		j.NextFires = []time.Time{}
	}
	for _, r := range d.Recent {
		j.Recent = append(j.Recent, scheduleRunJSON{WorkflowID: r.WorkflowID, Nominal: r.Nominal, Status: string(r.Status)})
	}
	return j
}

func scheduleDescribe(ctx context.Context, args []string) error {
	return scheduleSimple(ctx, "describe", args, func(ctx context.Context, c *workflow.Client, id string) (any, string, error) {
		d, err := c.DescribeSchedule(ctx, id)
		if err != nil {
			return nil, "", err
		}
		return scheduleJSONOf(d), describeText(d), nil
	})
}

// describeText is a schedule as `schedule describe` prints it.
func describeText(d workflow.ScheduleDescription) string {
	var b strings.Builder
	state := "active"
	switch {
	case d.Paused:
		state = "paused"
		if d.Note != "" {
			state += " (" + d.Note + ")"
		}
	case d.Done != "":
		state = "done: " + d.Done
	}
	zone := d.Spec.TimeZone
	fmt.Fprintf(&b, "schedule %s  %s  %s\n", d.ID, d.Action.Workflow, state)
	fmt.Fprintf(&b, "cron        %s\n", timetable(d.Spec))
	if !d.Spec.Start.IsZero() || !d.Spec.End.IsZero() || d.Spec.Jitter > 0 {
		fmt.Fprintf(&b, "bounds      from %s to %s, jitter up to %s\n", schedStamp(d.Spec.Start, zone), schedStamp(d.Spec.End, zone), d.Spec.Jitter)
	}
	tpl := d.Action.IDTemplate
	if tpl == "" {
		tpl = "{schedule}-{time}"
	}
	fmt.Fprintf(&b, "run IDs     %s\n", tpl)
	if in, err := inputJSON(d.Action.Workflow, d.Action.Input); err == nil && len(in) > 0 {
		fmt.Fprintf(&b, "input       %s\n", compactJSON(in))
	}
	fmt.Fprintf(&b, "overlap     %s, catch-up window %s", d.Policies.Overlap, d.Policies.CatchupWindow)
	if d.Policies.Limit > 0 {
		fmt.Fprintf(&b, ", limit %d runs", d.Policies.Limit)
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "runs        %d started, %d missed, %d skipped, %d waiting\n", d.Started, d.Missed, d.Skipped, d.Buffered)
	fmt.Fprintln(&b, "next fires")
	for _, t := range d.NextFires {
		fmt.Fprintf(&b, "  %s\n", schedStamp(t, zone))
	}
	switch {
	case len(d.NextFires) > 0:
	case d.Paused:
		fmt.Fprintln(&b, "  none while paused (jetflow schedule unpause "+d.ID+")")
	case d.Done != "":
		fmt.Fprintln(&b, "  none: done ("+d.Done+")")
	default:
		fmt.Fprintln(&b, "  none")
	}
	fmt.Fprintln(&b, "last runs (newest first: run, its tick, status)")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, r := range d.Recent {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.WorkflowID, schedStamp(r.Nominal, zone), r.Status)
	}
	if len(d.Recent) == 0 {
		fmt.Fprintln(tw, "  none")
	}
	_ = tw.Flush() // into a strings.Builder: it cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

func scheduleList(ctx context.Context, args []string) error {
	var f clientFlags
	fs := newFlagSet("schedule list", os.Stderr)
	f.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	all, err := s.client.ListSchedules(cctx)
	if err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	if f.json {
		out := make([]scheduleJSON, 0, len(all))
		for _, d := range all {
			out = append(out, scheduleJSONOf(d))
		}
		return printJSON(os.Stdout, out)
	}
	if len(all) == 0 {
		fmt.Println("no schedules (jetflow schedule create ID --workflow NAME --cron EXPR makes one)")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWORKFLOW\tCRON\tSTATE\tNEXT\tSTARTED\tMISSED\tSKIPPED")
	for _, d := range all {
		state, next := "active", "-"
		switch {
		case d.Paused:
			state = "paused"
		case d.Done != "":
			state = "done"
		}
		if len(d.NextFires) > 0 {
			next = schedStamp(d.NextFires[0], d.Spec.TimeZone)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", d.ID, d.Action.Workflow, timetable(d.Spec), state, next, d.Started, d.Missed, d.Skipped)
	}
	return tw.Flush()
}

// compactJSON prints a JSON value on one line.
func compactJSON(v json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	return b.String()
}

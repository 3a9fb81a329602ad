package ui

import (
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
)

// The timeline is drawn on a 0..axisWidth scale (an SVG viewBox per lane),
// from the run's creation to its end (or now).
const axisWidth = 1000.0

// minBar is the narrowest bar drawn, so that a 1 ms attempt of a 10 s run
// still shows.
const minBar = 2.0

// timeline is a run's history as lanes on one time axis.
type timeline struct {
	From, To time.Time
	Lanes    []lane
	Ticks    []tick
	// FromEvents is false when the event stream had nothing of the run
	// (purged, or older than its retention): bars then span each step's
	// first scheduling to its result, attempts counted but not drawn apart.
	FromEvents bool
}

type tick struct {
	X     float64
	Label string
}

// lane is one position of the history (a step, compensation, timer, child,
// side effect) or the run's signals.
type lane struct {
	Seq          int
	Kind, Name   string
	Compensation bool
	Attempts     []attempt
	Marks        []mark
	// Gaps are the backoffs between attempts.
	Gaps     []span
	ChildID  string
	Status   string // ok, failed, running, waiting
	Summary  string
	Error    string
	Pending  *workflow.Backoff
	Duration string
}

// attempt is one try of a step: scheduled, started, finished.
type attempt struct {
	N                        int
	Scheduled, Started, Done time.Time
	// Outcome is ok, failed (a retry follows), final (the step's last
	// failure) or running.
	Outcome   string
	Error     string
	Worker    string
	Took      string
	X, W      float64 // the bar: started to done
	QX, QW    float64 // the wait: scheduled to started
	Title     string
	RetryAt   time.Time
	ErrorType string
}

type span struct{ X, W float64 }

// mark is a point in time on a lane: a timer firing, a signal, a request
// to cancel or terminate.
type mark struct {
	X     float64
	Kind  string
	Title string
}

// step events as the runner and the workflow task publish them.
func isStepEvent(ev string) bool {
	switch ev {
	case wire.EventStepScheduled, wire.EventStepStarted, wire.EventStepRetrying, wire.EventStepFailed, wire.EventStepCompleted, wire.EventCompensating:
		return true
	}
	return false
}

// buildTimeline lays a run's history out on its time axis, with the times of
// each attempt taken from its status events.
func buildTimeline(rec workflow.Record, hist []workflow.HistoryEntry, events []wire.Event, pending *workflow.Backoff, now time.Time) timeline {
	// After continue-as-new the history is the newest execution's; so are
	// the events after the last continued_as_new.
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Event == wire.EventContinuedAsNew {
			events = events[i+1:]
			break
		}
	}
	tl := timeline{From: rec.CreatedAt, To: rec.ClosedAt}
	if tl.To.IsZero() {
		tl.To = now
	}
	bySeq := map[int][]wire.Event{}
	var runMarks []wire.Event
	for _, ev := range events {
		switch {
		case isStepEvent(ev.Event) || ev.Event == wire.EventTimerScheduled || ev.Event == wire.EventTimerFired ||
			ev.Event == wire.EventChildStarted || ev.Event == wire.EventChildCompleted:
			bySeq[ev.Seq] = append(bySeq[ev.Seq], ev)
			tl.FromEvents = true
		case ev.Event == wire.EventSignaled || ev.Event == wire.EventCancelRequested || ev.Event == wire.EventTerminateRequested:
			runMarks = append(runMarks, ev)
		}
		// The axis covers every event (clocks of workers differ a little).
		if !ev.Time.IsZero() && ev.Time.Before(tl.From) {
			tl.From = ev.Time
		}
		if ev.Time.After(tl.To) {
			tl.To = ev.Time
		}
	}
	for _, h := range hist {
		for _, t := range []time.Time{h.ScheduledAt, h.CompletedAt, h.FireAt} {
			if !t.IsZero() && t.Before(tl.From) {
				tl.From = t
			}
			if t.After(tl.To) {
				tl.To = t
			}
		}
	}
	total := tl.To.Sub(tl.From)
	if total <= 0 {
		total = time.Millisecond
	}
	x := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return max(0, min(axisWidth, axisWidth*float64(t.Sub(tl.From))/float64(total)))
	}
	w := func(a, b time.Time) float64 { return max(x(b)-x(a), 0) }
	for i := 0; i <= 4; i++ {
		tl.Ticks = append(tl.Ticks, tick{X: axisWidth * float64(i) / 4, Label: "+" + human(total*time.Duration(i)/4)})
	}

	for _, h := range hist {
		l := lane{Seq: h.Seq, Kind: h.Kind, Name: h.Name, Compensation: h.Compensation, ChildID: h.ChildID}
		switch {
		case h.Kind == kv.KindStep || h.Kind == kv.KindChild:
			l.Attempts, l.Gaps = attemptsOf(h, bySeq[h.Seq], tl.To, x, w)
		case h.Kind == kv.KindTimer:
			sched := h.ScheduledAt
			for _, ev := range bySeq[h.Seq] {
				if ev.Event == wire.EventTimerScheduled {
					sched = ev.Time
				}
			}
			if !sched.IsZero() {
				l.Gaps = append(l.Gaps, span{X: x(sched), W: w(sched, h.FireAt)})
			}
			l.Marks = append(l.Marks, mark{X: x(h.FireAt), Kind: "timer", Title: "timer fires at " + stamp(h.FireAt)})
		default: // a side effect, a version: a decision at one instant
			l.Marks = append(l.Marks, mark{X: x(h.CompletedAt), Kind: h.Kind, Title: h.Kind + " " + h.Name + " at " + stamp(h.CompletedAt)})
		}
		l.Status, l.Summary, l.Error = laneOutcome(h)
		if d := h.Duration(); d > 0 {
			l.Duration = human(d)
		}
		if pending != nil && pending.Seq == h.Seq && !h.Done {
			l.Pending = pending
			l.Status = "waiting"
		}
		tl.Lanes = append(tl.Lanes, l)
	}
	if len(runMarks) > 0 {
		l := lane{Kind: "signals", Name: "signals and requests", Status: "ok"}
		for _, ev := range runMarks {
			what := ev.Event
			if ev.Event == wire.EventSignaled {
				what = "signal " + ev.Step
			}
			l.Marks = append(l.Marks, mark{X: x(ev.Time), Kind: ev.Event, Title: what + " at " + stamp(ev.Time)})
		}
		l.Summary = fmt.Sprintf("%d", len(runMarks))
		tl.Lanes = append(tl.Lanes, l)
	}
	return tl
}

// attemptsOf draws a step's attempts from its events; without events, one
// bar from its first scheduling to its result.
func attemptsOf(h workflow.HistoryEntry, evs []wire.Event, end time.Time, x func(time.Time) float64, w func(a, b time.Time) float64) ([]attempt, []span) {
	byN := map[int]*attempt{}
	var order []int
	get := func(n int) *attempt {
		if n < 1 {
			n = 1
		}
		a, ok := byN[n]
		if !ok {
			a = &attempt{N: n}
			byN[n] = a
			order = append(order, n)
		}
		return a
	}
	for _, ev := range evs {
		switch ev.Event {
		case wire.EventStepScheduled, wire.EventChildStarted:
			a := get(ev.Attempt)
			a.Scheduled = ev.Time
			if ev.Event == wire.EventChildStarted {
				a.Started = ev.Time
			}
		case wire.EventStepStarted:
			a := get(ev.Attempt)
			a.Started, a.Worker = ev.Time, ev.Worker
		case wire.EventStepRetrying, wire.EventStepFailed, wire.EventStepCompleted, wire.EventChildCompleted:
			a := get(ev.Attempt)
			a.Done, a.Worker = ev.Time, ev.Worker
			if a.Started.IsZero() && ev.DurationMS > 0 {
				a.Started = ev.Time.Add(-time.Duration(ev.DurationMS * float64(time.Millisecond)))
			}
			switch {
			case ev.Event == wire.EventStepRetrying:
				a.Outcome, a.Error, a.ErrorType = "failed", ev.Error, ev.ErrorType
				a.RetryAt = ev.Time.Add(time.Duration(ev.RetryInMS * float64(time.Millisecond)))
				// The next attempt is scheduled when its backoff ends.
				next := get(ev.Attempt + 1)
				if next.Scheduled.IsZero() {
					next.Scheduled = a.RetryAt
				}
			case ev.Event == wire.EventStepFailed || ev.Error != "":
				a.Outcome, a.Error, a.ErrorType = "final", ev.Error, ev.ErrorType
			default:
				a.Outcome = "ok"
			}
		}
	}
	if len(order) == 0 {
		// No events: the history's own times, the attempts as a count.
		a := get(max(h.Attempts, 1))
		a.Scheduled, a.Started, a.Done = h.ScheduledAt, h.StartedAt, h.CompletedAt
		if a.Started.IsZero() {
			a.Started = h.ScheduledAt
		}
		_, _, a.Error = laneOutcome(h)
		a.Outcome = "ok"
		if h.Error != nil {
			a.Outcome = "final"
		}
	}
	var out []attempt
	var gaps []span
	for i, n := range order {
		a := byN[n]
		if a.Started.IsZero() && a.Done.IsZero() && !(h.Done && i == len(order)-1) {
			// Scheduled, not started: a retry whose backoff the gap shows,
			// or an attempt waiting in the queue since it was due.
			if !a.Scheduled.IsZero() && a.Scheduled.Before(end) {
				gaps = append(gaps, span{X: x(a.Scheduled), W: w(a.Scheduled, end)})
			}
			continue
		}
		if a.Started.IsZero() {
			a.Started = a.Scheduled
		}
		if a.Scheduled.IsZero() {
			a.Scheduled = a.Started
		}
		if a.Done.IsZero() {
			if h.Done && i == len(order)-1 && !h.CompletedAt.IsZero() {
				a.Done = h.CompletedAt
			} else {
				a.Done, a.Outcome = end, "running"
			}
		}
		a.X, a.W = x(a.Started), max(w(a.Started, a.Done), minBar)
		a.QX, a.QW = x(a.Scheduled), w(a.Scheduled, a.Started)
		a.Took = human(a.Done.Sub(a.Started))
		a.Title = fmt.Sprintf("%s attempt %d: %s, started %s, took %s", h.Name, a.N, a.Outcome, stamp(a.Started), a.Took)
		if a.Error != "" {
			a.Title += "; " + a.Error
		}
		if !a.RetryAt.IsZero() {
			gaps = append(gaps, span{X: x(a.Done), W: w(a.Done, a.RetryAt)})
		}
		out = append(out, *a)
	}
	return out, gaps
}

// laneOutcome is a position's status, its summary (attempts, child
// status) and its final error.
func laneOutcome(h workflow.HistoryEntry) (status, summary, errText string) {
	status = "ok"
	switch {
	case !h.Done && h.Kind == kv.KindTimer:
		status = "waiting"
	case !h.Done:
		status = "running"
	case h.Error != nil:
		status, errText = "failed", h.Error.Type+": "+h.Error.Message
		if h.Error.Exhausted {
			errText += " (attempts exhausted)"
		}
	}
	switch {
	case h.Attempts == 1:
		summary = "1 attempt"
	case h.Attempts > 1:
		summary = fmt.Sprintf("%d attempts", h.Attempts)
	}
	if h.ChildStatus != "" {
		summary = h.ChildStatus
	}
	if h.Version != nil {
		summary = fmt.Sprintf("version %d", *h.Version)
	}
	return status, summary, errText
}

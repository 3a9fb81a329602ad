package cron

import (
	"time"
	_ "time/tzdata" // time zones on machines without a zoneinfo database
)

// Spec is a schedule as the user states it. Its zero value is not valid:
// it needs at least one expression.
type Spec struct {
	// Exprs are the expressions (Parse); the schedule fires at every time
	// any of them does, once for a time two of them share.
	Exprs []string
	// TimeZone is the IANA name of the zone the expressions are evaluated
	// in, such as "Europe/Berlin". Empty means UTC. "Local" is refused: it
	// is the machine's zone, which may differ from worker to worker.
	TimeZone string
	// Start, if set, is the earliest fire time; End, if set, the latest.
	// Both are inclusive.
	Start, End time.Time
	// Jitter, if set, bounds the delay Schedule.Jitter returns.
	Jitter time.Duration
}

// Schedule is a validated Spec that computes fire times. Its methods are
// pure functions of their arguments, and it is safe for concurrent use.
type Schedule struct {
	exprs      []Expr
	loc        *time.Location
	start, end time.Time
	jitter     time.Duration
}

// New validates spec and returns its schedule. If any part is invalid, the
// error is a *SpecError naming it.
func New(spec Spec) (*Schedule, error) {
	if len(spec.Exprs) == 0 {
		return nil, &SpecError{Field: FieldExprs, Reason: "none given: want at least one"}
	}
	s := &Schedule{loc: time.UTC, start: spec.Start, end: spec.End, jitter: spec.Jitter}
	for _, text := range spec.Exprs {
		e, err := Parse(text)
		if err != nil {
			return nil, err
		}
		s.exprs = append(s.exprs, e)
	}
	switch spec.TimeZone {
	case "", "UTC":
	case "Local":
		return nil, &SpecError{Field: FieldTimeZone, Value: "Local", Reason: "is the machine's zone, which may differ between workers: name an IANA zone such as Europe/Berlin"}
	default:
		loc, err := time.LoadLocation(spec.TimeZone)
		if err != nil {
			return nil, &SpecError{Field: FieldTimeZone, Value: spec.TimeZone, Reason: "is not an IANA time zone name such as Europe/Berlin"}
		}
		s.loc = loc
	}
	if !spec.Start.IsZero() && !spec.End.IsZero() && spec.End.Before(spec.Start) {
		return nil, &SpecError{Field: FieldEnd, Value: spec.End.Format(time.RFC3339Nano),
			Reason: "is before start " + spec.Start.Format(time.RFC3339Nano)}
	}
	if spec.Jitter < 0 {
		return nil, &SpecError{Field: FieldJitter, Value: spec.Jitter.String(), Reason: "is negative"}
	}
	return s, nil
}

// Next returns the first fire time strictly after after, in the schedule's
// time zone; it is a whole second. It returns false when no fire time
// remains: past End, or an expression that never fires ("0 0 0 30 2 *").
func (s *Schedule) Next(after time.Time) (time.Time, bool) {
	if !s.start.IsZero() && after.Before(s.start) {
		after = s.start.Add(-time.Nanosecond) // start itself may fire
	}
	var first time.Time
	found := false
	for i := range s.exprs {
		if t, ok := s.exprs[i].next(after, s.loc); ok && (!found || t.Before(first)) {
			first, found = t, true
		}
	}
	if !found || (!s.end.IsZero() && first.After(s.end)) {
		return time.Time{}, false
	}
	return first.In(s.loc), true
}

// Between returns the fire times in (from, to], oldest first, at most
// limit of them: the ticks missed since from, or those of a backfill. A
// zero to means no bound but End, so Between(now, time.Time{}, 5) lists the
// next five.
func (s *Schedule) Between(from, to time.Time, limit int) []time.Time {
	var times []time.Time
	for len(times) < limit {
		t, ok := s.Next(from)
		if !ok || (!to.IsZero() && t.After(to)) {
			break
		}
		times = append(times, t)
		from = t
	}
	return times
}

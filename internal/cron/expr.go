package cron

import (
	"math/bits"
	"time"
)

// horizonYears bounds the search for a cron expression's next fire time.
// Every expression that fires at all fires within any 8 years (Feb 29
// skips 2100), so an expression with nothing in 10 years, such as
// "0 0 0 30 2 *", never fires.
const horizonYears = 10

// Expr is one parsed expression. Its zero value never fires.
type Expr struct {
	text  string
	every time.Duration // > 0 for @every

	// The values each field matches, a bit per value; dow uses bits 0-6.
	second, minute, hour, dom, month, dow uint64
	// everyHour: the hour field matches all 24, so a repeated wall hour
	// fires twice (package doc).
	everyHour bool
	// A day field that matches all its values is unrestricted.
	domRestricted, dowRestricted bool
}

// String returns the expression as it was parsed, trimmed.
func (e Expr) String() string { return e.text }

// next returns the first fire time strictly after after, in UTC.
func (e *Expr) next(after time.Time, loc *time.Location) (time.Time, bool) {
	if e.every > 0 {
		return e.nextEvery(after), true
	}
	lo := after.Truncate(time.Second).Add(time.Second) // the first candidate
	horizon := lo.AddDate(horizonYears, 0, 0)
	// Within one zone period (between two offset changes) the wall clock is
	// the instant plus a fixed offset, so the search runs on wall clocks as
	// if in UTC, which has no gaps and no repeats, and maps back. A wall time
	// skipped by a spring-forward belongs to no period and so never fires.
	for lo.Before(horizon) {
		local := lo.In(loc)
		_, offset := local.Zone()
		start, end := local.ZoneBounds()
		if !e.everyHour && !start.IsZero() {
			// The clock went back at start: the wall times of
			// [start, repeatEnd) occurred in the period before; they fire
			// there, at their first occurrence, and not again.
			if _, before := start.Add(-time.Second).In(loc).Zone(); before > offset {
				if repeatEnd := start.Add(time.Duration(before-offset) * time.Second); lo.Before(repeatEnd) {
					lo = repeatEnd
					continue
				}
			}
		}
		if !end.IsZero() && !end.After(lo) {
			// Go reports an end a day early in leap years served by the
			// zone's TZ rule (after its last listed transition), an end
			// that can be before lo (golang/go#81583). The period it
			// computes ends with the UTC year, at the next UTC midnight.
			end = lo.Truncate(24 * time.Hour).Add(24 * time.Hour)
		}
		limit := horizon
		if !end.IsZero() && end.Before(limit) {
			limit = end
		}
		shift := time.Duration(offset) * time.Second
		if wall, ok := e.nextWall(lo.Add(shift).UTC(), limit.Add(shift).UTC()); ok {
			return wall.Add(-shift), true
		}
		lo = limit
	}
	return time.Time{}, false
}

// nextEvery returns the first multiple of e.every since the Unix epoch
// strictly after after.
func (e *Expr) nextEvery(after time.Time) time.Time {
	d := int64(e.every / time.Second)
	sec := after.Unix() // the floor, also before 1970
	q := sec / d
	if sec%d < 0 {
		q--
	}
	return time.Unix((q+1)*d, 0).UTC()
}

// nextWall returns the first wall time in [t, limit) that the fields match.
// t and limit hold wall clocks in UTC; t is a whole second. Each turn either
// returns or moves t forward to the start of the next unit that may match.
func (e *Expr) nextWall(t, limit time.Time) (time.Time, bool) {
	for t.Before(limit) {
		y, mo, d := t.Date()
		h, mi, s := t.Clock()
		switch {
		case !has(e.month, int(mo)):
			t = time.Date(y, time.Month(upcoming(e.month, int(mo), 13)), 1, 0, 0, 0, 0, time.UTC)
		case !e.dayMatches(d, t.Weekday()):
			t = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
		case !has(e.hour, h):
			t = time.Date(y, mo, d, upcoming(e.hour, h, 24), 0, 0, 0, time.UTC)
		case !has(e.minute, mi):
			t = time.Date(y, mo, d, h, upcoming(e.minute, mi, 60), 0, 0, time.UTC)
		case !has(e.second, s):
			t = time.Date(y, mo, d, h, mi, upcoming(e.second, s, 60), 0, time.UTC)
		default:
			return t, true
		}
	}
	return time.Time{}, false
}

// dayMatches applies classic cron's rule: when both day fields are
// restricted, either may match; otherwise both must (the unrestricted one
// always does).
func (e *Expr) dayMatches(day int, weekday time.Weekday) bool {
	dom, dow := has(e.dom, day), has(e.dow, int(weekday))
	if e.domRestricted && e.dowRestricted {
		return dom || dow
	}
	return dom && dow
}

func has(set uint64, v int) bool { return set&(1<<v) != 0 }

// upcoming returns the smallest value in set above v, or overflow when none
// is: time.Date carries overflow into the next larger unit.
func upcoming(set uint64, v, overflow int) int {
	rest := set >> (v + 1) << (v + 1)
	if rest == 0 {
		return overflow
	}
	return bits.TrailingZeros64(rest)
}

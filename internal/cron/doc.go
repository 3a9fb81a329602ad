// Package cron computes when a schedule fires: one or more cron
// expressions or intervals, evaluated in a time zone, between an optional
// start and end. Scheduled workflows name each tick by its nominal fire
// time, so a tick fired twice starts one run; they list the next fire
// times, count the ticks missed while nothing could start runs, and spread
// starts with a jitter every worker agrees on. Nothing here does I/O.
//
//	s, err := cron.New(cron.Spec{Exprs: []string{"0 30 2 * * *"}, TimeZone: "Europe/Berlin", Jitter: time.Minute})
//	tick, ok := s.Next(lastTick)             // the nominal time of the next tick
//	startAt := tick.Add(s.Jitter(id, tick))  // the same on every worker
//	missed := s.Between(lastTick, now, 100)  // catch-up or backfill
//
// # Expressions
//
// A cron expression has six fields, "second minute hour day-of-month month
// day-of-week":
//
//	second        0-59
//	minute        0-59
//	hour          0-23
//	day of month  1-31
//	month         1-12 or JAN-DEC
//	day of week   0-7 or SUN-SAT (0 and 7 are Sunday; SUN may end a range: FRI-SUN)
//
// A field is *, a value, a range a-b, a step */n, a-b/n or a/n (a to the
// field's maximum), or a comma-separated list of those. ? means * in the two
// day fields. Names are case-insensitive. Ranges do not wrap around (22-2 is
// refused).
//
// When both day fields are restricted, a day matches when either does, as
// in classic cron: "0 0 0 13 * FRI" fires on every 13th and on every
// Friday. A field that lists all its values ("*", "?", "1-31", "0-7") is
// unrestricted, so "0 0 0 13 * *" fires on the 13th only.
//
// The descriptors stand for expressions: @yearly and @annually for
// "0 0 0 1 1 *", @monthly "0 0 0 1 * *", @weekly "0 0 0 * * 0", @daily and
// @midnight "0 0 0 * * *", @hourly "0 0 * * * *".
//
// "@every <duration>" takes a Go duration of at least 1s in whole seconds
// (30s, 1h30m) and fires at its multiples since the Unix epoch: @every 30s
// at :00 and :30 of each minute, @every 1h30m at 00:00, 01:30, 03:00 UTC and
// so on. The ticks thus do not depend on when the schedule was created or
// restarted, which keeps the run IDs derived from them stable. The time
// zone does not apply to @every.
//
// # Time zones and daylight saving
//
// Cron expressions match the wall clock of the spec's time zone (UTC by
// default). Where the clock jumps:
//
//   - Spring forward: a wall time that does not exist that day does not
//     fire that day. "0 30 2 * * *" in America/New_York skips 2026-03-08,
//     whose clock goes from 01:59:59 to 03:00:00.
//   - Fall back: a wall time that occurs twice fires once, at its first
//     occurrence: "0 30 1 * * *" in America/New_York fires at 01:30 EDT on
//     2026-11-01 and not at 01:30 EST an hour later. When the hour field
//     matches every hour (*), the expression fires at every occurrence
//     instead, so "0 0 * * * *" keeps firing every real hour, and
//     "0 */15 * * * *" every real quarter hour, through the repeated hour.
//
// Every expression that can fire does so within any eight years (Feb 29
// skips 2100), so the search for the next fire time stops ten years ahead:
// an expression such as "0 0 0 30 2 *" has none.
package cron

package cron_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cron"
)

// The 2026 transitions used below, from the zones' rules:
//   - America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z);
//     2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
//   - Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z);
//     2026-10-25 03:00 CEST -> 02:00 CET (01:00Z).
//   - America/Santiago (first Sunday on or after Sep 2, 04:00Z):
//     2026-09-06 00:00 -04 -> 01:00 -03, so that day has no midnight.
//   - Australia/Lord_Howe (half-hour DST, first Sunday of April):
//     2026-04-05 02:00 +11 -> 01:30 +1030 (15:00Z on Apr 4).
func TestDaylightSaving(t *testing.T) {
	run(t, []fireCase{
		// Spring forward: a wall time that does not exist does not fire.
		{"New York spring: 02:30 is skipped that day", []string{"0 30 2 * * *"}, "America/New_York", "2026-03-07T07:30:00Z",
			[]string{"2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"}},
		{"New York spring: hourly goes on", []string{"0 0 * * * *"}, "America/New_York", "2026-03-08T05:00:00Z",
			[]string{"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
		{"New York spring: hours 1-3", []string{"0 30 1-3 * * *"}, "America/New_York", "2026-03-08T05:00:00Z",
			[]string{"2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z", "2026-03-09T05:30:00Z"}},
		{"New York spring: midnight moves an hour", []string{"@daily"}, "America/New_York", "2026-03-07T05:00:00Z",
			[]string{"2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"}},
		{"Berlin spring: 02:30 is skipped that day", []string{"0 30 2 * * *"}, "Europe/Berlin", "2026-03-28T01:30:00Z",
			[]string{"2026-03-30T00:30:00Z"}},
		{"Berlin spring: hourly goes on", []string{"0 0 * * * *"}, "Europe/Berlin", "2026-03-29T00:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"}},
		{"Santiago spring: a day without midnight", []string{"@daily"}, "America/Santiago", "2026-09-04T04:00:00Z",
			[]string{"2026-09-05T04:00:00Z", "2026-09-07T03:00:00Z"}},

		// Fall back: a repeated wall time fires at its first occurrence,
		// unless the hour field is *.
		{"New York fall: 01:30 once, in EDT", []string{"0 30 1 * * *"}, "America/New_York", "2026-11-01T04:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"New York fall: hour 1 every 30 minutes", []string{"0 */30 1 * * *"}, "America/New_York", "2026-11-01T04:00:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:00:00Z"}},
		{"New York fall: from inside the repeated hour", []string{"0 45 1 * * *"}, "America/New_York", "2026-11-01T06:10:00Z",
			[]string{"2026-11-02T06:45:00Z"}},
		{"New York fall: hourly fires every real hour", []string{"0 0 * * * *"}, "America/New_York", "2026-11-01T04:00:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"}},
		{"New York fall: @hourly too", []string{"@hourly"}, "America/New_York", "2026-11-01T05:30:00Z",
			[]string{"2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}},
		{"New York fall: quarter hours go on", []string{"0 */15 * * * *"}, "America/New_York", "2026-11-01T05:40:00Z",
			[]string{"2026-11-01T05:45:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:15:00Z"}},
		{"Berlin fall: 02:30 once, in CEST", []string{"0 30 2 * * *"}, "Europe/Berlin", "2026-10-24T23:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"Berlin fall: hourly fires every real hour", []string{"0 0 * * * *"}, "Europe/Berlin", "2026-10-24T23:00:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}},
		{"Lord Howe fall: 01:45 once", []string{"0 45 1 * * *"}, "Australia/Lord_Howe", "2026-04-04T13:00:00Z",
			[]string{"2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"}},
		{"Lord Howe fall: a repeated half hour", []string{"0 0,30 * * * *"}, "Australia/Lord_Howe", "2026-04-04T13:00:00Z",
			[]string{"2026-04-04T13:30:00Z", "2026-04-04T14:00:00Z", "2026-04-04T14:30:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:30:00Z"}},
	})
}

// TestDaylightSavingAgainstBruteForce checks every minute around each 2026
// transition of several zones against the rules stated directly: a minute
// fires when its wall clock matches, unless the hour field is restricted
// and the same wall clock occurred earlier.
func TestDaylightSavingAgainstBruteForce(t *testing.T) {
	exprs := []struct {
		expr      string
		match     func(hour, minute int) bool
		everyHour bool
	}{
		{"0 0 * * * *", func(h, m int) bool { return m == 0 }, true},
		{"0 */20 * * * *", func(h, m int) bool { return m%20 == 0 }, true},
		{"0 0,30 * * * *", func(h, m int) bool { return m%30 == 0 }, true},
		{"0 30 1 * * *", func(h, m int) bool { return h == 1 && m == 30 }, false},
		{"0 30 2 * * *", func(h, m int) bool { return h == 2 && m == 30 }, false},
		{"0 45 1 * * *", func(h, m int) bool { return h == 1 && m == 45 }, false},
		{"0 15 0-3 * * *", func(h, m int) bool { return h <= 3 && m == 15 }, false},
		{"0 * 1,2 * * *", func(h, m int) bool { return h == 1 || h == 2 }, false},
		{"0 0 0 * * *", func(h, m int) bool { return h == 0 && m == 0 }, false},
		{"0 0 23 * * *", func(h, m int) bool { return h == 23 && m == 0 }, false},
	}
	for _, zone := range []string{"America/New_York", "Europe/Berlin", "America/Santiago", "Australia/Lord_Howe", "America/Havana"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		transitions := offsetChanges(loc, 2026)
		if len(transitions) != 2 {
			t.Fatalf("%s: got %d offset changes in 2026, want 2", zone, len(transitions))
		}
		for _, tr := range transitions {
			from, to := tr.Add(-3*time.Hour), tr.Add(3*time.Hour)
			for _, e := range exprs {
				t.Run(fmt.Sprintf("%s %s %s", zone, tr.Format("01-02"), e.expr), func(t *testing.T) {
					var want []string
					for m := from.Add(time.Minute); !m.After(to); m = m.Add(time.Minute) {
						wall := m.In(loc)
						if !e.match(wall.Hour(), wall.Minute()) {
							continue
						}
						if !e.everyHour && seenBefore(m, loc) {
							continue
						}
						want = append(want, m.Format(time.RFC3339))
					}
					s := newSchedule(t, cron.Spec{Exprs: []string{e.expr}, TimeZone: zone})
					assertTimes(t, s.Between(from, to, 1000), want)
				})
			}
		}
	}
}

// offsetChanges returns the half-hour marks of year at which loc's offset
// has just changed (every zone above changes on one).
func offsetChanges(loc *time.Location, year int) []time.Time {
	var changes []time.Time
	_, prev := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).In(loc).Zone()
	for h := time.Date(year, 1, 1, 0, 30, 0, 0, time.UTC); h.Year() == year; h = h.Add(30 * time.Minute) {
		if _, off := h.In(loc).Zone(); off != prev {
			changes = append(changes, h)
			prev = off
		}
	}
	return changes
}

// seenBefore reports whether m's wall clock in loc also occurred earlier.
func seenBefore(m time.Time, loc *time.Location) bool {
	wall := m.In(loc).Format("2006-01-02 15:04")
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		if m.Add(-back).In(loc).Format("2006-01-02 15:04") == wall {
			return true
		}
	}
	return false
}

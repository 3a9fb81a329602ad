package cron_test

import (
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cron"
)

// 2026-01-01 is a Thursday.
func TestFieldForms(t *testing.T) {
	run(t, []fireCase{
		{"every second", []string{"* * * * * *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"}},
		{"strictly after a fraction", []string{"* * * * * *"}, "", "2026-01-01T00:00:00.5Z",
			[]string{"2026-01-01T00:00:01Z"}},
		{"second", []string{"30 * * * * *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:00:30Z", "2026-01-01T00:01:30Z"}},
		{"minute", []string{"0 5 * * * *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:05:00Z", "2026-01-01T01:05:00Z"}},
		{"hour", []string{"0 0 12 * * *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z"}},
		{"day of month", []string{"0 0 0 15 * *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-15T00:00:00Z", "2026-02-15T00:00:00Z"}},
		{"day 31 skips short months", []string{"0 0 0 31 * *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"}},
		{"month", []string{"0 0 0 1 3 *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-03-01T00:00:00Z", "2027-03-01T00:00:00Z"}},
		{"day of week", []string{"0 0 0 * * MON"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"}},
		{"range", []string{"0 0 9-11 * * *"}, "", "2026-01-01T10:30:00Z",
			[]string{"2026-01-01T11:00:00Z", "2026-01-02T09:00:00Z", "2026-01-02T10:00:00Z"}},
		{"list", []string{"0 0 6,18 * * *"}, "", "2026-01-01T06:00:00Z",
			[]string{"2026-01-01T18:00:00Z", "2026-01-02T06:00:00Z"}},
		{"step", []string{"*/15 * * * * *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:00:15Z", "2026-01-01T00:00:30Z", "2026-01-01T00:00:45Z", "2026-01-01T00:01:00Z"}},
		{"range with step", []string{"0 10-50/20 * * * *"}, "", "2026-01-01T00:30:00Z",
			[]string{"2026-01-01T00:50:00Z", "2026-01-01T01:10:00Z", "2026-01-01T01:30:00Z"}},
		{"value with step runs to the max", []string{"0 5/20 * * * *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:05:00Z"}},
		{"month names in any case", []string{"0 0 0 1 jan,Jul *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"month step", []string{"0 0 0 1 */3 *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"day name range", []string{"0 0 0 * * sat-sun"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-10T00:00:00Z"}},
		{"SUN ends a range", []string{"0 0 12 * * FRI-SUN"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-02T12:00:00Z", "2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z", "2026-01-09T12:00:00Z"}},
		{"7 is Sunday", []string{"0 0 0 * * 7"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"day of week step", []string{"0 0 0 * * */2"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-06T00:00:00Z", "2026-01-08T00:00:00Z"}},
		{"? in day of month", []string{"0 0 0 ? * MON"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"}},
		{"? in day of week", []string{"0 0 0 13 * ?"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"}},
		{"both day fields restricted: either matches", []string{"0 0 0 13 * FRI"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z"}},
		{"a full day of week range is unrestricted", []string{"0 0 0 13 * 0-7"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"}},
		{"Feb 29 waits for a leap year", []string{"0 0 0 29 2 *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"Feb 29 skips 2100", []string{"0 0 0 29 2 *"}, "", "2096-03-01T00:00:00Z",
			[]string{"2104-02-29T00:00:00Z"}},
		{"impossible dom with a weekday fires on the weekday", []string{"0 0 0 30 2 MON"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"}},
		{"year rollover", []string{"0 0 0 * * *"}, "", "2026-12-31T12:00:00Z",
			[]string{"2027-01-01T00:00:00Z"}},
		{"before 1970", []string{"0 0 0 1 1 *"}, "", "1950-06-01T00:00:00Z",
			[]string{"1951-01-01T00:00:00Z"}},
	})
}

func TestDescriptors(t *testing.T) {
	run(t, []fireCase{
		{"@yearly", []string{"@yearly"}, "", "2026-01-01T00:00:00Z", []string{"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
		{"@annually", []string{"@annually"}, "", "2026-01-01T00:00:00Z", []string{"2027-01-01T00:00:00Z"}},
		{"@monthly", []string{"@monthly"}, "", "2026-01-01T00:00:00Z", []string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
		{"@weekly on Sundays", []string{"@weekly"}, "", "2026-01-01T00:00:00Z", []string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"@daily", []string{"@daily"}, "", "2026-01-01T00:00:00Z", []string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"}},
		{"@midnight", []string{"@midnight"}, "", "2026-01-01T00:00:00Z", []string{"2026-01-02T00:00:00Z"}},
		{"@hourly", []string{"@hourly"}, "", "2026-01-01T00:00:00Z", []string{"2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"}},
		{"any case and spaces", []string{"  @DAILY "}, "", "2026-01-01T00:00:00Z", []string{"2026-01-02T00:00:00Z"}},
		{"in a time zone", []string{"@daily"}, "Asia/Tokyo", "2026-01-01T00:00:00Z", []string{"2026-01-01T15:00:00Z"}},
	})
}

func TestEveryIsAlignedToTheEpoch(t *testing.T) {
	run(t, []fireCase{
		{"30s at :00 and :30", []string{"@every 30s"}, "", "2026-01-01T00:00:10Z",
			[]string{"2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"}},
		{"strictly after a tick", []string{"@every 30s"}, "", "2026-01-01T00:00:30Z",
			[]string{"2026-01-01T00:01:00Z"}},
		{"strictly after a fraction", []string{"@every 1s"}, "", "2026-01-01T00:00:00.5Z",
			[]string{"2026-01-01T00:00:01Z"}},
		// 2026-01-02T00:00:00Z is 1767312000 s = 4207885 * 420 + 300, so
		// the next multiple of 7 minutes is 120 s later.
		{"7m, not dividing a day", []string{"@every 7m"}, "", "2026-01-02T00:00:00Z",
			[]string{"2026-01-02T00:02:00Z", "2026-01-02T00:09:00Z"}},
		{"1h30m", []string{"@every 1h30m"}, "", "2026-01-01T01:00:00Z",
			[]string{"2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z"}},
		{"before 1970", []string{"@every 1h"}, "", "1969-12-31T23:30:00Z",
			[]string{"1970-01-01T00:00:00Z", "1970-01-01T01:00:00Z"}},
		// Kolkata is UTC+05:30: its wall clock's whole hours are not UTC's.
		{"the time zone does not apply", []string{"@every 1h"}, "Asia/Kolkata", "2026-01-01T00:10:00Z",
			[]string{"2026-01-01T01:00:00Z"}},
	})
}

func TestMultipleExpressions(t *testing.T) {
	run(t, []fireCase{
		{"weekdays at 9, weekends at noon", []string{"0 0 9 * * MON-FRI", "0 0 12 * * SAT,SUN"}, "", "2026-01-02T10:00:00Z",
			[]string{"2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z", "2026-01-05T09:00:00Z"}},
		{"a shared instant fires once", []string{"@hourly", "0 0 */2 * * *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z"}},
		{"an interval and a cron", []string{"@every 45m", "0 0 * * * *"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z", "2026-01-01T01:30:00Z", "2026-01-01T02:00:00Z",
				"2026-01-01T02:15:00Z", "2026-01-01T03:00:00Z", "2026-01-01T03:45:00Z"}},
		{"one never fires", []string{"0 0 0 30 2 *", "@daily"}, "", "2026-01-01T00:00:00Z",
			[]string{"2026-01-02T00:00:00Z"}},
	})
}

func TestTimeZones(t *testing.T) {
	run(t, []fireCase{
		{"Tokyo, UTC+9", []string{"0 0 9 * * *"}, "Asia/Tokyo", "2025-12-31T12:00:00Z",
			[]string{"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"}},
		{"Kolkata, UTC+05:30", []string{"0 30 9 * * *"}, "Asia/Kolkata", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T04:00:00Z", "2026-01-02T04:00:00Z"}},
		{"UTC by name", []string{"0 0 9 * * *"}, "UTC", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T09:00:00Z"}},
		// Day boundaries are the zone's: Friday 23:00 in New York is
		// Saturday 04:00 UTC.
		{"weekday of the zone", []string{"0 0 23 * * FRI"}, "America/New_York", "2026-01-01T00:00:00Z",
			[]string{"2026-01-03T04:00:00Z"}},
	})
}

func TestNextInTheScheduleZone(t *testing.T) {
	s := newSchedule(t, cron.Spec{Exprs: []string{"@daily"}, TimeZone: "Europe/Berlin"})
	next, ok := s.Next(at(t, "2026-01-01T12:00:00Z"))
	if !ok {
		t.Fatal("no next fire time")
	}
	if got, want := next.Location().String(), "Europe/Berlin"; got != want {
		t.Fatalf("got location %s, want %s", got, want)
	}
	if got, want := next.Format("2006-01-02 15:04:05 MST"), "2026-01-02 00:00:00 CET"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestNeverFires(t *testing.T) {
	for _, c := range []struct{ name, expr, tz string }{
		{"Feb 30", "0 0 0 30 2 *", ""},
		{"the 31st of 30-day months", "0 0 0 31 4,6,9,11 *", ""},
		{"Feb 30 across many offset changes", "0 0 0 30 2 *", "Europe/Berlin"},
		{"Feb 31 with ? for day of week", "0 0 0 31 FEB ?", "America/New_York"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSchedule(t, cron.Spec{Exprs: []string{c.expr}, TimeZone: c.tz})
			if next, ok := s.Next(at(t, "2026-01-01T00:00:00Z")); ok {
				t.Fatalf("got %s, want none", next)
			}
			if got := s.Between(at(t, "2026-01-01T00:00:00Z"), time.Time{}, 10); len(got) != 0 {
				t.Fatalf("Between: got %v, want none", got)
			}
		})
	}
}

func TestStartAndEnd(t *testing.T) {
	every := []string{"@every 1m"}
	for _, c := range []struct {
		name       string
		exprs      []string
		start, end string
		from, to   string
		want       []string
	}{
		{"nothing before start", every, "2026-01-01T00:00:30Z", "", "2025-12-31T00:00:00Z", "",
			[]string{"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"}},
		{"start is inclusive", every, "2026-01-01T00:01:00Z", "", "2025-12-31T00:00:00Z", "",
			[]string{"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"}},
		{"a start between seconds", []string{"* * * * * *"}, "2026-01-01T00:00:59.5Z", "", "2026-01-01T00:00:00Z", "",
			[]string{"2026-01-01T00:01:00Z"}},
		{"from after start", every, "2026-01-01T00:01:00Z", "", "2026-01-01T00:05:00Z", "",
			[]string{"2026-01-01T00:06:00Z"}},
		{"end is inclusive and last", every, "", "2026-01-01T00:03:00Z", "2026-01-01T00:00:00Z", "",
			[]string{"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z", "2026-01-01T00:03:00Z"}},
		{"nothing after end", every, "", "2026-01-01T00:03:00Z", "2026-01-01T00:03:00Z", "",
			nil},
		{"start and end", every, "2026-01-01T00:01:30Z", "2026-01-01T00:04:00Z", "2025-01-01T00:00:00Z", "",
			[]string{"2026-01-01T00:02:00Z", "2026-01-01T00:03:00Z", "2026-01-01T00:04:00Z"}},
		{"between is (from, to]", every, "", "", "2026-01-01T00:01:00Z", "2026-01-01T00:03:00Z",
			[]string{"2026-01-01T00:02:00Z", "2026-01-01T00:03:00Z"}},
		{"start equals end", []string{"@daily"}, "2026-01-02T00:00:00Z", "2026-01-02T00:00:00Z", "2025-01-01T00:00:00Z", "",
			[]string{"2026-01-02T00:00:00Z"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := cron.Spec{Exprs: c.exprs}
			if c.start != "" {
				spec.Start = at(t, c.start)
			}
			if c.end != "" {
				spec.End = at(t, c.end)
			}
			var to time.Time
			if c.to != "" {
				to = at(t, c.to)
			}
			// Where an end bounds the times, ask for more than remain.
			limit := len(c.want)
			if c.end != "" || c.to != "" {
				limit = 10
			}
			s := newSchedule(t, spec)
			assertTimes(t, s.Between(at(t, c.from), to, limit), c.want)
		})
	}
}

func TestBetweenLimit(t *testing.T) {
	s := newSchedule(t, cron.Spec{Exprs: []string{"@every 1s"}})
	from := at(t, "2026-01-01T00:00:00Z")
	for _, c := range []struct {
		limit int
		want  int
	}{{0, 0}, {-1, 0}, {1, 1}, {3, 3}} {
		if got := s.Between(from, from.Add(time.Hour), c.limit); len(got) != c.want {
			t.Errorf("limit %d: got %d times, want %d", c.limit, len(got), c.want)
		}
	}
}

// TestYearEndInALeapYearFarAhead crosses a UTC year end in a leap year that
// tzdata describes by its TZ rule only, where time.ZoneBounds reports an end
// before the instant asked about (golang/go#81583).
func TestYearEndInALeapYearFarAhead(t *testing.T) {
	run(t, []fireCase{
		{"hourly", []string{"0 0 * * * *"}, "Europe/Berlin", "2040-12-31T21:30:00Z",
			[]string{"2040-12-31T22:00:00Z", "2040-12-31T23:00:00Z", "2041-01-01T00:00:00Z"}},
		{"yearly", []string{"0 0 12 31 12 *"}, "Europe/Berlin", "2040-12-30T00:00:00Z",
			[]string{"2040-12-31T11:00:00Z", "2041-12-31T11:00:00Z"}},
		{"Feb 30 searched through leap years", []string{"0 0 0 30 2 *", "0 0 0 1 1 *"}, "America/New_York", "2095-06-01T00:00:00Z",
			[]string{"2096-01-01T05:00:00Z", "2097-01-01T05:00:00Z"}},
	})
}

package cron_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cron"
)

// FuzzParse feeds arbitrary expressions: Parse must refuse with a
// *SpecError or accept, never panic; and for what it accepts, Next must
// return a whole second strictly after the time given, quickly, and the
// same time when asked again from just before it.
func FuzzParse(f *testing.F) {
	for _, expr := range []string{
		"* * * * * *", "0 30 2 * * *", "0 0 * * * *", "*/15 0-30/5 1,2,3 ? JAN-MAR MON-FRI",
		"0 0 0 29 2 *", "0 0 0 30 2 *", "0 0 0 13 * FRI", "0 45 1 * * 7", "0 0 12 31 12 *",
		"@daily", "@hourly", "@every 1h30m", "@every 1s", "@every 500ms", "60 * * * * *", "", "@",
	} {
		f.Add(expr, int64(1767225600), uint8(0))
		f.Add(expr, int64(1793502000), uint8(1)) // 2026-11-01T05:00:00Z, in New York's repeated hour
		f.Add(expr, int64(2240524800), uint8(2)) // 2040-12-31, a far leap year's end
	}
	zones := []string{"", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata", "Pacific/Apia"}
	f.Fuzz(func(t *testing.T, expr string, unix int64, zone uint8) {
		_, err := cron.Parse(expr)
		if err != nil {
			var se *cron.SpecError
			if !errors.As(err, &se) || !errors.Is(err, cron.ErrInvalid) {
				t.Fatalf("Parse(%q): got %T %v, want a *SpecError", expr, err, err)
			}
			return
		}
		tz := zones[int(zone)%len(zones)]
		s, err := cron.New(cron.Spec{Exprs: []string{expr}, TimeZone: tz})
		if err != nil {
			t.Fatalf("New refused what Parse accepted: %v", err)
		}
		after := time.Unix(unix%(1<<33), unix%1e9) // 1697 to 2242
		begin := time.Now()
		next, ok := s.Next(after)
		if took := time.Since(begin); took > time.Second {
			t.Fatalf("Next(%s) of %q in %q took %s", after, expr, tz, took)
		}
		if !ok {
			return
		}
		if !next.After(after) || next.Nanosecond() != 0 {
			t.Fatalf("Next(%s) of %q in %q: got %s, want a whole second after it", after, expr, tz, next)
		}
		if again, ok := s.Next(next.Add(-time.Nanosecond)); !ok || !again.Equal(next) {
			t.Fatalf("Next of %q in %q: %s after %s, but %s, %v after %s", expr, tz, next, after, again, ok, next.Add(-time.Nanosecond))
		}
	})
}

package cron_test

import (
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cron"
)

func TestJitterIsZeroWithoutJitter(t *testing.T) {
	s := newSchedule(t, cron.Spec{Exprs: []string{"@daily"}})
	if got := s.Jitter("nightly", at(t, "2026-01-02T00:00:00Z")); got != 0 {
		t.Fatalf("got %s, want 0", got)
	}
}

// TestJitterIsPinned: workers of different versions must agree on a tick's
// delay, so the derivation may not change. The value was computed apart:
// the first 8 bytes of SHA-256("nightly-reconciliation" || uint64 BE Unix
// seconds || uint32 BE nanoseconds), times 60e9, shifted right by 64.
func TestJitterIsPinned(t *testing.T) {
	s := newSchedule(t, cron.Spec{Exprs: []string{"0 30 2 * * *"}, Jitter: time.Minute})
	nominal := at(t, "2026-01-01T02:30:00Z")
	if got, want := s.Jitter("nightly-reconciliation", nominal), 38373589640*time.Nanosecond; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestJitterIsDeterministic: the delay depends on the schedule ID, the
// instant and the jitter bound only, not on the expressions, the zone or the
// location the instant is expressed in.
func TestJitterIsDeterministic(t *testing.T) {
	a := newSchedule(t, cron.Spec{Exprs: []string{"@every 1m"}, Jitter: 10 * time.Second})
	b := newSchedule(t, cron.Spec{Exprs: []string{"0 * * * * *"}, TimeZone: "Asia/Tokyo", Jitter: 10 * time.Second})
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	for _, tick := range a.Between(at(t, "2026-01-01T00:00:00Z"), time.Time{}, 100) {
		if x, y := a.Jitter("report", tick), b.Jitter("report", tick.In(tokyo)); x != y {
			t.Fatalf("tick %s: got %s and %s, want equal", tick, x, y)
		}
	}
}

// TestJitterSpreads: over many ticks the delays stay in [0, jitter), cover
// it, and differ between schedules.
func TestJitterSpreads(t *testing.T) {
	const jitter = 10 * time.Second
	s := newSchedule(t, cron.Spec{Exprs: []string{"@every 1s"}, Jitter: jitter})
	ticks := s.Between(at(t, "2026-01-01T00:00:00Z"), time.Time{}, 2000)
	lowest, highest, same := jitter, time.Duration(0), 0
	for _, tick := range ticks {
		d := s.Jitter("a", tick)
		if d < 0 || d >= jitter {
			t.Fatalf("tick %s: got %s, want within [0, %s)", tick, d, jitter)
		}
		lowest, highest = min(lowest, d), max(highest, d)
		if s.Jitter("b", tick) == d {
			same++
		}
	}
	if lowest > jitter/100 || highest < jitter-jitter/100 {
		t.Fatalf("delays span [%s, %s], want nearly all of [0, %s)", lowest, highest, jitter)
	}
	if same > 2 {
		t.Fatalf("schedules a and b got the same delay for %d of %d ticks", same, len(ticks))
	}
}

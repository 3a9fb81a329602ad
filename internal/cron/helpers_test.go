package cron_test

import (
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cron"
)

// fireCase is a spec, a point to start from and the fire times that must
// follow it, in order, as RFC 3339 instants.
type fireCase struct {
	name  string
	exprs []string
	tz    string
	from  string
	want  []string
}

func run(t *testing.T, cases []fireCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSchedule(t, cron.Spec{Exprs: c.exprs, TimeZone: c.tz})
			got := s.Between(at(t, c.from), time.Time{}, len(c.want))
			assertTimes(t, got, c.want)
		})
	}
}

func newSchedule(t *testing.T, spec cron.Spec) *cron.Schedule {
	t.Helper()
	s, err := cron.New(spec)
	if err != nil {
		t.Fatalf("New(%+v): %v", spec, err)
	}
	return s
}

// at reads an RFC 3339 time, with fractional seconds if any.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func assertTimes(t *testing.T, got []time.Time, want []string) {
	t.Helper()
	var gotText []string
	for _, g := range got {
		gotText = append(gotText, g.UTC().Format(time.RFC3339Nano))
	}
	if len(got) != len(want) {
		t.Fatalf("got %d times %v, want %d %v", len(got), gotText, len(want), want)
	}
	for i := range want {
		if !got[i].Equal(at(t, want[i])) {
			t.Fatalf("time %d: got %s, want %s (all: %v)", i, gotText[i], want[i], gotText)
		}
	}
}

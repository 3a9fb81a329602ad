package cron_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cron"
)

func TestParseRefuses(t *testing.T) {
	for _, c := range []struct {
		expr  string
		field cron.Field
		value string
	}{
		{"", cron.FieldExpr, ""},
		{"   ", cron.FieldExpr, ""},
		{"0 0 * * *", cron.FieldExpr, ""}, // classic 5 fields: seconds come first here
		{"0 0 0 * * * 2026", cron.FieldExpr, ""},
		{"@reboot", cron.FieldExpr, "@reboot"},
		{"@daily 5", cron.FieldExpr, "5"},
		{"60 * * * * *", cron.FieldSecond, "60"},
		{"+5 * * * * *", cron.FieldSecond, "+5"},
		{"*/0 * * * * *", cron.FieldSecond, "*/0"},
		{"*/x * * * * *", cron.FieldSecond, "*/x"},
		{"0 60 * * * *", cron.FieldMinute, "60"},
		{"0 1-2-3 * * * *", cron.FieldMinute, "1-2-3"},
		{"0 0 25 * * *", cron.FieldHour, "25"},
		{"0 0 5-2 * * *", cron.FieldHour, "5-2"},
		{"0 0 ? * * *", cron.FieldHour, "?"},
		{"0 0 1,,2 * * *", cron.FieldHour, "1,,2"},
		{"0 0 1, * * *", cron.FieldHour, "1,"},
		{"0 0 1- * * *", cron.FieldHour, "1-"},
		{"0 0 99999999999999999999 * * *", cron.FieldHour, "99999999999999999999"},
		{"0 0 0 0 * *", cron.FieldDayOfMonth, "0"},
		{"0 0 0 32 * *", cron.FieldDayOfMonth, "32"},
		{"0 0 0 L * *", cron.FieldDayOfMonth, "L"},
		{"0 0 0 1 13 *", cron.FieldMonth, "13"},
		{"0 0 0 1 FOO *", cron.FieldMonth, "FOO"},
		{"0 0 0 1 MON *", cron.FieldMonth, "MON"},
		{"0 0 0 * * 8", cron.FieldDayOfWeek, "8"},
		{"0 0 0 * * MONDAY", cron.FieldDayOfWeek, "MONDAY"},
		{"0 0 0 * * SAT-MON", cron.FieldDayOfWeek, "SAT-MON"},
		{"@every", cron.FieldEvery, ""},
		{"@every 500ms", cron.FieldEvery, "500ms"},
		{"@every 1.5s", cron.FieldEvery, "1.5s"},
		{"@every 0s", cron.FieldEvery, "0s"},
		{"@every -1m", cron.FieldEvery, "-1m"},
		{"@every 1 h", cron.FieldEvery, "1 h"},
		{"@every often", cron.FieldEvery, "often"},
	} {
		t.Run(c.expr, func(t *testing.T) {
			_, err := cron.Parse(c.expr)
			if !errors.Is(err, cron.ErrInvalid) {
				t.Fatalf("got %v, want an error matching ErrInvalid", err)
			}
			var se *cron.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("got %T, want *SpecError", err)
			}
			if se.Field != c.field || se.Value != c.value {
				t.Fatalf("got field %q value %q, want %q %q (%v)", se.Field, se.Value, c.field, c.value, err)
			}
		})
	}
}

func TestParseKeepsTheText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"  0 0 * * * * ", "0 0 * * * *"},
		{"@Daily", "@Daily"},
		{"@every 1h30m", "@every 1h30m"},
	} {
		e, err := cron.Parse(c.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if got := e.String(); got != c.want {
			t.Errorf("Parse(%q).String(): got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		spec  cron.Spec
		expr  string
		field cron.Field
	}{
		{"no expression", cron.Spec{}, "", cron.FieldExprs},
		{"a bad expression among good ones", cron.Spec{Exprs: []string{"@daily", "0 0 24 * * *"}}, "0 0 24 * * *", cron.FieldHour},
		{"an unknown zone", cron.Spec{Exprs: []string{"@daily"}, TimeZone: "Mars/Olympus"}, "", cron.FieldTimeZone},
		{"a zone in the wrong case", cron.Spec{Exprs: []string{"@daily"}, TimeZone: "europe/berlin"}, "", cron.FieldTimeZone},
		{"the machine's zone", cron.Spec{Exprs: []string{"@daily"}, TimeZone: "Local"}, "", cron.FieldTimeZone},
		{"end before start", cron.Spec{Exprs: []string{"@daily"}, Start: start, End: start.Add(-time.Second)}, "", cron.FieldEnd},
		{"negative jitter", cron.Spec{Exprs: []string{"@daily"}, Jitter: -time.Second}, "", cron.FieldJitter},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := cron.New(c.spec)
			var se *cron.SpecError
			if !errors.As(err, &se) || !errors.Is(err, cron.ErrInvalid) {
				t.Fatalf("got %v, %v; want a *SpecError", s, err)
			}
			if se.Field != c.field || se.Expr != c.expr {
				t.Fatalf("got field %q expr %q, want %q %q (%v)", se.Field, se.Expr, c.field, c.expr, err)
			}
		})
	}
}

// TestSpecErrorMessage pins the text a command line prints.
func TestSpecErrorMessage(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{parseErr("0 0 25 * * *"), `cron: "0 0 25 * * *": hour: 25 is out of range 0-23`},
		{parseErr("0 0 0 1 FOO *"), `cron: "0 0 0 1 FOO *": month: FOO is not a number or a month name (JAN-DEC)`},
		{parseErr("@every 500ms"), `cron: "@every 500ms": every: 500ms is under the minimum of 1s`},
		{newErr(cron.Spec{Exprs: []string{"@daily"}, TimeZone: "Mars/Olympus"}),
			"cron: time zone: Mars/Olympus is not an IANA time zone name such as Europe/Berlin"},
	} {
		if c.err == nil {
			t.Fatalf("got no error, want %q", c.want)
		}
		if got := c.err.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func parseErr(expr string) error {
	_, err := cron.Parse(expr)
	return err
}

func newErr(spec cron.Spec) error {
	_, err := cron.New(spec)
	return err
}

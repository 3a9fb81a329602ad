package cron

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// descriptors are the shorthands Parse accepts, as the 6-field expressions
// they stand for.
var descriptors = map[string]string{
	"@yearly":   "0 0 0 1 1 *",
	"@annually": "0 0 0 1 1 *",
	"@monthly":  "0 0 0 1 * *",
	"@weekly":   "0 0 0 * * 0",
	"@daily":    "0 0 0 * * *",
	"@midnight": "0 0 0 * * *",
	"@hourly":   "0 0 * * * *",
}

// field describes one of the six positions of an expression.
type field struct {
	name     Field
	min, max int
	names    map[string]int // JAN-DEC or SUN-SAT, upper case
	question bool           // ? stands for *
}

var (
	months = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
		"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	weekdays = map[string]int{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}

	fields = [6]field{
		{name: FieldSecond, min: 0, max: 59},
		{name: FieldMinute, min: 0, max: 59},
		{name: FieldHour, min: 0, max: 23},
		{name: FieldDayOfMonth, min: 1, max: 31, question: true},
		{name: FieldMonth, min: 1, max: 12, names: months},
		// 7 is Sunday too; parseField folds it into 0.
		{name: FieldDayOfWeek, min: 0, max: 7, names: weekdays, question: true},
	}
)

// Parse reads one expression: six fields "second minute hour day-of-month
// month day-of-week", a descriptor such as @daily, or "@every <duration>"
// (package doc). If the expression is malformed, the error is a *SpecError
// naming the field.
func Parse(expr string) (Expr, error) {
	text := strings.TrimSpace(expr)
	words := strings.Fields(text)
	if len(words) == 0 {
		return Expr{}, &SpecError{Expr: expr, Field: FieldExpr, Reason: "is empty"}
	}
	if strings.HasPrefix(words[0], "@") {
		return parseDescriptor(text, words)
	}
	if len(words) != len(fields) {
		reason := fmt.Sprintf("has %d fields, want 6: second minute hour day-of-month month day-of-week", len(words))
		return Expr{}, &SpecError{Expr: text, Field: FieldExpr, Reason: reason}
	}
	e := Expr{text: text}
	sets := [6]*uint64{&e.second, &e.minute, &e.hour, &e.dom, &e.month, &e.dow}
	for i, f := range fields {
		set, err := f.parse(words[i])
		if err != nil {
			err.Expr = text
			return Expr{}, err
		}
		*sets[i] = set
	}
	e.everyHour = e.hour == span(0, 23)
	e.domRestricted = e.dom != span(1, 31)
	e.dowRestricted = e.dow != span(0, 6)
	return e, nil
}

func parseDescriptor(text string, words []string) (Expr, error) {
	name := strings.ToLower(words[0])
	if name == "@every" {
		return parseEvery(text, words)
	}
	six, ok := descriptors[name]
	if !ok {
		return Expr{}, &SpecError{Expr: text, Field: FieldExpr, Value: words[0],
			Reason: "is not a descriptor: want @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"}
	}
	if len(words) > 1 {
		return Expr{}, &SpecError{Expr: text, Field: FieldExpr, Value: words[1], Reason: "follows " + words[0] + ", which takes nothing"}
	}
	e, err := Parse(six)
	e.text = text
	return e, err
}

func parseEvery(text string, words []string) (Expr, error) {
	if len(words) == 1 {
		return Expr{}, &SpecError{Expr: text, Field: FieldEvery, Reason: "is missing its duration, such as 30s or 1h30m"}
	}
	if len(words) > 2 {
		return Expr{}, &SpecError{Expr: text, Field: FieldEvery, Value: strings.Join(words[1:], " "),
			Reason: "is not one Go duration such as 30s or 1h30m"}
	}
	d, err := time.ParseDuration(words[1])
	switch {
	case err != nil:
		return Expr{}, &SpecError{Expr: text, Field: FieldEvery, Value: words[1], Reason: "is not a Go duration such as 30s or 1h30m"}
	case d < time.Second:
		return Expr{}, &SpecError{Expr: text, Field: FieldEvery, Value: words[1], Reason: "is under the minimum of 1s"}
	case d%time.Second != 0:
		return Expr{}, &SpecError{Expr: text, Field: FieldEvery, Value: words[1], Reason: "is not a whole number of seconds"}
	}
	return Expr{text: text, every: d}, nil
}

// parse turns one field into the set of values it matches, a bit per value.
// The error it returns lacks only Expr.
func (f field) parse(s string) (uint64, *SpecError) {
	var set uint64
	for item := range strings.SplitSeq(s, ",") {
		if item == "" {
			return 0, &SpecError{Field: f.name, Value: s, Reason: "has an empty list item"}
		}
		bits, err := f.parseItem(item)
		if err != nil {
			return 0, err
		}
		set |= bits
	}
	if f.name == FieldDayOfWeek && set&(1<<7) != 0 {
		set = set&^(1<<7) | 1 // 7 is Sunday
	}
	return set, nil
}

// parseItem reads one element of a list: *, ?, a value, a range a-b, each
// optionally with a step /n; a value with a step runs to the field's max.
func (f field) parseItem(item string) (uint64, *SpecError) {
	fail := func(reason string) (uint64, *SpecError) {
		return 0, &SpecError{Field: f.name, Value: item, Reason: reason}
	}
	rng, stepText, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		n, ok := number(stepText)
		if !ok || n < 1 {
			return fail("has a step that is not a whole number of at least 1")
		}
		step = n
	}
	var lo, hi int
	switch {
	case rng == "*" || rng == "?":
		if rng == "?" && !f.question {
			return fail("is only allowed in day of month and day of week")
		}
		lo, hi = f.min, f.max
		if f.name == FieldDayOfWeek {
			hi = 6 // so that */2 means 0,2,4,6 and not Sunday twice
		}
	case strings.Contains(rng, "-"):
		a, b, _ := strings.Cut(rng, "-")
		var ok bool
		if lo, ok = f.value(a); !ok {
			return fail(f.notAValue())
		}
		if hi, ok = f.value(b); !ok {
			return fail(f.notAValue())
		}
		if f.name == FieldDayOfWeek && hi == 0 && lo > 0 {
			hi = 7 // FRI-SUN
		}
	default:
		var ok bool
		if lo, ok = f.value(rng); !ok {
			return fail(f.notAValue())
		}
		hi = lo
		if hasStep {
			hi = f.max
		}
	}
	if lo < f.min || hi > f.max {
		return fail(fmt.Sprintf("is out of range %d-%d", f.min, f.max))
	}
	if lo > hi {
		return fail("is a range whose start is after its end (ranges do not wrap around)")
	}
	var set uint64
	for v := lo; v <= hi; v += step {
		set |= 1 << v
	}
	return set, nil
}

// value reads a number or, in month and day of week, a name. Numbers too
// large for an int are returned as -1 so that the range check reports them.
func (f field) value(s string) (int, bool) {
	if v, ok := f.names[strings.ToUpper(s)]; ok {
		return v, true
	}
	n, ok := number(s)
	if !ok && s != "" && strings.Trim(s, "0123456789") == "" {
		return -1, true // digits only, but too many
	}
	return n, ok
}

func (f field) notAValue() string {
	switch f.name {
	case FieldMonth:
		return "is not a number or a month name (JAN-DEC)"
	case FieldDayOfWeek:
		return "is not a number or a day name (SUN-SAT)"
	}
	return "is not a number"
}

// number reads decimal digits only: no sign, no spaces.
func number(s string) (int, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// span is the set of the values lo through hi.
func span(lo, hi int) uint64 {
	return (1<<(hi+1) - 1) &^ (1<<lo - 1)
}

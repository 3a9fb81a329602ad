package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"time"
)

// funcs are the templates' helpers. None of them returns markup: the
// templates escape everything they print.
var funcs = template.FuncMap{
	"stamp": stamp,
	"human": human,
	"pct":   func(f float64) string { return fmt.Sprintf("%.2f", f) },
}

// stamp formats a time for the page, in the server's time zone; zero is "-".
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000")
}

// human prints a duration rounded for people.
func human(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	case d < time.Minute:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// pretty indents JSON for the page; what is not JSON is shown as is.
func pretty(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

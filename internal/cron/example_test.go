package cron_test

import (
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/internal/cron"
)

// A nightly job at 02:30 in New York: the night the clocks spring forward
// has no 02:30, so it does not run that night.
func Example() {
	s, err := cron.New(cron.Spec{Exprs: []string{"0 30 2 * * *"}, TimeZone: "America/New_York"})
	if err != nil {
		fmt.Println(err)
		return
	}
	from := time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC)
	for _, tick := range s.Between(from, time.Time{}, 3) {
		fmt.Println(tick, "=", tick.UTC().Format(time.RFC3339))
	}
	// Output:
	// 2026-03-07 02:30:00 -0500 EST = 2026-03-07T07:30:00Z
	// 2026-03-09 02:30:00 -0400 EDT = 2026-03-09T06:30:00Z
	// 2026-03-10 02:30:00 -0400 EDT = 2026-03-10T06:30:00Z
}

func ExampleParse() {
	_, err := cron.Parse("0 0 25 * * *")
	fmt.Println(err)
	// Output:
	// cron: "0 0 25 * * *": hour: 25 is out of range 0-23
}

package cli

import (
	"flag"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/workflow"
)

// LimitFlags bound the streams anyone may fill: the events and the
// dead-letter streams. Workers and `jetflow init` apply them.
type LimitFlags struct {
	EventsMaxAge   time.Duration
	EventsMaxBytes string
	DLQMaxAge      time.Duration
	DLQMaxBytes    string
}

// Register adds the flags to fs.
func (l *LimitFlags) Register(fs *flag.FlagSet) {
	fs.DurationVar(&l.EventsMaxAge, "events-max-age", workflow.DefaultEventsMaxAge, "status events older than this are dropped")
	fs.StringVar(&l.EventsMaxBytes, "events-max-bytes", wire.FormatBytes(workflow.DefaultEventsMaxBytes), "size of the event stream, oldest events dropped first (e.g. 512MiB, 2GiB)")
	fs.DurationVar(&l.DLQMaxAge, "dlq-max-age", workflow.DefaultDeadLetterMaxAge, "parked messages older than this are dropped")
	fs.StringVar(&l.DLQMaxBytes, "dlq-max-bytes", wire.FormatBytes(workflow.DefaultDeadLetterMaxBytes), "size of the dead-letter stream, oldest dropped first")
}

// Options validates the limits and returns them as workflow options.
func (l *LimitFlags) Options() ([]workflow.Option, error) {
	var sizes [2]int64
	for i, v := range []struct{ flag, value string }{{"--events-max-bytes", l.EventsMaxBytes}, {"--dlq-max-bytes", l.DLQMaxBytes}} {
		n, err := wire.ParseBytes(v.value)
		if err != nil || n <= 0 {
			return nil, Usagef("%s %q: want a size such as 256MiB or 1GiB", v.flag, v.value)
		}
		sizes[i] = n
	}
	for _, v := range []struct {
		flag string
		d    time.Duration
	}{{"--events-max-age", l.EventsMaxAge}, {"--dlq-max-age", l.DLQMaxAge}} {
		if v.d <= 0 {
			return nil, Usagef("%s %s: want a duration above 0", v.flag, v.d)
		}
	}
	return []workflow.Option{
		workflow.WithEventLimits(l.EventsMaxAge, sizes[0]),
		workflow.WithDeadLetterLimits(l.DLQMaxAge, sizes[1]),
	}, nil
}

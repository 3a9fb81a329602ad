package workflow

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/steps"
	"go.opentelemetry.io/otel/trace"
)

// config is shared by Worker and Client.
type config struct {
	prefix             string
	replicas           int
	memory             bool
	logger             *slog.Logger
	name               string
	wfConcurrency      int
	stepConcurrency    int
	ackWait            time.Duration
	drainTimeout       time.Duration
	defaultStepOptions steps.Options
	cacheSize          int
	retention          time.Duration
	noLocalWake        bool
	sweepInterval      time.Duration
	sweepGrace         time.Duration
	// set names the shared settings an option set explicitly.
	set map[string]bool
	// Limits of the event and dead-letter streams (0: wire's defaults).
	eventsMaxAge       time.Duration
	eventsMaxBytes     int64
	deadLetterMaxAge   time.Duration
	deadLetterMaxBytes int64
	// tracerProvider makes the spans (nil: the global one; see WithTracerProvider).
	tracerProvider trace.TracerProvider
}

// wireConfig is how Setup lays the namespace out.
func (c config) wireConfig() wire.Config {
	return wire.Config{Prefix: c.prefix, Replicas: c.replicas, Memory: c.memory,
		EventsMaxAge: c.eventsMaxAge, EventsMaxBytes: c.eventsMaxBytes,
		DeadLetterMaxAge: c.deadLetterMaxAge, DeadLetterMaxBytes: c.deadLetterMaxBytes}
}

func defaultConfig() config {
	return config{
		prefix:          "jetflow",
		replicas:        1,
		logger:          slog.Default(),
		wfConcurrency:   64,
		stepConcurrency: 128,
		ackWait:         30 * time.Second,
		drainTimeout:    30 * time.Second,
		cacheSize:       10_000,
		retention:       DefaultRetention,
		sweepInterval:   DefaultSweepInterval,
		sweepGrace:      DefaultSweepGrace,
	}
}

// Option configures a Worker or a Client. Options that refuse their value
// return an error wrapping ErrInvalidOption.
type Option func(*config) error

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOption, fmt.Sprintf(format, args...))
}

// WithPrefix sets the namespace of subjects, streams and buckets (default
// "jetflow"), so several applications can share one account.
func WithPrefix(p string) Option {
	return func(c *config) error {
		if !steps.ValidName(p) {
			return invalid("prefix %q: letters, digits, '-' and '_' only", p)
		}
		c.prefix = p
		return nil
	}
}

// WithReplicas sets the replicas of streams and buckets created (3 on a cluster).
func WithReplicas(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 5 {
			return invalid("replicas %d: 1 to 5", n)
		}
		c.replicas = n
		return nil
	}
}

// WithMemoryStorage keeps streams and buckets in memory: for benchmarks and
// throw-away tests, never for runs that must survive a server restart.
func WithMemoryStorage() Option {
	return func(c *config) error { c.memory = true; c.mark("storage"); return nil }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalid("nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithName names the worker in events and logs (default host-pid).
func WithName(n string) Option {
	return func(c *config) error { c.name = n; return nil }
}

// WithWorkflowConcurrency bounds the workflow tasks a worker runs at once per
// workflow type (default 64).
func WithWorkflowConcurrency(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("workflow concurrency %d", n)
		}
		c.wfConcurrency = n
		return nil
	}
}

// WithStepConcurrency bounds the step attempts a worker runs at once per step
// (default 128).
func WithStepConcurrency(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("step concurrency %d", n)
		}
		c.stepConcurrency = n
		return nil
	}
}

// WithAckWait sets how long a task stays with a worker that stopped
// answering before another worker gets it (default 30s). Live workers extend
// it with progress acks, so it bounds crash recovery, not step duration.
func WithAckWait(d time.Duration) Option {
	return func(c *config) error {
		if d < 100*time.Millisecond {
			return invalid("ack wait %s: at least 100ms", d)
		}
		c.ackWait = d
		c.mark("ackWait")
		return nil
	}
}

// WithDrainTimeout bounds how long Run waits for steps in flight after its
// context is canceled (default 30s); steps still running then are released
// for redelivery.
func WithDrainTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return invalid("drain timeout %s", d)
		}
		c.drainTimeout = d
		return nil
	}
}

// DefaultRetention is how long a closed run is kept by default.
const DefaultRetention = 72 * time.Hour

// WithRetention sets how long a closed run's record, step results and
// events are kept after it closes (default 72h); then they are purged, so
// storage stays bounded however many runs finish. 0 keeps them forever.
func WithRetention(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return invalid("retention %s", d)
		}
		c.retention = d
		c.mark("retention")
		return nil
	}
}

// WithoutLocalWake makes every step result wake its run through a workflow
// task on the stream, even when this worker runs the workflow too. By
// default such a worker moves the run forward in process, which saves a
// publish, a delivery and an ack per step; turn it off to spread workflow
// tasks evenly over workers, or to compare.
func WithoutLocalWake() Option {
	return func(c *config) error { c.noLocalWake = true; return nil }
}

// WithCacheSize bounds how many runs a worker keeps alive in memory between
// their workflow tasks (default 10,000). A run evicted, or one whose task
// reaches another worker, is rebuilt from its history: correct, but it
// costs a replay.
func WithCacheSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("cache size %d: at least 1", n)
		}
		c.cacheSize = n
		return nil
	}
}

// WithSweeper sets how often the sweeper looks for runs owed progress
// (default 30s; 0 turns it off in this worker) and how long a run must have
// not moved before it counts (default 2m). One worker of a deployment
// sweeps at a time.
func WithSweeper(interval, grace time.Duration) Option {
	return func(c *config) error {
		if interval < 0 || grace < 0 || interval > 0 && interval < 100*time.Millisecond {
			return invalid("sweeper interval %s and grace %s: want an interval of 100ms or more (0: off) and a grace of 0 or more", interval, grace)
		}
		c.sweepInterval = interval
		if grace > 0 {
			c.sweepGrace = grace
		}
		return nil
	}
}

// Defaults of the limits of the event stream (<PREFIX>_EVENTS) and the
// dead-letter stream (<PREFIX>_DLQ). Status events and parked messages are
// kept until the older of the two limits is reached, oldest first, so
// nothing published there can fill the disk.
const (
	DefaultEventsMaxAge       = 72 * time.Hour
	DefaultEventsMaxBytes     = 1 << 30 // 1 GiB
	DefaultDeadLetterMaxAge   = 30 * 24 * time.Hour
	DefaultDeadLetterMaxBytes = 256 << 20 // 256 MiB
)

// WithEventLimits bounds the event stream: events older than maxAge, or
// past maxBytes in all, are dropped oldest first (defaults
// DefaultEventsMaxAge, 72h, and DefaultEventsMaxBytes, 1 GiB). A worker (or
// Deploy) applies them to an existing stream in place; a limit of 0 keeps
// the default. JetStream reserves maxBytes against the account's storage.
func WithEventLimits(maxAge time.Duration, maxBytes int64) Option {
	return func(c *config) error {
		if maxAge < 0 || maxBytes < 0 {
			return invalid("event limits %s, %d bytes: want 0 (the default) or more", maxAge, maxBytes)
		}
		c.eventsMaxAge, c.eventsMaxBytes = maxAge, maxBytes
		return nil
	}
}

// WithDeadLetterLimits bounds the dead-letter stream as WithEventLimits
// bounds the event stream (defaults DefaultDeadLetterMaxAge, 30 days, and
// DefaultDeadLetterMaxBytes, 256 MiB).
func WithDeadLetterLimits(maxAge time.Duration, maxBytes int64) Option {
	return func(c *config) error {
		if maxAge < 0 || maxBytes < 0 {
			return invalid("dead-letter limits %s, %d bytes: want 0 (the default) or more", maxAge, maxBytes)
		}
		c.deadLetterMaxAge, c.deadLetterMaxBytes = maxAge, maxBytes
		return nil
	}
}

// WithDefaultStepOptions sets the step options workflow code starts with.
func WithDefaultStepOptions(o steps.Options) Option {
	return func(c *config) error { c.defaultStepOptions = o; return nil }
}

func (c *config) mark(setting string) {
	if c.set == nil {
		c.set = map[string]bool{}
	}
	c.set[setting] = true
}

func buildConfig(opts []Option) (config, error) {
	c := defaultConfig()
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}
